/**
 * `/docs`: an interactive explorer of /openapi.json (Swagger UI, from the swagger-ui-dist
 * package), served by the Node entry from our own files only. No CDN, no remote fonts, no
 * validator badge (validatorUrl: null), no proxy, no telemetry; its Content-Security-Policy lets
 * the page reach its own origin and nothing else, so try-it can only call this API. Try-it takes
 * the key a user pastes into Authorize; the key stays in the page (persistAuthorization is off).
 *
 * Why swagger-ui-dist: a self-contained bundle (one script, one stylesheet) that renders
 * OpenAPI 3.1 with try-it, where Scalar's standalone build reaches for its CDN, fonts and proxy
 * by default (../shared/reference/platform.md §7).
 */
import { Hono } from 'hono';
import { readFile } from 'node:fs/promises';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';

const require = createRequire(import.meta.url);

const ASSETS: Record<string, string> = {
  'swagger-ui.css': 'text/css; charset=utf-8',
  'swagger-ui-bundle.js': 'text/javascript; charset=utf-8',
};

export const DOCS_CSP = [
  "default-src 'none'", "script-src 'self'", "style-src 'self' 'unsafe-inline'", "img-src 'self' data:", "font-src 'self'",
  "connect-src 'self'", "frame-ancestors 'none'", "base-uri 'none'", "form-action 'none'",
].join('; ');

const PAGE = `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>Switchyard API</title>
<link rel="stylesheet" href="/docs/swagger-ui.css">
</head>
<body>
<div id="explorer"></div>
<script src="/docs/swagger-ui-bundle.js"></script>
<script src="/docs/explorer.js"></script>
</body>
</html>
`;

const INIT = `// The explorer's settings (functions/entry/docs.ts).
window.explorer = SwaggerUIBundle({
  url: '/openapi.json',
  dom_id: '#explorer',
  deepLinking: true,
  validatorUrl: null,
  persistAuthorization: false,
  displayRequestDuration: true,
  displayOperationId: true,
  defaultModelsExpandDepth: 0,
  presets: [SwaggerUIBundle.presets.apis],
  layout: 'BaseLayout',
});
`;

export function isDocsPath(method: string, path: string): boolean {
  return (method === 'GET' || method === 'HEAD') && (path === '/docs' || path.startsWith('/docs/'));
}

export function createDocs(): Hono {
  const dir = dirname(require.resolve('swagger-ui-dist/package.json'));
  const cache = new Map<string, Promise<string>>();
  const app = new Hono();
  app.use('*', async (c, next) => {
    c.header('X-Content-Type-Options', 'nosniff');
    c.header('Referrer-Policy', 'no-referrer');
    c.header('Content-Security-Policy', DOCS_CSP);
    await next();
  });
  app.get('/docs', (c) => {
    c.header('Cache-Control', 'no-cache');
    c.header('X-Frame-Options', 'DENY');
    return c.html(PAGE);
  });
  app.get('/docs/explorer.js', (c) => c.body(INIT, 200, { 'Content-Type': 'text/javascript; charset=utf-8', 'Cache-Control': 'no-cache' }));
  app.get('/docs/:asset', async (c) => {
    const name = c.req.param('asset');
    const type = ASSETS[name];
    if (!type) return c.text('not found', 404);
    let body = cache.get(name);
    if (!body) cache.set(name, (body = readFile(join(dir, name), 'utf8')));
    // The bundle's version changes only with the package: a day is safe, and a reload fetches anew.
    return c.body(await body, 200, { 'Content-Type': type, 'Cache-Control': 'public, max-age=86400' });
  });
  return app;
}
