/**
 * Load shedding: at most `maxInFlight` API requests run at once in this process; one more is
 * answered at once with a 503 problem and Retry-After, instead of queueing behind the others
 * until every client times out. Under a spike, the requests let in keep their latency and the
 * rest learn to come back, rather than all of them waiting. Streams (SSE) count only while they
 * are being set up.
 */
import type { MiddlewareHandler } from 'hono';
import type { AppEnv } from '../deps.ts';
import { Problem } from '../errors.ts';

export function admission(maxInFlight: number): MiddlewareHandler<AppEnv> {
  let inFlight = 0;
  return async function admit(c, next) {
    if (inFlight >= maxInFlight) {
      throw new Problem(503, 'Service unavailable', `the server is at capacity (${maxInFlight} requests in progress); retry after a second`, {}, { 'Retry-After': '1' });
    }
    inFlight++;
    try {
      await next();
    } finally {
      inFlight--;
    }
  };
}
