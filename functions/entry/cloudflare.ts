/**
 * Cloudflare Workers entry (infra/wrangler.toml). `fetch` serves the API and the QStash worker
 * routes; `scheduled` (a Cron Trigger) runs the sweeper. Postgres is reached through postgres.js
 * over the Hyperdrive binding when there is one (else DATABASE_URL), with a client per request
 * that is closed in waitUntil once the response's background work (the QStash publish) is done.
 */
import type { ExecutionContext } from 'hono';
import { ConfigError } from '../../core/env.ts';
import { dashboardCsp } from '../lib/csp.ts';
import { sweepOnce } from '../routes/workers/workers.handlers.ts';
import { configErrorResponse, createEdgeContext, edgeTelemetry, parseEdgeConfig, recordCollectedMetrics, type EdgeConfig, type EdgeRuntime } from './edge.ts';
import { createCloudflareSentryReporter } from './sentry-cloudflare.ts';

const runtime: EdgeRuntime = { name: 'cloudflare', sentry: createCloudflareSentryReporter };

interface Env {
  HYPERDRIVE?: { connectionString: string };
  /** The dashboard's static files (infra/wrangler.toml [assets]). */
  ASSETS?: { fetch(request: Request): Promise<Response> };
  [key: string]: unknown;
}


interface ScheduledController {
  cron: string;
  scheduledTime: number;
}

function config(env: Env): EdgeConfig {
  return parseEdgeConfig(env, env.HYPERDRIVE?.connectionString);
}

export default {
  async fetch(request: Request, env: Env, ctx: ExecutionContext): Promise<Response> {
    let edge: EdgeConfig;
    try {
      edge = config(env);
    } catch (err) {
      if (err instanceof ConfigError) return configErrorResponse(err);
      throw err;
    }
    // The dashboard's page comes through here (run_worker_first) only to get its CSP, which names
    // this deployment's Realtime origin; its assets are served without the Worker.
    const path = new URL(request.url).pathname;
    if (env.ASSETS && (request.method === 'GET' || request.method === 'HEAD') && (path === '/' || path === '/index.html')) {
      const page = await env.ASSETS.fetch(request);
      const res = new Response(page.body, page);
      if (res.ok) res.headers.set('Content-Security-Policy', dashboardCsp(edge.config.SUPABASE_URL));
      return res;
    }
    const background: Promise<unknown>[] = [];
    const telemetry = edgeTelemetry(edge, runtime);
    const context = await createEdgeContext(edge, telemetry, { waitUntil: (p) => background.push(p) });
    try {
      return await context.app.fetch(request, env, ctx);
    } finally {
      // After the response: its background work (the QStash publish), then what it recorded.
      ctx.waitUntil(Promise.allSettled(background).then(() => Promise.allSettled([context.close(), telemetry.flush()])));
    }
  },

  async scheduled(controller: ScheduledController, env: Env, ctx: ExecutionContext): Promise<void> {
    const edge = config(env);
    const telemetry = edgeTelemetry(edge, runtime);
    const context = await createEdgeContext(edge, telemetry, { poolMax: 2 });
    ctx.waitUntil((async () => {
      try {
        if (!context.host) throw new Error('SWITCHYARD_ROLE=api has no worker routes; the sweeper runs where the worker does');
        await sweepOnce(context.host);
        await recordCollectedMetrics(context, telemetry).catch((err) => telemetry.log.warn('reading the database\'s figures failed', { err }));
      } finally {
        await Promise.allSettled([context.close(), telemetry.flush()]);
      }
    })());
    void controller;
  },
};
