/**
 * Token buckets in Postgres (the local default; Redis through Upstash in production on the edge).
 * One call takes tokens for a batch of requests on the same buckets, a token from every bucket for
 * each request it grants: `take_rate_limit_token_batch` (migration 20261203101217) locks the
 * buckets in name order, refills them from the time of their last taken token, and writes only
 * when it grants something. The table is UNLOGGED.
 */
import { coalescing, type BucketState, type LimitPolicy, type RateLimiter } from '../core/rate-limit.ts';
import type { Sql } from './client.ts';

/** Concurrent requests on the same buckets go to Postgres together (core/rate-limit.ts `coalescing`). */
export function createPostgresRateLimiter(sql: Sql): RateLimiter {
  return coalescing({
    backend: 'postgres',
    takeBatch: (key, policies, count) => takeTokenBatch(sql, key, policies, count),
  });
}

/** Grants the first `granted` of `count` requests: `take_rate_limit_token_batch` (migration 20261203101217). */
export async function takeTokenBatch(sql: Sql, key: string, policies: readonly LimitPolicy[], count: number): Promise<{ granted: number; buckets: BucketState[] }> {
  const sorted = [...policies].sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
  const rows = await sql<{ bucket: string; tokens: number; granted: number }[]>`
    select bucket, tokens, granted from take_rate_limit_token_batch(
      ${key}, ${sorted.map((p) => p.name)}::text[], ${sorted.map((p) => p.burst)}::float8[], ${sorted.map((p) => p.perMinute / 60)}::float8[], ${count}::int)`;
  const byName = new Map(rows.map((r) => [r.bucket, r.tokens]));
  return {
    granted: rows.length === 0 ? count : rows[0]!.granted,
    buckets: policies.map((policy) => ({ policy, tokens: byName.get(policy.name) ?? 0 })),
  };
}
