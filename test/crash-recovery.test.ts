/**
 * Crash recovery with real processes: a worker SIGKILLed in the middle of a step leaves its job
 * `running` under a lease; when the lease expires another worker re-claims it and it ends
 * `succeeded`, once.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { insertJob } from '../db/jobs.repo.ts';
import { newId } from '../core/ids.ts';
import { generateSecretKey } from '../core/crypto.ts';
import { startSupabaseManagementFake, type FakeManagement } from './fakes/supabase-management.ts';
import { workerPool } from './helpers/workers.ts';
import { dbUrl, startTestSystem, waitFor, type TestSystem, one } from './helpers/system.ts';

let sys: TestSystem;
const workers = workerPool();
const spawnWorker = (databaseUrl: string) =>
  workers.spawn(databaseUrl, { SWITCHYARD_POLL_INTERVAL_MS: '200', SWITCHYARD_SWEEP_INTERVAL_MS: '300' });

beforeAll(async () => {
  // API only in this process: the children are the only workers.
  sys = await startTestSystem({ SWITCHYARD_ROLE: 'api' });
  await sys.db.sql`create table test_runs (job_id text, attempt int, phase text)`;
});
afterAll(async () => {
  workers.killAll();
  await sys?.stop();
});

describe('crash recovery', () => {
  it('re-claims a job whose worker was SIGKILLed mid-step and finishes it once', async () => {
    const { db } = await one(sys.db.sql`select current_database() as db`);
    const url = dbUrl(db);

    const first = await spawnWorker(url);
    const [tenant] = await sys.db.sql`select id from tenants limit 1`;
    const id = newId('job');
    await insertJob(sys.db.sql, { id, tenantId: tenant!.id, kind: 'test.slow', payload: {}, maxAttempts: 3, concurrencyKey: `test:${id}` });
    await sys.runnerDeps.queue.dispatch([{ id, tenantId: tenant!.id, runAt: '', steps: 0, attempts: 0 }]);

    await waitFor(async () => (await sys.db.sql`select 1 from test_runs where job_id = ${id} and phase = 'started'`).length > 0, 15_000, 'step to start');
    first.kill('SIGKILL');
    await new Promise((r) => first.once('exit', r));

    const [midway] = await sys.db.sql`select status, attempts, lease_expires_at > now() as leased from jobs where id = ${id}`;
    expect(midway).toMatchObject({ status: 'running', attempts: 1, leased: true });

    await spawnWorker(url);
    const job = await waitFor(async () => {
      const [j] = await sys.db.sql`select * from jobs where id = ${id}`;
      return j!.status === 'succeeded' ? j! : null;
    }, 30_000, 'job to be re-claimed and succeed');
    expect(job.attempts).toBe(2);
    expect(job.result).toEqual({ finished_on_attempt: 2 });
    const rows = await sys.db.sql`select attempt, phase from test_runs where job_id = ${id} order by attempt, phase`;
    expect(rows).toEqual([
      { attempt: 1, phase: 'started' },
      { attempt: 2, phase: 'completed' },
      { attempt: 2, phase: 'started' },
    ]);
    const events = await sys.api('GET', `/v1/jobs/${id}`);
    expect(events.body.job.events.map((e: any) => e.type)).toContain('lease_expired');
  });
});

describe('crash recovery of a Supabase create', () => {
  let fake: FakeManagement;
  let supa: TestSystem;
  // The API and the workers share the secret key: the sealed database password outlives its worker.
  const secret = generateSecretKey();
  const supabaseEnv = () => ({
    SUPABASE_ACCESS_TOKEN: fake.token, SUPABASE_ORGANIZATION_SLUG: 'acme-org', SWITCHYARD_SUPABASE_API_URL: fake.url,
    SWITCHYARD_SUPABASE_POLL_MS: '100', SWITCHYARD_SECRET_KEY: secret,
  });
  beforeAll(async () => {
    fake = await startSupabaseManagementFake({ comingUpMs: 200 });
    supa = await startTestSystem({ SWITCHYARD_ROLE: 'api', ...supabaseEnv() });
  });
  afterAll(async () => {
    workers.killAll();
    await supa?.stop();
    await fake?.close();
  });

  it('makes exactly one Supabase project when the worker is SIGKILLed between the create call and its commit', async () => {
    const { db } = await one(supa.db.sql`select current_database() as db`);
    const url = dbUrl(db);
    const first = await workers.spawn(url, { SWITCHYARD_POLL_INTERVAL_MS: '200', ...supabaseEnv() });
    const hold = fake.holdNextCreate();
    const created = await supa.api('POST', '/v1/projects', { body: { name: 'Killed mid-create', provider: 'supabase' } });
    expect(created.status).toBe(202);
    const id: string = created.body.project.id;
    // Supabase has made the project; its answer has not reached the worker, which dies now.
    const ref = await hold.created;
    first.kill('SIGKILL');
    await new Promise((r) => first.once('exit', r));
    hold.release();
    const state = (await one(supa.db.sql`select state from jobs where id = ${created.body.job.id}`)).state as { intent?: unknown; ref?: unknown };
    expect(state.intent).toBeTruthy();
    expect(state.ref).toBeUndefined();

    await workers.spawn(url, { SWITCHYARD_POLL_INTERVAL_MS: '200', ...supabaseEnv() });
    const project = await waitFor(async () => {
      const p = (await supa.api('GET', `/v1/projects/${id}`)).body.project;
      if (p.status === 'failed') throw new Error(`failed: ${p.last_error}`);
      return p.status === 'active' ? p : null;
    }, 30_000, 'project active');
    expect(project.api_url).toBe(`https://${ref}.supabase.co`);
    expect([...fake.projects.values()].filter((p) => p.name.endsWith(`(${id})`)).map((p) => p.ref)).toEqual([ref]);
    expect(fake.requests.filter((r) => r.method === 'POST' && r.path === '/v1/projects')).toHaveLength(1);
    // The credentials carry the password the dead worker gave Supabase.
    const creds = await supa.api('GET', `/v1/projects/${id}/credentials`);
    expect(creds.body.connection_string).toContain(`:${encodeURIComponent(fake.projects.get(ref)!.dbPass)}@`);
  });
});
