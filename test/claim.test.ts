/**
 * The local runner's claim (switchyard_claim_due_jobs) as the database runs it: one statement,
 * and a plan that walks the queued-jobs index however stale the statistics are. A plan that
 * walked jobs_tenant_id_idx instead stepped over every finished job on each claim (~5 ms instead
 * of ~1 ms a claim in the queue benchmark), and nothing but the speed showed it.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { claimDueJobs, completeJobs, insertJobs, type Job, type NewJob } from '../db/jobs.repo.ts';
import { createCompletions } from '../workers/queue/completions.ts';
import { createDb, type Db } from '../db/client.ts';
import { newId } from '../core/ids.ts';
import { createTestDatabase, one } from './helpers/system.ts';

let db: Db;
let url: string;
const statements: string[] = [];
const tenant = newId('ten');

beforeAll(async () => {
  url = await createTestDatabase();
  // One connection, so the statistics this session flushes are the claim's own.
  db = createDb(url, { max: 1, debug: (q) => void statements.push(q) });
  await db.sql`alter table jobs set (autovacuum_enabled = false)`; // keep the statistics stale on purpose
  await db.sql`insert into tenants (id, name) values (${tenant}, 'claims')`;
  const job = (): NewJob => ({ id: newId('job'), tenantId: tenant, kind: 'test.noop', payload: {}, maxAttempts: 1 });
  for (let k = 0; k < 3; k++) await insertJobs(db.sql, Array.from({ length: 1000 }, job));
  // The statistics say every job is queued (as right after a burst of enqueues) …
  await db.sql`analyze jobs`;
  // … but most have since finished.
  await db.sql`update jobs set status = 'succeeded', finished_at = now() where id in (select id from jobs order by id limit 2900)`;
});
afterAll(async () => {
  await db?.close();
});

/** A new tenant, and every job still queued from earlier tests canceled: claims now see only this one's. */
async function soleTenant(name: string): Promise<string> {
  const t = newId('ten');
  await db.sql`insert into tenants (id, name) values (${t}, ${name})`;
  await db.sql`update jobs set status = 'canceled' where status = 'queued'`;
  return t;
}

async function indexScans(): Promise<Record<string, { scans: number }>> {
  await db.sql`select pg_stat_force_next_flush()`;
  await db.sql`select pg_stat_clear_snapshot()`;
  // Scans only: the claim's UPDATE also touches every index of jobs, to insert entries.
  const rows = await db.sql<{ name: string; scans: number }[]>`
    select indexrelname as name, idx_scan::int as scans from pg_stat_user_indexes where relname = 'jobs'`;
  return Object.fromEntries(rows.map((r) => [r.name, { scans: r.scans }]));
}

describe('the runner claim', () => {
  it('is one statement, and walks jobs_queued_idx, not the whole tenant, when statistics are stale', async () => {
    const oldest = await db.sql<{ id: string }[]>`select id from jobs where status = 'queued' order by run_at, id limit 5`;
    const before = await indexScans();
    statements.length = 0;
    const claimed = await claimDueJobs(db.sql, 'plan-test', 60_000, '', 5);
    expect(statements).toHaveLength(1);
    const after = await indexScans();

    expect(claimed.map((j) => j.id)).toEqual(oldest.map((r) => r.id));
    expect(claimed.every((j) => j.status === 'running' && j.lockedBy === 'plan-test' && j.attempts === 1)).toBe(true);
    expect(after.jobs_queued_idx!.scans).toBeGreaterThan(before.jobs_queued_idx!.scans);
    expect(after.jobs_tenant_id_idx!.scans).toBe(before.jobs_tenant_id_idx!.scans);
  });
});

