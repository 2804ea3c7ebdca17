/**
 * The local runner's claim (switchyard_claim_due_jobs) as the database runs it: one statement,
 * and a plan that walks the queued-jobs index however stale the statistics are. A plan that
 * walked jobs_tenant_id_idx instead stepped over every finished job on each claim (~5 ms instead
 * of ~1 ms a claim in the queue benchmark), and nothing but the speed showed it.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { claimDueJobs, insertJobs, type NewJob } from '../db/jobs.repo.ts';
import { createDb, type Db } from '../db/client.ts';
import { newId } from '../functions/lib/ids.ts';
import { createTestDatabase, one } from './helpers/system.ts';

let db: Db;
const statements: string[] = [];
const tenant = newId('ten');

beforeAll(async () => {
  const url = await createTestDatabase();
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
