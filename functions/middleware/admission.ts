/**
 * Load shedding: at most `maxInFlight` API requests run at once in this process; one more is
 * answered at once with a 503 problem and Retry-After, instead of queueing behind the others
 * until every client times out. Under a spike, the requests let in keep their latency and the
 * rest learn to come back, rather than all of them waiting. Streams (SSE) count only while they
 * are being set up.
 *
 * Retry-After follows the overload. It starts at 1 s; each second in which more than 0.5% of
 * requests were refused multiplies it (to `maxRetryAfterS`) by 2 to 8, steeper the larger the
 * refused share (a spike to 4× capacity otherwise took four seconds of refusals to reach an 8 s
 * hint, and refused 1.6% of a 20 s spike), and each second with no refusal halves it again. A one-second hint can only shed a burst: every refused client is back a second later,
 * so under sustained overload a steady share of all requests is refused. Shedding a share f of N
 * clients takes N·f of them staying away; a refusal that keeps its client away T seconds costs
 * N·f/T refusals a second, so the refused share of requests falls as T grows. That is the
 * exponential backoff well-behaved clients do anyway, with the server setting the pace.
 */
import type { MiddlewareHandler } from 'hono';
import type { AppEnv } from '../deps.ts';
import { Problem } from '../errors.ts';

export interface AdmissionOptions {
  /** The longest Retry-After the server asks for, in seconds (default 30). */
  maxRetryAfterS?: number;
  /** The clock (tests). */
  now?: () => number;
  /** Called for each refusal (metrics). */
  onShed?: () => void;
}

/** Refused share of a second's requests above which the next refusals ask clients to wait longer. */
const ESCALATE_ABOVE = 0.005;

export function createAdmission(maxInFlight: number, options: AdmissionOptions = {}) {
  const maxRetryAfterS = options.maxRetryAfterS ?? 30;
  const now = options.now ?? Date.now;
  let inFlight = 0;
  let retryAfterS = 1;
  let windowStart = now();
  let seen = 0;
  let refused = 0;

  const roll = (t: number) => {
    const elapsed = Math.floor((t - windowStart) / 1000);
    if (elapsed < 1) return;
    // The worse the overload, the steeper: 1% refused doubles the wait, 2% quadruples it, 4% or more ×8.
    const share = seen > 0 ? refused / seen : 0;
    if (refused > 0 && share > ESCALATE_ABOVE) retryAfterS = Math.min(maxRetryAfterS, retryAfterS * Math.min(8, Math.max(2, Math.floor(share / ESCALATE_ABOVE))));
    else if (refused === 0) retryAfterS = Math.max(1, Math.floor(retryAfterS / 2));
    // Seconds that passed with no request at all were calm ones too.
    for (let k = 1; k < elapsed && retryAfterS > 1; k++) retryAfterS = Math.max(1, Math.floor(retryAfterS / 2));
    windowStart += elapsed * 1000;
    seen = 0;
    refused = 0;
  };

  const middleware: MiddlewareHandler<AppEnv> = async function admit(c, next) {
    roll(now());
    seen++;
    if (inFlight >= maxInFlight) {
      refused++;
      options.onShed?.();
      const wait = retryAfterS;
      throw new Problem(503, 'Service unavailable', `the server is at capacity (${maxInFlight} requests in progress); retry after ${wait} s`, {}, { 'Retry-After': String(wait) });
    }
    inFlight++;
    try {
      await next();
    } finally {
      inFlight--;
    }
  };
  return { middleware, state: () => ({ inFlight, retryAfterS }) };
}

export function admission(maxInFlight: number, options: AdmissionOptions = {}): MiddlewareHandler<AppEnv> {
  return createAdmission(maxInFlight, options).middleware;
}
