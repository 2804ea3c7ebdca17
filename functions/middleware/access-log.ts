/**
 * One JSON line per request: method, path, status, duration, request id. Never headers or bodies.
 * At debug level for every request; a request slower than `slowMs` is also a warning, so the slow
 * tail shows in production logs without logging everything.
 */
import type { MiddlewareHandler } from 'hono';
import type { AppEnv } from '../deps.ts';
import type { Logger } from '../../core/log.ts';

export function accessLog(log: Logger, opts: { slowMs?: number } = {}): MiddlewareHandler<AppEnv> {
  const slowMs = opts.slowMs ?? 1000;
  return async function logRequest(c, next) {
    const started = performance.now();
    await next();
    const ms = Math.round((performance.now() - started) * 10) / 10;
    const line = { method: c.req.method, path: c.req.path, status: c.res.status, ms, request_id: c.get('requestId'), trace_id: c.get('span')?.spanContext().traceId };
    if (ms >= slowMs) log.warn('slow request', line);
    else log.debug('request', line);
  };
}
