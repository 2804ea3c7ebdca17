/**
 * Token buckets in Redis through Upstash's REST API (@upstash/redis), for deployments with many
 * API processes or isolates and no wish to spend a Postgres write per request: the production
 * choice on Workers and Deno, when UPSTASH_REDIS_REST_URL and UPSTASH_REDIS_REST_TOKEN are set.
 *
 * One Lua script per request (EVALSHA, falling back to EVAL when Redis lacks it: the client's
 * `createScript`) takes a token from every bucket or from none, with the same continuous refill
 * as the Postgres backend, and Redis's own clock, so processes with skewed clocks agree. Why not
 * @upstash/ratelimit: its token bucket refills in whole intervals (a fixed window unless the
 * interval is tiny), and it checks one limit per call, so a request refused by its route's class
 * would still have spent a token of its plan.
 *
 * Each bucket is a hash {t: tokens, u: microseconds of the last taken token} that expires once it
 * would be full again.
 */
import { Redis } from '@upstash/redis';
import type { LimitDecision, LimitPolicy, RateLimiter } from '../../core/rate-limit.ts';

const TAKE = `
local now = redis.call('TIME')
local at = tonumber(now[1]) * 1000000 + tonumber(now[2])
local n = #KEYS
local tokens = {}
local ok = 1
for i = 1, n do
  local burst = tonumber(ARGV[2 * i - 1])
  local rate = tonumber(ARGV[2 * i]) / 1000000
  local v = redis.call('HMGET', KEYS[i], 't', 'u')
  local t = tonumber(v[1])
  local u = tonumber(v[2])
  if t == nil or u == nil then
    t = burst
  else
    t = math.min(burst, t + math.max(0, at - u) * rate)
  end
  tokens[i] = t
  if t < 1 then ok = 0 end
end
local out = { ok }
for i = 1, n do
  local t = tokens[i]
  if ok == 1 then
    local burst = tonumber(ARGV[2 * i - 1])
    local rate = tonumber(ARGV[2 * i]) / 1000000
    t = t - 1
    redis.call('HSET', KEYS[i], 't', string.format('%.6f', t), 'u', string.format('%d', at))
    redis.call('PEXPIRE', KEYS[i], math.ceil((burst - t) / rate / 1000) + 1000)
  end
  out[i + 1] = string.format('%.6f', t)
end
return out
`;

export interface RedisRateLimiterOptions {
  url: string;
  token: string;
  /** A call unanswered after this fails (and the configured fail-open or fail-closed applies). */
  timeoutMs: number;
  /** Key prefix (default `switchyard:rl`). */
  prefix?: string;
}

export function createRedisRateLimiter(opts: RedisRateLimiterOptions): RateLimiter {
  const redis = new Redis({
    url: opts.url,
    token: opts.token,
    enableTelemetry: false,
    // One quick retry of a dropped connection; a limiter that waits seconds for Redis is worse
    // than the fail-open or fail-closed answer.
    retry: { retries: 1, backoff: () => 25 },
    signal: () => AbortSignal.timeout(opts.timeoutMs),
  });
  const script = redis.createScript<string[] | (string | number)[]>(TAKE);
  const prefix = opts.prefix ?? 'switchyard:rl';
  return {
    backend: 'redis',
    async take(key: string, policies: readonly LimitPolicy[]): Promise<LimitDecision> {
      const keys = policies.map((p) => `${prefix}:${key}:${p.name}`);
      const args = policies.flatMap((p) => [String(p.burst), String(p.perMinute / 60)]);
      const out = await script.exec(keys, args);
      return {
        allowed: Number(out[0]) === 1,
        buckets: policies.map((policy, i) => ({ policy, tokens: Number(out[i + 1]) })),
      };
    },
  };
}
