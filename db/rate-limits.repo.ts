/**
 * Per-tenant token buckets in Postgres (DESIGN.md: the local default for rate limits). One
 * statement takes a token if the refilled bucket has one; a refused request writes nothing.
 */
import type { Sql } from './client.ts';

export interface RateLimitPolicy {
  name: string;
  /** Tokens per window (also the bucket's size: a full bucket allows a burst of this many). */
  quota: number;
  windowSeconds: number;
}

export interface RateLimitResult {
  allowed: boolean;
  /** Whole tokens left after this request. */
  remaining: number;
  /** Seconds until the bucket is full again. */
  resetSeconds: number;
  /** When refused: seconds until one token is back. */
  retryAfterSeconds: number;
}

export async function takeToken(sql: Sql, tenantId: string, p: RateLimitPolicy): Promise<RateLimitResult> {
  const perSecond = p.quota / p.windowSeconds;
  const [taken] = await sql<{ tokens: number }[]>`
    insert into rate_limits as r (tenant_id, bucket, tokens, updated_at)
    values (${tenantId}, ${p.name}, ${p.quota - 1}, now())
    on conflict (tenant_id, bucket) do update
       set tokens = least(${p.quota}::float8, r.tokens + extract(epoch from now() - r.updated_at) * ${perSecond}) - 1,
           updated_at = now()
     where least(${p.quota}::float8, r.tokens + extract(epoch from now() - r.updated_at) * ${perSecond}) >= 1
    returning tokens`;
  if (taken) {
    return {
      allowed: true,
      remaining: Math.floor(taken.tokens),
      resetSeconds: Math.ceil((p.quota - taken.tokens) / perSecond),
      retryAfterSeconds: 0,
    };
  }
  const [row] = await sql<{ tokens: number }[]>`
    select least(${p.quota}::float8, tokens + extract(epoch from now() - updated_at) * ${perSecond}) as tokens
      from rate_limits where tenant_id = ${tenantId} and bucket = ${p.name}`;
  const tokens = row?.tokens ?? 0;
  return {
    allowed: false,
    remaining: 0,
    resetSeconds: Math.ceil((p.quota - tokens) / perSecond),
    retryAfterSeconds: Math.max(1, Math.ceil((1 - tokens) / perSecond)),
  };
}

/** IETF RateLimit / RateLimit-Policy (draft-ietf-httpapi-ratelimit-headers-10). */
export function rateLimitHeaders(p: RateLimitPolicy, r: RateLimitResult): Record<string, string> {
  return {
    'RateLimit-Policy': `"${p.name}";q=${p.quota};w=${p.windowSeconds}`,
    RateLimit: `"${p.name}";r=${r.remaining};t=${r.resetSeconds}`,
    ...(r.allowed ? {} : { 'Retry-After': String(r.retryAfterSeconds) }),
  };
}
