/**
 * Token buckets in Redis through Upstash's REST API (@upstash/redis), for deployments with many
 * API processes or isolates and no wish to spend a Postgres write per request: the production
 * choice on Workers and Deno, when UPSTASH_REDIS_REST_URL and UPSTASH_REDIS_REST_TOKEN are set.
 *
 * One Lua script per batch of concurrent requests (EVALSHA, falling back to EVAL when Redis lacks it: the client's
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
import { coalescing, type RateLimiter } from '../../core/rate-limit.ts';

// KEYS: the buckets; ARGV: each bucket's burst and tokens per second, then how many requests.
const TAKE = `
local now = redis.call('TIME')
local at = tonumber(now[1]) * 1000000 + tonumber(now[2])
local n = #KEYS
local tokens = {}
local granted = tonumber(ARGV[2 * n + 1])
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
  granted = math.min(granted, math.floor(t))
end
if granted < 0 then granted = 0 end
local out = { granted }
for i = 1, n do
  local t = tokens[i]
  if granted > 0 then
    local burst = tonumber(ARGV[2 * i - 1])
    local rate = tonumber(ARGV[2 * i]) / 1000000
    t = t - granted
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
  // Concurrent requests on the same buckets share one script call (core/rate-limit.ts `coalescing`).
  return coalescing({
    backend: 'redis',
    async takeBatch(key, policies, count) {
      const keys = policies.map((p) => `${prefix}:${key}:${p.name}`);
      const args = [...policies.flatMap((p) => [String(p.burst), String(p.perMinute / 60)]), String(count)];
      const out = await script.exec(keys, args);
      return { granted: Number(out[0]), buckets: policies.map((policy, i) => ({ policy, tokens: Number(out[i + 1]) })) };
    },
  });
}
