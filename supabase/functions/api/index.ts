/**
 * Supabase Edge Functions entry (Deno): the same app as every other runtime, served at
 * https://<ref>.supabase.co/functions/v1/api/… . Supabase routes requests here with the function
 * name as the first path segment, which is stripped before the app sees them. The database is
 * DATABASE_URL, or SUPABASE_DB_URL, which Supabase sets for every function.
 *
 * Imports resolve through ./deno.json, pinned to the versions in package.json
 * (test/runtimes/deno.test.ts fails when they drift).
 */
import { ConfigError } from '../../../functions/env.ts';
import { configErrorResponse, createEdgeContext, parseEdgeConfig, type EdgeContext } from '../../../functions/entry/edge.ts';

declare const Deno: {
  env: { toObject(): Record<string, string> };
  serve(options: { port?: number; hostname?: string; onListen?: (addr: { port: number }) => void }, handler: (req: Request) => Response | Promise<Response>): unknown;
};
declare const EdgeRuntime: { waitUntil(p: Promise<unknown>): void } | undefined;

const FUNCTION_NAME = 'api';

// One context per isolate: Deno keeps a pool open across requests.
let context: Promise<EdgeContext> | ConfigError | undefined;
function getContext(): Promise<EdgeContext> | ConfigError {
  if (context) return context;
  const env = Deno.env.toObject();
  try {
    const edge = parseEdgeConfig(env, env.DATABASE_URL ?? env.SUPABASE_DB_URL);
    const waitUntil = typeof EdgeRuntime !== 'undefined' ? (p: Promise<unknown>) => EdgeRuntime!.waitUntil(p) : undefined;
    context = createEdgeContext(edge, { poolMax: 3, ...(waitUntil ? { waitUntil } : {}) });
  } catch (err) {
    if (!(err instanceof ConfigError)) throw err;
    context = err;
  }
  return context;
}

async function handle(req: Request): Promise<Response> {
  const ctx = getContext();
  if (ctx instanceof ConfigError) return configErrorResponse(ctx);
  const { app } = await ctx;
  const url = new URL(req.url);
  const prefix = `/${FUNCTION_NAME}`;
  if (url.pathname === prefix || url.pathname.startsWith(`${prefix}/`)) {
    url.pathname = url.pathname.slice(prefix.length) || '/';
    req = new Request(url, req);
  }
  return app.fetch(req);
}

const port = Number(Deno.env.toObject().PORT ?? 8000);
Deno.serve({ port, hostname: Deno.env.toObject().HOST ?? '0.0.0.0', onListen: ({ port }) => console.log(`switchyard api listening on ${port}`) }, handle);
