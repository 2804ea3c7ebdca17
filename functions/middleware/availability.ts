/**
 * Bounded waits on the database at the HTTP edge. While the database is known to be down, a
 * request that needs it is answered at once with a 503 problem and Retry-After; a request already
 * running when it goes down is answered the same way the moment the probe gives up (within the
 * probe's interval plus its timeout, ~1.5 s by default), and a request that runs past
 * `deadlineMs` for any reason gets a 503 too, instead of holding the client (postgres.js has no
 * pool-acquire timeout of its own; this is that bound). Streams (SSE) are exempt once their
 * response has started. See db/availability.ts.
 *
 * A 503 says the outcome is unknown, not that nothing happened: a write sent before the freeze
 * may still commit when the server wakes. Clients retry creates with their Idempotency-Key.
 */
import type { MiddlewareHandler } from 'hono';
import type { Availability } from '../../db/availability.ts';
import type { AppEnv } from '../deps.ts';
import { problemResponse, unavailable } from '../errors.ts';

export function databaseAvailability(availability: Availability, opts: { deadlineMs: number }): MiddlewareHandler<AppEnv> {
  return async function boundDatabaseWait(c, next) {
    if (!availability.up) throw unavailable(`${availability.reason ?? 'the database is unavailable'}; retry shortly`);
    const watch = availability.watchDown();
    let timer: ReturnType<typeof setTimeout> | undefined;
    const gaveUp = new Promise<string>((res) => {
      watch.down.then(() => res(`${availability.reason ?? 'the database became unavailable'}; retry shortly`));
      timer = setTimeout(() => res(`the request did not finish within ${opts.deadlineMs} ms; retry shortly`), opts.deadlineMs);
    });
    const work = next().then(() => null);
    try {
      const result = await Promise.race([work, gaveUp]);
      if (result === null) return;
      // The handler goes on in the background and may still fail; its response is no longer ours.
      work.catch(() => {});
      c.res = problemResponse(c, unavailable(result));
    } finally {
      watch.cancel();
      clearTimeout(timer);
    }
  };
}