describe('claims at once', () => {
  it('take every job exactly once', async () => {
    const tenants = [newId('ten'), newId('ten'), newId('ten')];
    for (const t of tenants) await db.sql`insert into tenants (id, name) values (${t}, 'race')`;
    const jobs: NewJob[] = Array.from({ length: 300 }, (_, i) => ({ id: newId('job'), tenantId: tenants[i % 3]!, kind: 'test.noop', payload: {}, maxAttempts: 1 }));
    await insertJobs(db.sql, jobs);
    const racers = createDb(url, { max: 8 });
    try {
      // Eight claimers, each claiming again until nothing is left.
      const claimedBy = await Promise.all(Array.from({ length: 8 }, async (_, r) => {
        const mine: string[] = [];
        for (;;) {
          const got = await claimDueJobs(racers.sql, `racer-${r}`, 60_000, '', 7);
          if (got.length === 0) break;
          mine.push(...got.map((j) => j.id));
        }
        return mine;
      }));
      const all = claimedBy.flat();
      const ours = new Set(jobs.map((j) => j.id));
      const claimedOurs = all.filter((id) => ours.has(id));
      expect(new Set(claimedOurs).size).toBe(claimedOurs.length); // no job claimed twice
      expect(claimedOurs.length).toBe(jobs.length); // and none left behind
      const { started } = await one(db.sql<{ started: number }[]>`
        select count(*)::int as started from job_events where type = 'started' and job_id = any(${jobs.map((j) => j.id)})`);
      expect(started).toBe(jobs.length);
    } finally {
      await racers.close();
    }
  });
});

describe('a claim beside another one still open', () => {
  it('takes other jobs at once instead of waiting for its locks', async () => {
    const t = await soleTenant('beside'); // so both claims compete for the same head
    await insertJobs(db.sql, Array.from({ length: 20 }, () => ({ id: newId('job'), tenantId: t, kind: 'test.noop', payload: {}, maxAttempts: 1 })));
    const other = createDb(url, { max: 2 });
    try {
      let release!: () => void;
      const held = new Promise<void>((r) => (release = r));
      let first: string[] = [];
      const firstClaimed = new Promise<void>((ready) => {
        void other.sql.begin(async (tx) => {
          first = (await claimDueJobs(tx, 'first', 60_000, '', 5)).map((j) => j.id);
          ready();
          await held; // the first claim's transaction stays open, its rows locked
        });
      });
      await firstClaimed;
      const second = await other.sql.begin(async (tx) => {
        await tx`set local lock_timeout = '2s'`; // waiting on the first claim's locks fails the test
        return (await claimDueJobs(tx, 'second', 60_000, '', 5)).map((j) => j.id);
      });
      release();
      expect(first).toHaveLength(5);
      expect(second).toHaveLength(5);
      expect(second.filter((id) => first.includes(id))).toEqual([]);
    } finally {
      await other.close();
    }
  });
});

describe('completions that carry the next claim', () => {
  it('complete and claim in one statement; the claim sees the completions', async () => {
    const t = await soleTenant('refill');
    const key = `project:${newId('prj')}`;
    // Three claimed jobs, one of them holding a concurrency key; behind it, a queued job on the
    // same key (claimable only once the first is done) and one more queued job.
    const running = [newId('job'), newId('job'), newId('job')];
    for (const [i, id] of running.entries()) {
      await db.sql`
        insert into jobs (id, tenant_id, kind, payload, status, attempts, locked_by, lease_expires_at, concurrency_key, run_at)
        values (${id}, ${t}, 'test.noop', '{}', 'running', 1, 'refill-test', now() + interval '1 minute',
                ${i === 0 ? key : null}, now() - interval '1 minute')`;
    }
    const sameKey = newId('job');
    const plain = newId('job');
    await insertJobs(db.sql, [
      { id: sameKey, tenantId: t, kind: 'test.noop', payload: {}, maxAttempts: 1, concurrencyKey: key },
      { id: plain, tenantId: t, kind: 'test.noop', payload: {}, maxAttempts: 1 },
    ]);

    const requests: number[] = [];
    let claimed: Job[] = [];
    const completions = createCompletions(db.sql, {
      refill: {
        request(freeing) {
          requests.push(freeing);
          return { workerId: 'refill-test', leaseMs: 60_000, afterTenant: '', limit: 2 };
        },
        claimed(jobs) {
          claimed = jobs;
        },
      },
    });
    const rows = await db.sql<Job[]>`select * from jobs where id = any(${running})`;
    statements.length = 0;
    const results = await Promise.all(running.map((id) => completions.complete(rows.find((r) => r.id === id)!, { id })));

    expect(statements.filter((q) => q.includes('switchyard_complete_and_claim'))).toHaveLength(1);
    expect(statements).toHaveLength(1);
    expect(requests).toEqual([3]);
    expect(results.map((r) => r?.status)).toEqual(['succeeded', 'succeeded', 'succeeded']);
    expect(results.map((r) => r?.result)).toEqual(running.map((id) => ({ id })));
    expect(claimed.map((j) => j.id).sort()).toEqual([sameKey, plain].sort());
    expect(claimed.every((j) => j.status === 'running' && j.lockedBy === 'refill-test')).toBe(true);
    const events = await db.sql<{ jobId: string; type: string }[]>`
      select job_id, type from job_events where job_id = any(${[...running, sameKey, plain]}) and type in ('succeeded', 'started')`;
    expect(events.filter((e) => e.type === 'succeeded').map((e) => e.jobId).sort()).toEqual([...running].sort());
    expect(events.filter((e) => e.type === 'started').map((e) => e.jobId).sort()).toEqual([sameKey, plain].sort());
  });
});

