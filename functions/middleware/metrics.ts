/**
 * HTTP metrics for every request: duration and count by method, route template and status, body
 * sizes, and requests in flight. The route is the template of the handler the request matched
 * (`/v1/projects/:id`), or `unmatched`; never the raw path, so the label set stays bounded
 * whatever clients send.
 */
import type { Context, MiddlewareHandler } from 'hono';
import { matchedRoutes } from 'hono/route';
import type { Metrics } from '../../core/metrics.ts';
import type { AppEnv } from '../deps.ts';

/** The part of Node's ServerResponse read here (structural, so this file runs on every runtime). */
interface NodeOutgoing {
  on(event: 'finish', fn: () => void): unknown;
  socket: { bytesWritten: number } | null;
}

/** Found once per request (tracing, metrics and the error report all ask, after routing). */
const templates = new WeakMap<Context, string>();

export function routeTemplate(c: Context): string {
  const known = templates.get(c);
  if (known !== undefined) return known;
  let template = 'unmatched';
  const routes = matchedRoutes(c);
  for (let i = routes.length - 1; i >= 0; i--) {
    const r = routes[i]!;
    // Middleware is registered for ALL methods; a handler for its own.
    if (r.method !== 'ALL') {
      template = r.path;
      break;
    }
  }
  templates.set(c, template);
  return template;
}

export function httpMetrics(metrics: Metrics): MiddlewareHandler<AppEnv> {
  return async function measure(c, next) {
    const started = performance.now();
    metrics.add('http_requests_in_flight', {}, 1);
    try {
      await next();
    } finally {
      metrics.add('http_requests_in_flight', {}, -1);
      const method = c.req.method;
      const route = routeTemplate(c);
      const status_code = String(c.res.status);
      metrics.observe('http_request_duration_seconds', { method, route, status_code }, (performance.now() - started) / 1000);
      metrics.inc('http_requests_total', { method, route, status_code });
      const reqSize = Number(c.req.header('content-length'));
      if (reqSize > 0) metrics.observe('http_request_size_bytes', { method, route }, reqSize);
      // Hono's responses carry no Content-Length (the Node adapter adds it as it writes): on Node,
      // the bytes the response put on its socket; elsewhere, the header where a response has one.
      const outgoing = (c.env as { outgoing?: NodeOutgoing } | undefined)?.outgoing;
      if (outgoing?.socket && typeof outgoing.on === 'function') {
        const socket = outgoing.socket;
        const startBytes = socket.bytesWritten;
        // `on`, not `once`: a response finishes once and is dropped, so nothing needs removing.
        outgoing.on('finish', () => metrics.observe('http_response_size_bytes', { method, route }, socket.bytesWritten - startBytes));
      } else if (c.res.headers.has('content-length')) {
        metrics.observe('http_response_size_bytes', { method, route }, Number(c.res.headers.get('content-length')));
      }
    }
  };
}
