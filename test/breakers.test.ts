/**
 * Circuit breakers against real HTTP dependencies: one that fails every call trips its breaker
 * within 10 s, calls stop reaching it, and once it recovers the breaker closes within 30 s; another
 * dependency is unaffected throughout. In the running system, a step that meets an open breaker
 * waits as a continuation (no attempt used) and succeeds after recovery, and the state is in
 * /metrics, /readyz and the log.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createServer, type Server } from 'node:http';
import { z } from 'zod';
import { createBreakers, CircuitOpenError } from '../core/breakers.ts';
import { insertJob } from '../db/jobs.repo.ts';
import { newId } from '../core/ids.ts';
import { createLogger } from '../core/log.ts';
import { guarded } from '../workers/providers/alerts/outbound.ts';
import { defineTask } from '../workers/registry.ts';
import { done } from '../workers/step.ts';
import { startTestSystem, waitFor, type TestSystem } from './helpers/system.ts';
import { parseExposition, valueOf } from './helpers/prometheus.ts';

/** A dependency that answers 503 while `failing`, 200 otherwise, counting every request it gets. */
async function dependency() {
  const d = { failing: true, hits: 0, url: '', server: null as Server | null };
  d.server = createServer((_req, res) => {
    d.hits++;
    res.writeHead(d.failing ? 503 : 200).end();
  });
  await new Promise<void>((r) => d.server!.listen(0, '127.0.0.1', () => r()));
  d.url = `http://127.0.0.1:${(d.server.address() as { port: number }).port}/hook`;
  return d;
}
const call = async (url: string) => {
  const res = await fetch(url, { method: 'POST' });
  if (res.status >= 500) throw Object.assign(new Error(`answered ${res.status}`), { status: res.status });
  return res.status;
};