describe('completions with two writes in flight', () => {
  /** Completes job A (its row locked elsewhere, so its write hangs) and then job B; counts the writes sent meanwhile. */
  async function whileOneHangs(maxInFlight: number) {
    const t = await soleTenant(`in-flight-${maxInFlight}`);
    const ids = [newId('job'), newId('job'), newId('job')];
    for (const id of ids) {
      await db.sql`
        insert into jobs (id, tenant_id, kind, payload, status, attempts, locked_by, lease_expires_at)
        values (${id}, ${t}, 'test.noop', '{}', 'running', 1, 'in-flight-test', now() + interval '1 minute')`;
    }
    const rows = await db.sql<Job[]>`select * from jobs where id = any(${ids}) order by id`;
    const [warm, a, b] = ids.map((id) => rows.find((r) => r.id === id)!);
    const pipe = db.dedicated('in-flight-test');
    const blocker = createDb(url, { max: 1 });
    let release!: () => void;
    const released = new Promise<void>((r) => (release = r));
    let locked!: () => void;
    const isLocked = new Promise<void>((r) => (locked = r));
    const holding = blocker.sql.begin(async (tx) => {
      await tx`select id from jobs where id = ${a!.id} for update`;
      locked();
      await released;
    });
    try {
      await isLocked;
      const completions = createCompletions(pipe.sql, { maxInFlight });
      // postgres.js waits for a statement's first run to describe it before sending another.
      await completions.complete(warm!, 'warm');
      statements.length = 0;
      const first = completions.complete(a!, 'a');
      await new Promise((r) => setTimeout(r, 100)); // A's write is out, and waits on the lock
      const second = completions.complete(b!, 'b');
      await new Promise((r) => setTimeout(r, 200));
      const sentWhileHung = statements.filter((q) => q.includes('switchyard_complete_and_claim')).length;
      const backends = await one(db.sql<{ n: number }[]>`
        select count(*)::int as n from pg_stat_activity where application_name = 'in-flight-test'`);
      release();
      await holding;
      const done = await Promise.all([first, second]);
      expect(done.map((r) => r?.status)).toEqual(['succeeded', 'succeeded']);
      return { sentWhileHung, backends: backends.n };
    } finally {
      release();
      await blocker.close();
      await pipe.close();
    }
  }

  it('sends the next batch behind the one running, on the same connection', async () => {
    // One in flight: B waits for A's write to come back.
    expect(await whileOneHangs(1)).toEqual({ sentWhileHung: 1, backends: 1 });
    // Two: B's write is sent at once, pipelined behind A's on the one connection.
    expect(await whileOneHangs(2)).toEqual({ sentWhileHung: 2, backends: 1 });
  });
});

/**
 * A new database of its own, autovacuum off so only the test decides when statistics are taken,
 * with one tenant; and its jobs indexes' counters, flushed so they include this session's work.
 */
