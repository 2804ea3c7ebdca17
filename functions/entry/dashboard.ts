/**
 * The dashboard's static files (web/dist, built by `npm run build:web`), served by the Node entry
 * at `/` and `/assets/*` ahead of the API. Hashed assets are cached forever; index.html never, and
 * it carries a strict Content-Security-Policy (functions/lib/csp.ts).
 */
import { serveStatic } from '@hono/node-server/serve-static';
import { Hono } from 'hono';
import { existsSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { dashboardCsp } from '../lib/csp.ts';

export const DEFAULT_WEB_DIR = fileURLToPath(new URL('../../web/dist', import.meta.url));


export function isDashboardPath(method: string, path: string): boolean {
  return (method === 'GET' || method === 'HEAD') && (path === '/' || path === '/index.html' || path.startsWith('/assets/'));
}

export function createDashboard(webDir = DEFAULT_WEB_DIR, opts: { supabaseUrl?: string } = {}) {
  const app = new Hono();
  const csp = dashboardCsp(opts.supabaseUrl);
  app.use('*', async (c, next) => {
    // Before the handler, not after: see secureHeaders in functions/app.ts.
    c.header('X-Content-Type-Options', 'nosniff');
    c.header('Referrer-Policy', 'no-referrer');
    await next();
  });
  app.get('/assets/*', serveStatic({
    root: webDir,
    onFound: (_path, c) => {
      c.header('Cache-Control', 'public, max-age=31536000, immutable');
    },
  }));
  app.get('/assets/*', (c) => c.text('not found', 404));
  const index = async (c: import('hono').Context) => {
    const file = join(webDir, 'index.html');
    if (!existsSync(file)) {
      return c.html('<!doctype html><title>Switchyard</title><p>The dashboard is not built. Run <code>npm run build:web</code> (npm install does it too); the API is up at <code>/v1</code>.</p>', 503);
    }
    c.header('Cache-Control', 'no-cache');
    c.header('Content-Security-Policy', csp);
    c.header('X-Frame-Options', 'DENY');
    return c.html(await readFile(file, 'utf8'));
  };
  app.get('/', index);
  app.get('/index.html', index);
  return app;
}
