import { describe, expect, it } from 'vitest';
import { Hono } from 'hono';
import { admission } from './admission.ts';
import { createErrorHandler } from '../errors.ts';
import { createLogger } from '../lib/log.ts';
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
});