async function freshJobsTable(name: string) {
  const fresh = createDb(await createTestDatabase(), { max: 1 });
  await fresh.sql`alter table jobs set (autovacuum_enabled = false)`;
  const tenantId = newId('ten');
  await fresh.sql`insert into tenants (id, name) values (${tenantId}, ${name})`;
  const indexStats = async () => {
    await fresh.sql`select pg_stat_force_next_flush()`;
    await fresh.sql`select pg_stat_clear_snapshot()`;
    const rows = await fresh.sql<{ name: string; scans: number; read: number }[]>`
      select indexrelname as name, idx_scan::int as scans, idx_tup_read::int as read from pg_stat_user_indexes where relname = 'jobs'`;
    return Object.fromEntries(rows.map((r) => [r.name, r]));
  };
  return { sql: fresh.sql, tenantId, indexStats, close: () => fresh.close() };
}

describe('completions on a table never analyzed', () => {
  it('find each job by primary key, not by walking every job that ever ran', async () => {
    // A new database: no statistics yet, as right after the first burst of enqueues.
    const fresh = await freshJobsTable('fresh');
    const t = fresh.tenantId;
    try {
      await insertJobs(fresh.sql, Array.from({ length: 2000 }, () => ({ id: newId('job'), tenantId: t, kind: 'test.noop', payload: {}, maxAttempts: 1 })));
      // Every job has been through 'running': their entries stay in jobs_running_lease_idx until vacuum.
      await fresh.sql`update jobs set status = 'running', attempts = 1, locked_by = 'fresh', lease_expires_at = now() + interval '1 minute'`;
      await fresh.sql`update jobs set status = 'succeeded', lease_expires_at = null where id not in (select id from jobs order by id limit 40)`;
      const running = await fresh.sql<Job[]>`select * from jobs where status = 'running' order by id`;
      const scans = async () => Object.fromEntries(Object.entries(await fresh.indexStats()).map(([k, v]) => [k, v.scans]));
      const before = await scans();
      // Past the five custom plans Postgres tries before it settles on a generic one.
      for (let k = 0; k < 8; k++) {
        const done = await completeJobs(fresh.sql, running.slice(k * 5, k * 5 + 5).map((job) => ({ job, result: null })));
        expect(done.map((j) => j.status)).toEqual(Array(5).fill('succeeded'));
      }
      const after = await scans();
      expect(after.jobs_running_lease_idx).toBe(before.jobs_running_lease_idx);
      expect(after.jobs_pkey! - before.jobs_pkey!).toBeGreaterThanOrEqual(40);
    } finally {
      await fresh.close();
    }
  });
});

describe('claims on a table analyzed while nothing was queued', () => {
  it('update the claimed jobs by primary key, not by walking the whole queue', async () => {
    // As in the queue benchmark's second run: autoanalyze ran while every job had finished, then a
    // burst of enqueues. The statistics say no job is queued, so jobs_queued_idx looks empty.
    const fresh = await freshJobsTable('stale');
    const t = fresh.tenantId;
    try {
      const job = (): NewJob => ({ id: newId('job'), tenantId: t, kind: 'test.noop', payload: {}, maxAttempts: 1 });
      await insertJobs(fresh.sql, Array.from({ length: 500 }, job));
      await fresh.sql`update jobs set status = 'succeeded', attempts = 1, finished_at = now()`;
      // Vacuum too, so that the finished jobs' stale queue entries are gone: whether a scan can skip
      // them depends on what else the server is running (a full suite read them on every claim).
      await fresh.sql`vacuum analyze jobs`;
      for (let k = 0; k < 2; k++) await insertJobs(fresh.sql, Array.from({ length: 1000 }, job));
      const read = async () => (await fresh.indexStats()).jobs_queued_idx!.read;
      const before = await read();
      let claimed = 0;
      for (let k = 0; k < 8; k++) claimed += (await claimDueJobs(fresh.sql, 'w', 60_000, '', 5)).length;
      expect(claimed).toBe(40);
      // Each claim reads entries from the index's head, those of jobs claimed before it included
      // (at most 5 + 10 + … + 40 = 180). A plan that matched the picked jobs against the whole index
      // read all ~2,000 queued entries on every claim (~16,500 in all).
      expect(await read() - before).toBeLessThan(2000);
    } finally {
      await fresh.close();
    }
  });
});
