/** One JSON line per request: method, path, status, duration, request id. Never headers or bodies. */
import type { MiddlewareHandler } from 'hono';
import type { AppEnv } from '../deps.ts';
import type { Logger } from '../lib/log.ts';

export function accessLog(log: Logger): MiddlewareHandler<AppEnv> {
  return async function logRequest(c, next) {
    const started = performance.now();
    await next();
    log.debug('request', {
      method: c.req.method,
      path: c.req.path,
      status: c.res.status,
      ms: Math.round((performance.now() - started) * 10) / 10,
      request_id: c.get('requestId'),
    });
  };
}
