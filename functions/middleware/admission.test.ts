import { describe, expect, it } from 'vitest';
import { Hono } from 'hono';
import { admission, createAdmission } from './admission.ts';
import { createErrorHandler } from '../errors.ts';
import { createLogger } from '../../core/log.ts';
import type { AppEnv } from '../deps.ts';

describe('admission', () => {
  it('answers 503 with Retry-After past the limit at once, and lets requests in again as others finish', async () => {
    const app = new Hono<AppEnv>();
    let release!: () => void;
    const gate = new Promise<void>((r) => (release = r));
    app.use('*', admission(2));
    app.get('/slow', async (c) => {
      await gate;
      return c.text('ok');
    });
    app.onError(createErrorHandler(createLogger('silent')));
    const first = app.request('/slow');
    const second = app.request('/slow');
    const third = await app.request('/slow');
    expect(third.status).toBe(503);
    expect(third.headers.get('retry-after')).toBe('1');
    expect(third.headers.get('content-type')).toContain('application/problem+json');
    release();
    expect((await first).status).toBe(200);
    expect((await second).status).toBe(200);
    expect((await app.request('/slow')).status).toBe(200);
  });

  it('asks for longer waits while the overload lasts, and shorter ones once it has passed', async () => {
    let t = 1_000_000;
    const app = new Hono<AppEnv>();
    let release!: () => void;
    let gate = new Promise<void>((r) => (release = r));
    app.use('*', admission(1, { now: () => t, maxRetryAfterS: 8 }));
    app.get('/slow', async (c) => {
      await gate;
      return c.text('ok');
    });
    app.onError(createErrorHandler(createLogger('silent')));
    const held = app.request('/slow');
    const refusal = async () => {
      const res = await app.request('/slow');
      expect(res.status).toBe(503);
      return Number(res.headers.get('retry-after'));
    };
    const hints: number[] = [];
    for (let second = 0; second < 5; second++) {
      hints.push(await refusal(), await refusal());
      t += 1000;
    }
    // 1 s while the first second is judged; two refusals in three requests is heavy overload (×8), capped at 8.
    expect(hints).toEqual([1, 1, 8, 8, 8, 8, 8, 8, 8, 8]);
    release();
    expect((await held).status).toBe(200);
    // A second with requests and no refusal halves it.
    gate = Promise.resolve();
    expect((await app.request('/slow')).status).toBe(200);
    t += 1000;
    gate = new Promise<void>((r) => (release = r));
    const held2 = app.request('/slow');
    expect(await refusal()).toBe(4);
    // Five quiet seconds later it is back to 1.
    t += 5000;
    expect(await refusal()).toBe(1);
    release();
    await held2;
  });

  it('steepens with the refused share: 1% of a second\'s requests doubles the wait, 2% quadruples it', async () => {
    let t = 2_000_000;
    const a = createAdmission(1, { now: () => t, maxRetryAfterS: 30 });
    const app = new Hono<AppEnv>();
    let release!: () => void;
    const gate = new Promise<void>((r) => (release = r));
    app.use('*', a.middleware);
    app.get('/ok', (c) => c.text('ok'));
    app.get('/slow', async (c) => {
      await gate;
      return c.text('ok');
    });
    app.onError(createErrorHandler(createLogger('silent')));
    // One second: 99 requests let in, then one held and one refused of 101 (1%).
    for (let i = 0; i < 99; i++) expect((await app.request('/ok')).status).toBe(200);
    const held = app.request('/slow');
    expect((await app.request('/ok')).status).toBe(503);
    t += 1000;
    expect((await app.request('/ok')).headers.get('retry-after')).toBe('2');
    expect(a.state().retryAfterS).toBe(2);
    // The next second: 48 more refused of 49 (nearly all): ×8, to 16.
    for (let i = 0; i < 47; i++) await app.request('/ok');
    t += 1000;
    expect((await app.request('/ok')).headers.get('retry-after')).toBe('16');
    release();
    await held;
  });
});
