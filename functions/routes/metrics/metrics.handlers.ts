/**
 * `GET /metrics`: the Prometheus exposition, for a scraper holding SWITCHYARD_METRICS_TOKEN as a
 * bearer token. Without the right token it is a 401 problem, and without a configured token the
 * route doesn't exist (404), so metrics are never public by accident. (A listener of its own,
 * METRICS_PORT, serves the same text without a token: entry/server.ts.)
 */
import { Hono } from 'hono';
import type { AppEnv } from '../../deps.ts';
import { Problem } from '../../errors.ts';
import { constantTimeEqual } from '../../lib/webhooks.ts';

export interface MetricsEndpoint {
  token?: string;
  render(): Promise<string>;
  contentType: string;
}

export function metricsRouter(endpoint: MetricsEndpoint) {
  const app = new Hono<AppEnv>();
  if (!endpoint.token) return app;
  const token = endpoint.token;
  app.get('/metrics', async (c) => {
    const header = c.req.header('authorization') ?? '';
    const given = /^Bearer\s+(.+)$/i.exec(header)?.[1]?.trim() ?? '';
    if (!constantTimeEqual(given, token)) {
      throw new Problem(401, 'Unauthorized', 'GET /metrics needs Authorization: Bearer <SWITCHYARD_METRICS_TOKEN>', {}, { 'WWW-Authenticate': 'Bearer realm="metrics"' });
    }
    return c.body(await endpoint.render(), 200, { 'Content-Type': endpoint.contentType, 'Cache-Control': 'no-store' });
  });
  return app;
}
