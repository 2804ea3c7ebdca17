import { describe, expect, it } from 'vitest';
import { Hono } from 'hono';
import { accessLog } from './access-log.ts';
import { createLogger } from '../../core/log.ts';
import type { AppEnv } from '../deps.ts';

describe('access log', () => {
  it('warns about a request slower than the threshold, and keeps the rest at debug', async () => {
    const lines: Array<Record<string, unknown>> = [];
    const app = new Hono<AppEnv>();
    app.use('*', accessLog(createLogger('info', {}, (l) => lines.push(JSON.parse(l))), { slowMs: 50 }));
    app.get('/fast', (c) => c.text('ok'));
    app.get('/slow', async (c) => {
      await new Promise((r) => setTimeout(r, 80));
      return c.text('ok');
    });
    await app.request('/fast', { headers: { authorization: 'Bearer sk_secret' } });
    await app.request('/slow', { headers: { authorization: 'Bearer sk_secret' } });
    expect(lines).toHaveLength(1);
    expect(lines[0]).toMatchObject({ level: 'warn', msg: 'slow request', method: 'GET', path: '/slow', status: 200 });
    expect(Number(lines[0]!.ms)).toBeGreaterThanOrEqual(50);
    expect(JSON.stringify(lines)).not.toContain('sk_secret');
  });
});
