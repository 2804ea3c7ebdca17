/**
 * The queue contract against real Postgres: duplicate signals, retries with backoff, dead jobs
 * failing their subject, per-key concurrency under races, fairness across tenants, cancel.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { z } from 'zod';
import { claimDueJobs, claimJob, insertJob, type Job } from '../db/jobs.repo.ts';
import { createDb } from '../db/client.ts';
import { createCompletions } from '../workers/queue/completions.ts';
import { newId } from '../core/ids.ts';
import { defineTask } from '../workers/registry.ts';
import { runJob } from '../workers/run-job.ts';
import { createLocalRunner } from '../workers/queue/local-runner.ts';
import { done, fail } from '../workers/step.ts';
import { createTestDatabase, one, startTestSystem, waitFor, type TestSystem } from './helpers/system.ts';

// Test tasks record every execution in a table, so "ran once" is counted, not assumed.
const counted = defineTask({
  kind: 'test.counted',
  payload: z.object({ n: z.number().optional() }),
  async run(ctx) {
    await ctx.deps.db.sql`insert into test_runs (job_id, attempt) values (${ctx.job.id}, ${ctx.attempt})`;
    await new Promise((r) => setTimeout(r, 50));
    return done({ ok: true });
  },
});
const flaky = defineTask({
  kind: 'test.flaky',
  payload: z.object({ failures: z.number() }),
  async run(ctx) {
    await ctx.deps.db.sql`insert into test_runs (job_id, attempt) values (${ctx.job.id}, ${ctx.attempt})`;
    if (ctx.attempt <= ctx.payload.failures) throw new Error(`transient failure ${ctx.attempt}`);
    return done({ attempts: ctx.attempt });
  },
});
const permanent = defineTask({
  kind: 'test.permanent',
  payload: z.object({}),
  async run() {
    return fail('the provider refused', { retryable: false });
  },
});

// The same step, once leaving deadlines to the runner and once checking them itself.
const late = defineTask({ kind: 'test.late', payload: z.object({}), run: async () => done({ ran: true }) });
const lateOwner = defineTask({ kind: 'test.late-owner', ownsDeadline: true, payload: z.object({}), run: async () => done({ ran: true }) });

let sys: TestSystem;
let databaseUrl: string;
let extraRunner: ReturnType<typeof createLocalRunner> | null = null;
beforeAll(async () => {
  databaseUrl = await createTestDatabase();
  sys = await startTestSystem({ DATABASE_URL: databaseUrl, SWITCHYARD_WORKER_CONCURRENCY: '4', SWITCHYARD_MAX_ATTEMPTS: '4' }, { extraTasks: [counted, flaky, permanent, late, lateOwner] });
  await sys.db.sql`create table test_runs (job_id text, attempt int, at timestamptz default clock_timestamp())`;
});
afterAll(async () => {
  await extraRunner?.stop(2000);
  await sys?.stop();
});

async function tenantId() {
  const [t] = await sys.db.sql`select id from tenants limit 1`;
  return t!.id as string;
}

async function runs(jobId: string) {
  return sys.db.sql<{ attempt: number }[]>`select attempt from test_runs where job_id = ${jobId} order by at`;
}

async function jobRow(id: string) {
  const [j] = await sys.db.sql`select * from jobs where id = ${id}`;
  return j!;
}

/** Waits until the job reaches `status`, and returns its row. */
function jobReaches(id: string, status: string, timeoutMs = 15_000) {
  return waitFor(async () => {
    const j = await jobRow(id);
    return j.status === status ? j : null;
  }, timeoutMs, `job ${id} to be ${status}`);
}

