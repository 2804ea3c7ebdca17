/**
 * Rate limits as token buckets: the policies, the decision, and its IETF headers. A request takes
 * one token from every bucket that applies to it (its tenant's plan; its route's class where one
 * is stricter), all or none, in one call to the backend: Postgres (db/rate-limits.repo.ts) or
 * Redis through Upstash's REST API (functions/lib/rate-limit-redis.ts). Both run the same
 * arithmetic: a bucket holds at most `burst` tokens and refills continuously at `perMinute`.
 */

export interface LimitPolicy {
  /** The bucket's name, also the policy's name in the headers: `free`, `stores-create`… */
  name: string;
  perMinute: number;
  /** The bucket's size: this many requests at once after a quiet spell. */
  burst: number;
}

export interface BucketState {
  policy: LimitPolicy;
  /** Tokens left after this request (before it, when refused); fractional. */
  tokens: number;
}

export interface LimitDecision {
  allowed: boolean;
  buckets: BucketState[];
}

export interface RateLimiter {
  readonly backend: 'postgres' | 'redis';
  /** Takes one token from each policy's bucket under `key` (a tenant, a webhook source, an address), or none. */
  take(key: string, policies: readonly LimitPolicy[]): Promise<LimitDecision>;
}

const perSecond = (p: LimitPolicy) => p.perMinute / 60;

/** Whole seconds until the bucket is full again. */
export const secondsToFull = (b: BucketState) => Math.max(0, Math.ceil((b.policy.burst - b.tokens) / perSecond(b.policy)));

/** Whole seconds until every refused bucket has a token again (at least 1). */
export function retryAfterSeconds(d: LimitDecision): number {
  let wait = 1;
  for (const b of d.buckets) if (b.tokens < 1) wait = Math.max(wait, Math.ceil((1 - b.tokens) / perSecond(b.policy)));
  return wait;
}

/** The bucket that refused (the one that waits longest), or null. */
export function limiting(d: LimitDecision): BucketState | null {
  let worst: BucketState | null = null;
  for (const b of d.buckets) if (b.tokens < 1 && (!worst || (1 - b.tokens) / perSecond(b.policy) > (1 - worst.tokens) / perSecond(worst.policy))) worst = b;
  return worst;
}

/**
 * `RateLimit-Policy` and `RateLimit` (draft-ietf-httpapi-ratelimit-headers-10, structured-field
 * lists: one item per policy that applied), and `Retry-After` when refused. `q`/`w` are the
 * sustained rate per minute; `r` is whole tokens left (up to the burst); `t` is seconds until the
 * bucket is full.
 */
export function rateLimitHeaders(d: LimitDecision): Record<string, string> {
  const headers: Record<string, string> = {
    'RateLimit-Policy': d.buckets.map((b) => `"${b.policy.name}";q=${b.policy.perMinute};w=60`).join(', '),
    RateLimit: d.buckets.map((b) => `"${b.policy.name}";r=${Math.max(0, Math.floor(b.tokens))};t=${secondsToFull(b)}`).join(', '),
  };
  if (!d.allowed) headers['Retry-After'] = String(retryAfterSeconds(d));
  return headers;
}

/**
 * `name=perMinute[/burst]` pairs separated by commas (SWITCHYARD_RATE_LIMIT_PLANS and _CLASSES):
 * `free=100/120,pro=1000/1200`. The burst defaults to the rate. Null when malformed.
 */
export function parsePolicies(text: string): Record<string, LimitPolicy> | null {
  const out: Record<string, LimitPolicy> = {};
  for (const part of text.split(',')) {
    const m = /^\s*([a-z][a-z0-9-]*)\s*=\s*(\d+(?:\.\d+)?)(?:\s*\/\s*(\d+))?\s*$/.exec(part);
    if (!m) return null;
    const perMinute = Number(m[2]);
    const burst = m[3] ? Number(m[3]) : Math.max(1, Math.floor(perMinute));
    if (!(perMinute > 0) || burst < 1) return null;
    out[m[1]!] = { name: m[1]!, perMinute, burst };
  }
  return out;
}

/** A backend that can take tokens for several requests of the same buckets in one call. */
export interface BatchRateLimiter {
  readonly backend: 'postgres' | 'redis';
  /**
   * Grants the first `granted` of `count` requests (as many as every bucket has whole tokens
   * for, taking one token per granted request from each) and refuses the rest; `buckets` holds
   * each bucket's tokens after the call.
   */
  takeBatch(key: string, policies: readonly LimitPolicy[], count: number): Promise<{ granted: number; buckets: BucketState[] }>;
}

/**
 * One call to the backend at a time per bucket set in this process: a request that arrives while
 * one is running waits for it and goes with every other waiting request in the next call. An idle
 * limiter calls at once, so a lone request waits for nothing; under load, a tenant's requests
 * cost one statement (and one lock of its hot bucket row) per batch instead of one each. Tokens
 * are taken only for granted requests, so counts stay exact across processes.
 */
export function coalescing(inner: BatchRateLimiter, maxBatch = 256): RateLimiter {
  interface Waiter { resolve: (d: LimitDecision) => void; reject: (e: unknown) => void }
  const queues = new Map<string, { policies: readonly LimitPolicy[]; waiting: Waiter[] }>();

  const drain = async (id: string, key: string, q: { policies: readonly LimitPolicy[]; waiting: Waiter[] }) => {
    while (q.waiting.length > 0) {
      const batch = q.waiting.splice(0, maxBatch);
      try {
        const { granted, buckets } = await inner.takeBatch(key, q.policies, batch.length);
        batch.forEach((w, i) => {
          const allowed = i < granted;
          // Tokens after this request: those its successors in the batch took are still there for it.
          w.resolve({ allowed, buckets: buckets.map((b) => ({ policy: b.policy, tokens: allowed ? b.tokens + (granted - 1 - i) : b.tokens })) });
        });
      } catch (err) {
        for (const w of batch) w.reject(err);
      }
    }
    queues.delete(id);
  };

  return {
    backend: inner.backend,
    take(key, policies) {
      const id = `${key}\u0000${policies.map((p) => `${p.name}:${p.perMinute}:${p.burst}`).join(',')}`;
      return new Promise<LimitDecision>((resolve, reject) => {
        let q = queues.get(id);
        const idle = !q;
        if (!q) queues.set(id, (q = { policies, waiting: [] }));
        q.waiting.push({ resolve, reject });
        if (idle) void drain(id, key, q);
      });
    },
  };
}
