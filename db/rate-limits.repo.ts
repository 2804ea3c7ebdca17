/**
 * Token buckets in Postgres (the local default; Redis through Upstash in production on the edge).
 * One call takes a token from every bucket of a request or from none: `take_rate_limit_tokens`
 * (migration 20261202103009) locks the buckets in name order, refills them from the time of their
 * last taken token, and writes only when every one has a token. The table is UNLOGGED.
 */
import type { LimitDecision, LimitPolicy, RateLimiter } from '../core/rate-limit.ts';
import type { Sql } from './client.ts';

export function createPostgresRateLimiter(sql: Sql): RateLimiter {
  return {
    backend: 'postgres',
    async take(key, policies) {
      return takeTokens(sql, key, policies);
    },
  };
}

/** Also usable inside a transaction (`sql` a transaction's): the buckets are then held until it ends. */
export async function takeTokens(sql: Sql, key: string, policies: readonly LimitPolicy[]): Promise<LimitDecision> {
  const sorted = [...policies].sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
  const rows = await sql<{ bucket: string; tokens: number; allowed: boolean }[]>`
    select bucket, tokens, allowed from take_rate_limit_tokens(
      ${key}, ${sorted.map((p) => p.name)}::text[], ${sorted.map((p) => p.burst)}::float8[], ${sorted.map((p) => p.perMinute / 60)}::float8[])`;
  const byName = new Map(rows.map((r) => [r.bucket, r.tokens]));
  return {
    allowed: rows.length === 0 || rows[0]!.allowed,
    buckets: policies.map((policy) => ({ policy, tokens: byName.get(policy.name) ?? 0 })),
  };
}