describe('queue', () => {
  it('runs a job signalled 5 times at once exactly once', async () => {
    // Stop the background runner from taking it first: a job scheduled in the future is not claimable
    // by anyone, then becomes due for all five signals at the same instant.
    const id = newId('job');
    await insertJob(sys.db.sql, { id, tenantId: await tenantId(), kind: 'test.counted', payload: {}, maxAttempts: 3, runAt: new Date(Date.now() + 60_000).toISOString() });
    await sys.db.sql`update jobs set run_at = now() where id = ${id}`;
    const ref = { id, tenantId: await tenantId() };
    const results = await Promise.all(Array.from({ length: 5 }, () => runJob(sys.runnerDeps, ref)));
    await waitFor(async () => (await jobRow(id)).status === 'succeeded', 10_000, 'job succeeded');
    expect(await runs(id)).toHaveLength(1);
    expect(results.filter((r) => r.outcome === 'succeeded').length).toBeLessThanOrEqual(1);
    // Signalled again after it finished: still once.
    expect((await runJob(sys.runnerDeps, ref)).outcome).toBe('skipped');
    expect(await runs(id)).toHaveLength(1);
  });

  it('retries a step that fails twice, then succeeds with 3 attempts', async () => {
    const id = newId('job');
    await insertJob(sys.db.sql, { id, tenantId: await tenantId(), kind: 'test.flaky', payload: { failures: 2 }, maxAttempts: 4 });
    await sys.runnerDeps.queue.dispatch([{ id, tenantId: '', runAt: '', steps: 0, attempts: 0 }]);
    const job = await jobReaches(id, 'succeeded', 15_000);
    expect(job.attempts).toBe(3);
    expect((await runs(id)).map((r) => r.attempt)).toEqual([1, 2, 3]);
    const events = await sys.api('GET', `/v1/jobs/${id}`);
    expect(events.body.job.events.map((e: any) => e.type)).toEqual([
      'created', 'started', 'retry_scheduled', 'started', 'retry_scheduled', 'started', 'succeeded',
    ]);
    expect(events.body.job.events[2].data.error).toBe('transient failure 1');
  });

  it('marks a job that always fails dead after max_attempts', async () => {
    const id = newId('job');
    await insertJob(sys.db.sql, { id, tenantId: await tenantId(), kind: 'test.flaky', payload: { failures: 99 }, maxAttempts: 3 });
    const job = await jobReaches(id, 'dead', 15_000);
    expect(job.attempts).toBe(3);
    expect(job.lastError).toBe('transient failure 3');
    expect(await runs(id)).toHaveLength(3);
  });

  it('does not retry a non-retryable failure', async () => {
    const id = newId('job');
    await insertJob(sys.db.sql, { id, tenantId: await tenantId(), kind: 'test.permanent', payload: {}, maxAttempts: 5 });
    const job = await jobReaches(id, 'dead', 10_000);
    expect(job.attempts).toBe(1);
    expect(job.lastError).toBe('the provider refused');
  });

  it('fails a project whose provisioning job dies, with the error visible in the job', async () => {
    // A data plane nobody listens on: every provisioning attempt fails for real.
    const broken = await startTestSystem({ DATA_PLANE_DATABASE_URL: 'postgres://nobody:x@127.0.0.1:1/none', SWITCHYARD_MAX_ATTEMPTS: '2' });
    try {
      const created = await broken.api('POST', '/v1/projects', { body: { name: 'Doomed' } });
      expect(created.status).toBe(202);
      const project = await waitFor(async () => {
        const p = await broken.api('GET', `/v1/projects/${created.body.project.id}`);
        return p.body.project.status === 'failed' ? p.body.project : null;
      }, 20_000, 'project to fail');
      expect(project.last_error).toMatch(/ECONNREFUSED|connect/i);
      const job = await broken.api('GET', `/v1/jobs/${created.body.job.id}`);
      expect(job.body.job.status).toBe('dead');
      expect(job.body.job.attempts).toBe(2);
      expect(job.body.job.last_error).toMatch(/ECONNREFUSED|connect/i);
      expect(job.body.job.events.at(-1).type).toBe('dead');
      // A failed project can still be deleted (its cleanup job runs against the same broken plane).
      expect((await broken.api('POST', `/v1/projects/${project.id}/resume`)).status).toBe(409);
    } finally {
      await broken.stop();
    }
  });

  it('never runs two jobs with the same concurrency key at once, even when claims race', async () => {
    // Only the racers below may claim: the system's own runner would otherwise take the job first
    // on a busy machine (seen in CI), and its leftovers would skew the fairness test after this one.
    await sys.runner!.stop(2000);
    const t = await tenantId();
    const key = `project:${newId('prj')}`;
    const future = new Date(Date.now() + 60_000).toISOString();
    const ids = [newId('job'), newId('job'), newId('job')];
    for (const id of ids) await insertJob(sys.db.sql, { id, tenantId: t, kind: 'test.counted', payload: {}, maxAttempts: 3, concurrencyKey: key, runAt: future });
    await sys.db.sql`update jobs set run_at = now() - interval '1 second' where id = any(${ids})`;
    // Ten claimers race for three jobs sharing a key: at most one can hold it.
    const claims = await Promise.all(Array.from({ length: 10 }, (_, i) => claimJob(sys.db.sql, { id: ids[i % 3]!, tenantId: t }, `racer-${i}`, 30_000)));
    expect(claims.filter(Boolean)).toHaveLength(1);
    const { running } = await one(sys.db.sql`select count(*)::int as running from jobs where concurrency_key = ${key} and status = 'running'`);
    expect(running).toBe(1);
  });

  it('serves tenants round-robin: a big backlog does not starve a small one', async () => {
    await sys.runner!.stop(2000); // stopped already above; claim by hand, and a fresh runner takes over below
    const big = (await sys.api('POST', '/v1/tenants', { body: { name: 'big' } })).body.tenant.id;
    const small = (await sys.api('POST', '/v1/tenants', { body: { name: 'small' } })).body.tenant.id;
    const future = new Date(Date.now() + 60_000).toISOString();
    for (let i = 0; i < 30; i++) await insertJob(sys.db.sql, { id: newId('job'), tenantId: big, kind: 'test.counted', payload: {}, maxAttempts: 1, runAt: future });
    for (let i = 0; i < 3; i++) await insertJob(sys.db.sql, { id: newId('job'), tenantId: small, kind: 'test.counted', payload: {}, maxAttempts: 1, runAt: future });
    await sys.db.sql`update jobs set run_at = now() - interval '1 second' where tenant_id in (${big}, ${small}) and status = 'queued'`;
    // One claim of six takes all three of the small tenant's jobs, alternating with the big one's.
    // (On an API-only system on the same database, so no runner races the claim.)
    const picked = await claimDueJobs(sys.db.sql, 'fairness-test', 60_000, '', 6);
    const tenantsOf = picked.map((p) => p.tenantId);
    expect(tenantsOf.filter((t) => t === small)).toHaveLength(3);
    expect(tenantsOf.filter((t) => t === big)).toHaveLength(3);
    // Give them back, then watch the real runner: the small tenant's jobs all finish before most of the big backlog.
    await sys.db.sql`update jobs set status = 'queued', attempts = 0, locked_by = null where locked_by = 'fairness-test'`;
    const runner = createLocalRunner(sys.runnerDeps, { concurrency: 2, pollIntervalMs: 200, sweepIntervalMs: 500, housekeeping: { realtimeRetentionHours: 24, retention: { free: 14, pro: 30, enterprise: 90 } } });
    await runner.start();
    extraRunner = runner;
    await waitFor(async () => {
      const [r] = await sys.db.sql`select count(*)::int as n from jobs where tenant_id = ${small} and status = 'succeeded'`;
      return r!.n === 3;
    }, 20_000, 'small tenant done');
    const { bigDone } = await one(sys.db.sql`select count(*)::int as "bigDone" from jobs where tenant_id = ${big} and status = 'succeeded'`);
    expect(bigDone).toBeLessThan(30);
  });

  it('fails a job claimed past its deadline, unless its task checks the deadline itself (within a grace)', async () => {
    const t = await tenantId();
    const make = async (kind: string, pastMs: number) => {
      const id = newId('job');
      await insertJob(sys.db.sql, { id, tenantId: t, kind, payload: {}, maxAttempts: 3, deadlineAt: new Date(Date.now() - pastMs).toISOString() });
      return id;
    };
    const [backstop, owned, ownedLong] = [await make('test.late', 1000), await make('test.late-owner', 1000), await make('test.late-owner', 120_000)];
    expect((await jobReaches(backstop, 'dead')).lastError).toMatch(/not done by its deadline/);
    expect((await jobReaches(owned, 'succeeded')).result).toEqual({ ran: true });
    expect((await jobReaches(ownedLong, 'dead')).lastError).toMatch(/not done by its deadline/);
  });

  it('completes jobs that finish together in one statement, each fenced on its own claim', async () => {
    const t = await tenantId();
    const ids = Array.from({ length: 5 }, () => newId('job'));
    // Five claimed jobs (running, live leases, so no runner touches them); another worker has
    // since taken the third one over.
    for (const [i, id] of ids.entries()) {
      await sys.db.sql`
        insert into jobs (id, tenant_id, kind, payload, status, attempts, locked_by, lease_expires_at)
        values (${id}, ${t}, 'test.counted', '{}', 'running', 1, ${i === 2 ? 'thief' : 'batch-test'}, now() + interval '1 minute')`;
    }
    const statements: string[] = [];
    const db = createDb(databaseUrl, { max: 2, debug: (q) => void (/switchyard_complete_and_claim/.test(q) && statements.push(q)) });
    try {
      const completions = createCompletions(db.sql);
      const rows = await sys.db.sql<Job[]>`select * from jobs where id = any(${ids})`;
      const claimed = ids.map((id) => ({ ...rows.find((r) => r.id === id)!, lockedBy: 'batch-test', attempts: 1 }));
      const results = await Promise.all(claimed.map((job, i) => completions.complete(job, { n: i })));
      expect(statements).toHaveLength(1);
      expect(results.map((r) => r?.status ?? null)).toEqual(['succeeded', 'succeeded', null, 'succeeded', 'succeeded']);
      expect(results.map((r) => r?.result ?? null)).toEqual([{ n: 0 }, { n: 1 }, null, { n: 3 }, { n: 4 }]);
      const after = await sys.db.sql`select id, status from jobs where id = any(${ids})`;
      expect(ids.map((id) => after.find((r) => r.id === id)!.status)).toEqual(['succeeded', 'succeeded', 'running', 'succeeded', 'succeeded']);
      const { n } = await one(sys.db.sql`select count(*)::int as n from job_events where job_id = any(${ids}) and type = 'succeeded'`);
      expect(n).toBe(4);
    } finally {
      await db.close();
    }
  });

  it('cancels a queued job and fails its subject; a finished job cannot be canceled', async () => {
    const created = await sys.api('POST', '/v1/projects', { body: { name: 'Cancel me' } });
    // Race the runner for it: either we cancel it while queued, or it already ran.
    const cancel = await sys.api('POST', `/v1/jobs/${created.body.job.id}/cancel`);
    if (cancel.status === 200) {
      expect(cancel.body.job.status).toBe('canceled');
      const p = await sys.api('GET', `/v1/projects/${created.body.project.id}`);
      expect(p.body.project.status).toBe('failed');
      expect(p.body.project.last_error).toBe('canceled by request');
    } else {
      expect(cancel.status).toBe(409);
    }
    await waitFor(async () => ['succeeded', 'canceled'].includes((await jobRow(created.body.job.id)).status), 10_000, 'job final');
    const late = await sys.api('POST', `/v1/jobs/${created.body.job.id}/cancel`);
    expect(late.status).toBe(409);
    expect(late.body.current_status).toMatch(/succeeded|canceled/);
  });
});