describe('circuit breakers', () => {
  it('trip within 10 s on a dependency that fails every call, stop calling it, and close within 30 s of its recovery; others are unaffected', async () => {
    const bad = await dependency();
    const good = await dependency();
    good.failing = false;
    const transitions: string[] = [];
    const breakers = createBreakers({ onChange: (dep, _g, to) => transitions.push(`${dep}:${to}`) });
    const started = Date.now();
    let openedAt = 0;
    let refused = 0;
    let goodOk = 0;
    // Callers keep calling every 100 ms, as retries and many jobs do.
    while (Date.now() - started < 10_000 && !openedAt) {
      await guarded(breakers, 'webhook:bad', () => call(bad.url)).catch((err) => {
        if (err instanceof CircuitOpenError) openedAt = Date.now();
      });
      goodOk += (await guarded(breakers, 'webhook:good', () => call(good.url))) === 200 ? 1 : 0;
      await new Promise((r) => setTimeout(r, 100));
    }
    expect(openedAt, 'the breaker opened').toBeGreaterThan(0);
    expect(openedAt - started).toBeLessThan(10_000);
    expect(transitions).toContain('webhook:bad:open');
    // While open, calls fail fast and don't reach it (a probe may, once the half-open time comes).
    const hitsAtOpen = bad.hits;
    for (let i = 0; i < 20; i++) {
      await guarded(breakers, 'webhook:bad', () => call(bad.url)).catch((err) => (err instanceof CircuitOpenError ? refused++ : null));
      goodOk += (await guarded(breakers, 'webhook:good', () => call(good.url))) === 200 ? 1 : 0;
      await new Promise((r) => setTimeout(r, 100));
    }
    expect(refused).toBeGreaterThanOrEqual(18);
    expect(bad.hits - hitsAtOpen).toBeLessThanOrEqual(1);
    // It recovers; within 30 s a probe goes through and the breaker closes.
    bad.failing = false;
    const recovered = Date.now();
    let closedAt = 0;
    while (Date.now() - recovered < 30_000 && !closedAt) {
      const ok = await guarded(breakers, 'webhook:bad', () => call(bad.url)).then(() => true, () => false);
      if (ok && breakers.status().find((b) => b.dependency === 'webhook:bad')?.state === 'closed') closedAt = Date.now();
      await new Promise((r) => setTimeout(r, 200));
    }
    expect(closedAt, 'the breaker closed').toBeGreaterThan(0);
    expect(closedAt - recovered).toBeLessThan(30_000);
    expect(transitions.filter((t) => t.startsWith('webhook:bad'))).toEqual(['webhook:bad:open', 'webhook:bad:half_open', 'webhook:bad:closed']);
    // The other dependency answered every call, and its breaker never moved.
    expect(good.hits).toBe(goodOk);
    expect(transitions.some((t) => t.startsWith('webhook:good'))).toBe(false);
    bad.server!.close();
    good.server!.close();
  }, 60_000);

  describe('in the running system', () => {
    let sys: TestSystem;
    let dep: Awaited<ReturnType<typeof dependency>>;
    const lines: Array<Record<string, unknown>> = [];
    const task = defineTask({
      kind: 'test.calls_dependency',
      payload: z.object({ url: z.string() }),
      async run(ctx) {
        return done({ status: await guarded(ctx.deps.breakers, `webhook:${new URL(ctx.payload.url).host}`, () => call(ctx.payload.url)) });
      },
    });
    beforeAll(async () => {
      dep = await dependency();
      sys = await startTestSystem({ SWITCHYARD_METRICS_TOKEN: 'breaker-test-token-0123456789' }, { extraTasks: [task], log: createLogger('info', {}, (l) => lines.push(JSON.parse(l))) });
    });
    afterAll(async () => {
      await sys?.stop();
      dep?.server?.close();
    });

    it('turns a step that meets an open breaker into a wait that uses no attempt, and shows the breaker in /metrics, /readyz and the log', async () => {
      const host = new URL(dep.url).host;
      // Failing calls through the process's breakers trip the host's breaker.
      for (let i = 0; i < 8; i++) await guarded(sys.runnerDeps.breakers, `webhook:${host}`, () => call(dep.url)).catch(() => {});
      expect(sys.runnerDeps.breakers!.status().find((b) => b.dependency === `webhook:${host}`)?.state).toBe('open');
      const hits = dep.hits;
      const [tenant] = await sys.db.sql<{ id: string }[]>`select id from tenants limit 1`;
      const job = await insertJob(sys.db.sql, { id: newId('job'), tenantId: tenant!.id, kind: 'test.calls_dependency', payload: { url: dep.url }, maxAttempts: 3 });
      await sys.runnerDeps.queue.dispatch([job]);
      // The step waits: a continuation, attempts back to 0, the dependency not called.
      const waiting = await waitFor(async () => {
        const [row] = await sys.db.sql<{ status: string; steps: number; attempts: number; lastError: string | null }[]>`select status, steps, attempts, last_error from jobs where id = ${job.id}`;
        return row && row.steps >= 1 ? row : null;
      }, 10_000, 'the step to wait');
      expect(waiting.status).toBe('queued');
      expect(waiting.attempts).toBe(0);
      expect(waiting.lastError).toBeNull();
      expect(dep.hits).toBe(hits);
      const [note] = await sys.db.sql<{ data: { message?: string } }[]>`select data from job_events where job_id = ${job.id} and type = 'progress' order by id limit 1`;
      expect(note!.data.message).toMatch(/circuit breaker is open/);

      const scrape = async () => parseExposition(await (await fetch(`${sys.url}/metrics`, { headers: { authorization: 'Bearer breaker-test-token-0123456789' } })).text());
      expect(valueOf(await scrape(), 'circuit_breakers_open', { group: 'webhook' })).toBe(1);
      expect(valueOf(await scrape(), 'circuit_breaker_transitions_total', { group: 'webhook', to: 'open' })).toBe(1);
      const ready = await sys.api('GET', '/readyz', { key: null });
      expect(ready.status).toBe(200);
      expect(ready.body.circuits).toEqual({ webhook: { state: 'open', hosts: 1 } });
      expect(JSON.stringify(ready.body)).not.toContain(host);
      expect(lines.some((l) => l.msg === 'circuit breaker opened: calls to it fail fast, and steps that need it wait' && l.dependency === `webhook:${host}`)).toBe(true);

      // The dependency recovers: the waiting step probes it, succeeds, and the breaker closes.
      dep.failing = false;
      await waitFor(async () => (await sys.db.sql`select 1 from jobs where id = ${job.id} and status = 'succeeded'`).length === 1, 30_000, 'the job to succeed');
      expect(sys.runnerDeps.breakers!.status().find((b) => b.dependency === `webhook:${host}`)?.state).toBe('closed');
      expect(valueOf(await scrape(), 'circuit_breakers_open', { group: 'webhook' })).toBe(0);
      expect((await sys.api('GET', '/readyz', { key: null })).body.circuits).toEqual({});
    }, 60_000);
  });
});
