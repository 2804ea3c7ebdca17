/**
 * Supabase Edge Functions entry (Deno): the same app as every other runtime, served at
 * https://<ref>.supabase.co/functions/v1/api/… . Supabase routes requests here with the function
 * name as the first path segment, which is stripped before the app sees them. The database is
 * DATABASE_URL, or SUPABASE_DB_URL, which Supabase sets for every function.
 *
 * Imports resolve through ./deno.json, pinned to the versions in package.json
 * (test/runtimes/deno.test.ts fails when they drift).
 */
import { ConfigError } from '../../../core/env.ts';
import { configErrorResponse, createEdgeContext, edgeTelemetry, parseEdgeConfig, type EdgeContext, type EdgeTelemetry } from '../../../functions/entry/edge.ts';
import { createDenoSentryReporter } from '../../../functions/entry/sentry-deno.ts';

declare const Deno: {
  env: { toObject(): Record<string, string> };
  serve(options: { port?: number; hostname?: string; onListen?: (addr: { port: number }) => void }, handler: (req: Request) => Response | Promise<Response>): unknown;
};
declare const EdgeRuntime: { waitUntil(p: Promise<unknown>): void } | undefined;

const FUNCTION_NAME = 'api';

// Outlives the response where the platform offers it (Supabase's EdgeRuntime); elsewhere (a local
// `deno run`) the process lives on anyway.
const keepAlive = (p: Promise<unknown>) => (typeof EdgeRuntime !== 'undefined' ? EdgeRuntime!.waitUntil(p) : void p);

// One context per isolate: Deno keeps a pool open across requests.
interface Isolate { context: EdgeContext; telemetry: EdgeTelemetry; background: Set<Promise<unknown>> }
let isolate: Promise<Isolate> | ConfigError | undefined;
function getIsolate(): Promise<Isolate> | ConfigError {
  if (isolate) return isolate;
  const env = Deno.env.toObject();
  try {
    const edge = parseEdgeConfig(env, env.DATABASE_URL ?? env.SUPABASE_DB_URL);
    const telemetry = edgeTelemetry(edge, { name: 'deno', sentry: createDenoSentryReporter });
    const background = new Set<Promise<unknown>>();
    const waitUntil = (p: Promise<unknown>) => {
      background.add(p);
      keepAlive(p.finally(() => background.delete(p)));
    };
    isolate = createEdgeContext(edge, telemetry, { poolMax: 3, waitUntil }).then((context) => ({ context, telemetry, background }));
  } catch (err) {
    if (!(err instanceof ConfigError)) throw err;
    isolate = err;
  }
  return isolate;
}

async function handle(req: Request): Promise<Response> {
  const got = getIsolate();
  if (got instanceof ConfigError) return configErrorResponse(got);
  const { context, telemetry, background } = await got;
  const url = new URL(req.url);
  const prefix = `/${FUNCTION_NAME}`;
  if (url.pathname === prefix || url.pathname.startsWith(`${prefix}/`)) {
    url.pathname = url.pathname.slice(prefix.length) || '/';
    req = new Request(url, req);
  }
  try {
    return await context.app.fetch(req);
  } finally {
    // After the response: background work then running (the QStash publish), then what was recorded.
    keepAlive(Promise.allSettled([...background]).then(() => telemetry.flush()));
  }
}

const port = Number(Deno.env.toObject().PORT ?? 8000);
Deno.serve({ port, hostname: Deno.env.toObject().HOST ?? '0.0.0.0', onListen: ({ port }) => console.log(`switchyard api listening on ${port}`) }, handle);
