import { describe, expect, it } from 'vitest';
import { coalescing, type BatchRateLimiter, type LimitPolicy } from './rate-limit.ts';

const plan: LimitPolicy = { name: 'pro', perMinute: 60, burst: 5 };

/** A backend with one bucket of `tokens`, answering each call after a tick; records the batch sizes. */
function backend(tokens: number) {
  const calls: number[] = [];
  const inner: BatchRateLimiter = {
    backend: 'postgres',
    async takeBatch(_key, policies, count) {
      calls.push(count);
      await new Promise((r) => setTimeout(r, 5));
      const granted = Math.max(0, Math.min(count, Math.floor(tokens)));
      tokens -= granted;
      return { granted, buckets: policies.map((policy) => ({ policy, tokens })) };
    },
  };
  return { inner, calls };
}

describe('coalescing', () => {
  it('calls at once when idle, and sends those who waited meanwhile together, granted in arrival order', async () => {
    const { inner, calls } = backend(5);
    const limiter = coalescing(inner);
    const decisions = await Promise.all(Array.from({ length: 8 }, () => limiter.take('ten_a', [plan])));
    expect(calls).toEqual([1, 7]);
    expect(decisions.map((d) => d.allowed)).toEqual([true, true, true, true, true, false, false, false]);
    // Each granted request sees the tokens left after it: 4, then 3, 2, 1, 0 within the batch.
    expect(decisions.map((d) => d.buckets[0]!.tokens)).toEqual([4, 3, 2, 1, 0, 0, 0, 0]);
  });

  it('keeps different keys and bucket sets apart, and fails a whole batch when the backend does', async () => {
    const { inner, calls } = backend(100);
    const limiter = coalescing(inner);
    await Promise.all([limiter.take('ten_a', [plan]), limiter.take('ten_b', [plan]), limiter.take('ten_a', [plan, { name: 'tokens', perMinute: 60, burst: 20 }])]);
    expect(calls).toEqual([1, 1, 1]);
    const failing = coalescing({ backend: 'redis', takeBatch: async () => { throw new Error('down'); } });
    const results = await Promise.allSettled([failing.take('k', [plan]), failing.take('k', [plan])]);
    expect(results.map((r) => r.status)).toEqual(['rejected', 'rejected']);
    // After a failure the queue is gone: the next request calls again.
    await expect(failing.take('k', [plan])).rejects.toThrow('down');
  });
});
