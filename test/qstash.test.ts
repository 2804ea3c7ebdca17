/**
 * The QStash transport end to end, against the contract fake (test/fakes/qstash.ts) with the real
 * @upstash/qstash Client publishing to it and the real Receiver verifying what it delivers: the
 * project lifecycle, duplicate deliveries, forged and rotated signatures, a malformed message, a
 * publish that fails after commit (the scheduled sweeper recovers it), and a worker process
 * SIGKILLed mid-step.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { spawn } from 'node:child_process';
import { z } from 'zod';
import { insertJob } from '../db/jobs.repo.ts';
import { defineTask } from '../workers/registry.ts';
import { continueAfter, done } from '../workers/step.ts';
import { newId } from '../core/ids.ts';
import { createQStashClient, ensureSweepSchedule, SWEEP_SCHEDULE_ID } from '../workers/queue/qstash.ts';
import { deliveryClaims, FakeQStash, signQStashJwt } from './fakes/qstash.ts';
import { FakeRenderApi } from './fakes/log-providers.ts';
import { freePort } from './helpers/net.ts';
import { workerPool } from './helpers/workers.ts';
import { createTestDatabase, dbUrl, one, startTestSystem, waitFor, type TestSystem } from './helpers/system.ts';

const RENDER_KEY = 'rnd_qstash_pull_key_1234';
let fake: FakeQStash;
let render: FakeRenderApi;
let sys: TestSystem;
let workerUrl: string;

function qstashEnv(port: number) {
  return {
    QSTASH_TOKEN: fake.token,
    QSTASH_URL: fake.url,
    QSTASH_CURRENT_SIGNING_KEY: fake.currentSigningKey,
    QSTASH_NEXT_SIGNING_KEY: fake.nextSigningKey,
    SWITCHYARD_WORKER_URL: `http://127.0.0.1:${port}`,
    SWITCHYARD_QSTASH_RETRIES: '12',
    SWITCHYARD_QSTASH_PARALLELISM: '3',
    PORT: String(port),
  };
}

/** Two steps with a 1.5 s wait between them: the second is a delayed publish. */
const twoSteps = defineTask({
  kind: 'test.two_steps',
  payload: z.object({}),
  async run(ctx) {
    if (!ctx.state) return continueAfter(1500, { first_done_at: Date.now() }, 'waiting for the provider');
    return done({ waited_ms: Date.now() - (ctx.state as { first_done_at: number }).first_done_at });
  },
});

/** Holds its delivery open for a while and records when, to observe concurrency per tenant. */
const hold = defineTask({
  kind: 'test.hold',
  payload: z.object({}),
  async run(ctx) {
    const sql = ctx.deps.db.sql;
    await sql`insert into test_holds (job_id, tenant_id, phase) values (${ctx.job.id}, ${ctx.job.tenantId}, 'start')`;
    await new Promise((r) => setTimeout(r, 300));
    await sql`insert into test_holds (job_id, tenant_id, phase) values (${ctx.job.id}, ${ctx.job.tenantId}, 'end')`;
    return done();
  },
});

beforeAll(async () => {
  // Fast redeliveries; a Retry-After second lasts 250 ms here.
  fake = await new FakeQStash({ retryDelayMs: (n) => 100 * 2 ** Math.min(n, 4), retryAfterUnitMs: 250 }).start();
  const port = await freePort();
  render = await new FakeRenderApi(RENDER_KEY).start();
  sys = await startTestSystem(
    { ...qstashEnv(port), SWITCHYARD_JOB_LEASE_MS: '3000', SWITCHYARD_RENDER_API_URL: `${render.url}/v1` },
    { extraTasks: [twoSteps, hold] },
  );
  workerUrl = `http://127.0.0.1:${port}`;
  await sys.db.sql`create table test_holds (id serial, job_id text, tenant_id text, phase text, at timestamptz default clock_timestamp())`;
});
afterAll(async () => {
  await sys?.stop();
  await fake?.close();
  await render?.close();
});

const job = (id: string) => one(sys.db.sql`select * from jobs where id = ${id}`);
const events = (id: string) => sys.db.sql<{ type: string; data: any }[]>`select type, data from job_events where job_id = ${id} order by id`;
const projectStatus = async (id: string) => (await sys.api('GET', `/v1/projects/${id}`)).body.project.status as string;

/** A delivery as QStash would make it, for hand-made requests. */
function signed(path: string, body: string, key = fake.currentSigningKey, sub = `${workerUrl}${path}`) {
  return fetch(`${workerUrl}${path}`, {
    method: 'POST',
    headers: { 'Content-Type': 'application/json', 'Upstash-Signature': signQStashJwt(key, deliveryClaims(sub, body)) },
    body,
  });
}

describe('QStash transport', () => {
  it('runs the project lifecycle through signed deliveries', async () => {
    const created = await sys.api('POST', '/v1/projects', { body: { name: 'Pushed', slug: 'pushed' } });
    expect(created.status).toBe(202);
    const id: string = created.body.project.id;
    const jobId: string = created.body.job.id;
    await waitFor(async () => (await projectStatus(id)) === 'active', 15_000, 'project active');

    // What reached QStash: one publish per job epoch, deduplicated by job id, flow control by tenant.
    const tenantId = (await job(jobId)).tenantId;
    const pub = fake.publishRequests.find((p) => p.body.includes(jobId))!;
    expect(pub.destination).toBe(`${workerUrl}/workers/jobs`);
    expect(pub.headers['upstash-deduplication-id']).toBe(`${jobId}-s0-a0`);
    expect(pub.headers['upstash-flow-control-key']).toBe(`tenant-${tenantId}`);
    expect(pub.headers['upstash-flow-control-value']).toBe('parallelism=3');
    expect(pub.headers['upstash-retries']).toBe('12');
    expect(JSON.parse(pub.body)).toEqual({ job_id: jobId, tenant_id: tenantId, step: 0, attempt: 0 });
    // The job's trace goes with the publish (a span of it), and QStash forwards it to the worker.
    const [row0] = await sys.db.sql<{ traceparent: string }[]>`select traceparent from jobs where id = ${jobId}`;
    const traceparent = row0!.traceparent;
    expect(pub.headers['upstash-forward-traceparent']).toMatch(new RegExp(`^00-${traceparent.slice(3, 35)}-[0-9a-f]{16}-01$`));
    expect(pub.headers['upstash-forward-traceparent']).not.toBe(traceparent);
    expect(fake.messages.get((await job(jobId)).dispatchId!)?.headers.traceparent).toBe(pub.headers['upstash-forward-traceparent']);

    // The publish result is recorded on the job and in its timeline.
    const row = await job(jobId);
    expect(row.status).toBe('succeeded');
    expect(row.dispatchId).toMatch(/^msg_/);
    const timeline = (await events(jobId)).map((e) => e.type);
    // `dispatched` is written when the publish answers, which a fast delivery can beat.
    expect(timeline.filter((t) => t !== 'dispatched')).toEqual(['created', 'started', 'succeeded']);
    expect((await events(jobId)).find((e) => e.type === 'dispatched')?.data).toEqual({ transport: 'qstash', message_id: row.dispatchId });
    expect(fake.messages.get(row.dispatchId)?.state).toBe('delivered');

    for (const [action, status] of [['suspend', 'suspended'], ['resume', 'active']] as const) {
      const res = await sys.api('POST', `/v1/projects/${id}/${action}`);
      expect(res.status).toBe(202);
      await waitFor(async () => (await projectStatus(id)) === status, 15_000, `project ${status}`);
    }
    expect((await sys.api('DELETE', `/v1/projects/${id}`)).status).toBe(202);
    await waitFor(async () => (await projectStatus(id)) === 'deleted', 15_000, 'project deleted');
  });

  it('runs a job once when QStash delivers it twice at the same moment, and again later', async () => {
    fake.duplicateNext(1);
    const created = await sys.api('POST', '/v1/projects', { body: { name: 'Twice' } });
    const jobId: string = created.body.job.id;
    await waitFor(async () => (await job(jobId)).status === 'succeeded', 15_000, 'job succeeded');
    await fake.idle();
    const msg = (await job(jobId)).dispatchId as string;
    // Two HTTP deliveries of one message; one step ran.
    expect(fake.deliveries.filter((d) => d.messageId === msg).length).toBeGreaterThanOrEqual(2);
    expect((await events(jobId)).filter((e) => e.type === 'started')).toHaveLength(1);

    // A redelivery after success (at-least-once): 200, nothing runs.
    const body = JSON.stringify({ job_id: jobId, tenant_id: (await job(jobId)).tenantId, step: 0, attempt: 0 });
    const again = await signed('/workers/jobs', body);
    expect(again.status).toBe(200);
    expect(await again.json()).toMatchObject({ outcome: 'duplicate', status: 'succeeded' });
    expect((await events(jobId)).filter((e) => e.type === 'started')).toHaveLength(1);
    expect((await job(jobId)).attempts).toBe(1);
  });

  it('refuses forged, tampered, misaddressed and unsigned deliveries, and changes nothing', async () => {
    const tenant = await one(sys.db.sql`select id from tenants limit 1`);
    const id = newId('job');
    await insertJob(sys.db.sql, { id, tenantId: tenant.id, kind: 'project.provision', payload: {}, maxAttempts: 3 });
    const body = JSON.stringify({ job_id: id, tenant_id: tenant.id, step: 0, attempt: 0 });
    const before = await job(id);

    const unsigned = await fetch(`${workerUrl}/workers/jobs`, { method: 'POST', headers: { 'Content-Type': 'application/json' }, body });
    expect(unsigned.status).toBe(401);
    expect(unsigned.headers.get('content-type')).toContain('application/problem+json');
    expect((await signed('/workers/jobs', body, 'sig_someone_elses_key')).status).toBe(401);
    // Signed for this body, but sent with a different one.
    const tampered = await fetch(`${workerUrl}/workers/jobs`, {
      method: 'POST',
      headers: { 'Upstash-Signature': signQStashJwt(fake.currentSigningKey, deliveryClaims(`${workerUrl}/workers/jobs`, body)) },
      body: body.replace('"attempt":0', '"attempt":1'),
    });
    expect(tampered.status).toBe(401);
    // A genuine signature for the sweep URL replayed against the jobs URL.
    expect((await signed('/workers/jobs', body, fake.currentSigningKey, `${workerUrl}/workers/sweep`)).status).toBe(401);

    // Through the fake: every delivery of a forged message is refused; the job never starts.
    fake.signWith = 'forged';
    try {
      const msg = await createQStashClient({ QSTASH_TOKEN: fake.token, QSTASH_URL: fake.url })
        .publishJSON({ url: `${workerUrl}/workers/jobs`, body: JSON.parse(body), retries: 1 });
      await waitFor(async () => fake.messages.get(msg.messageId)?.state === 'dlq', 10_000, 'forged message to give up');
      expect(fake.deliveries.filter((d) => d.messageId === msg.messageId).map((d) => d.status)).toEqual([401, 401]);
    } finally {
      fake.signWith = 'current';
    }
    const after = await job(id);
    expect(after).toEqual(before);
    expect((await events(id)).map((e) => e.type)).toEqual(['created']);

    // Key rotation: a delivery signed with the next key is accepted.
    const rotated = await signed('/workers/jobs', body, fake.nextSigningKey);
    expect(rotated.status).toBe(200);
    await sys.db.sql`update jobs set status = 'canceled' where id = ${id}`;
  });

  it('answers a malformed message with 489 and Upstash-NonRetryable-Error, so QStash stops', async () => {
    const direct = await signed('/workers/jobs', '{"hello":"world"}');
    expect(direct.status).toBe(489);
    expect(direct.headers.get('upstash-nonretryable-error')).toBe('true');
    expect((await signed('/workers/jobs', 'not json')).status).toBe(489);
    const unknown = JSON.stringify({ job_id: newId('job'), tenant_id: newId('ten'), step: 0, attempt: 0 });
    expect((await signed('/workers/jobs', unknown)).status).toBe(489);

    const msg = await createQStashClient({ QSTASH_TOKEN: fake.token, QSTASH_URL: fake.url })
      .publishJSON({ url: `${workerUrl}/workers/jobs`, body: { nope: true }, retries: 5 });
    await waitFor(async () => fake.messages.get(msg.messageId)?.state === 'dlq', 10_000, 'message in the DLQ');
    // One delivery: a 489 is not retried.
    expect(fake.deliveries.filter((d) => d.messageId === msg.messageId).map((d) => d.status)).toEqual([489]);
  });

  it('publishes a continuation as a new delayed message, delivered when due', async () => {
    const tenant = await one(sys.db.sql`select id from tenants limit 1`);
    const id = newId('job');
    const inserted = await insertJob(sys.db.sql, { id, tenantId: tenant.id, kind: 'test.two_steps', payload: {}, maxAttempts: 3 });
    await sys.runnerDeps.queue.dispatch([inserted]);
    const finished = await waitFor(async () => {
      const j = await job(id);
      return j.status === 'succeeded' ? j : null;
    }, 15_000, 'two-step job');
    expect(finished.steps).toBe(1);
    expect((finished.result as { waited_ms: number }).waited_ms).toBeGreaterThanOrEqual(1400);

    const pubs = fake.publishRequests.filter((p) => p.body.includes(id));
    expect(pubs.map((p) => p.headers['upstash-deduplication-id'])).toEqual([`${id}-s0-a0`, `${id}-s1-a0`]);
    expect(pubs[0]!.headers['upstash-not-before']).toBeUndefined();
    const notBefore = Number(pubs[1]!.headers['upstash-not-before']);
    const progress = (await events(id)).find((e) => e.type === 'progress')!;
    // Whole seconds, never before the job is due.
    expect(notBefore * 1000).toBeGreaterThanOrEqual(Date.parse(progress.data.next_run_at));
    expect(JSON.parse(pubs[1]!.body)).toMatchObject({ step: 1, attempt: 0 });
  });

  it('keeps each tenant within its flow-control parallelism, so a busy tenant cannot starve another', async () => {
    const [busy, quiet] = [newId('ten'), newId('ten')];
    await sys.db.sql`insert into tenants (id, name, plan) values (${busy}, 'busy', 'pro'), (${quiet}, 'quiet', 'pro')`;
    const busyJobs = await Promise.all(Array.from({ length: 9 }, () =>
      insertJob(sys.db.sql, { id: newId('job'), tenantId: busy, kind: 'test.hold', payload: {}, maxAttempts: 3 })));
    const quietJob = await insertJob(sys.db.sql, { id: newId('job'), tenantId: quiet, kind: 'test.hold', payload: {}, maxAttempts: 3 });
    await sys.runnerDeps.queue.dispatch([...busyJobs, quietJob]);
    await waitFor(async () => (await sys.db.sql`select 1 from jobs where tenant_id in (${busy}, ${quiet}) and status <> 'succeeded'`).length === 0, 20_000, 'all held jobs');

    const rows = await sys.db.sql<{ tenantId: string; jobId: string; phase: string }[]>`
      select tenant_id, job_id, phase from test_holds where tenant_id in (${busy}, ${quiet}) order by at, id`;
    let running = 0;
    let peak = 0;
    for (const r of rows.filter((r) => r.tenantId === busy)) {
      running += r.phase === 'start' ? 1 : -1;
      peak = Math.max(peak, running);
    }
    expect(peak).toBe(3); // SWITCHYARD_QSTASH_PARALLELISM
    // The quiet tenant's one job started in the first wave, not after the busy tenant's backlog.
    const starts = rows.filter((r) => r.phase === 'start').map((r) => r.jobId);
    expect(starts.indexOf(quietJob.id)).toBeLessThan(4);
  });

  it('answers 429 with Retry-After while the job runs under a live lease', async () => {
    const tenant = await one(sys.db.sql`select id from tenants limit 1`);
    const id = newId('job');
    await insertJob(sys.db.sql, { id, tenantId: tenant.id, kind: 'project.provision', payload: {}, maxAttempts: 3 });
    await sys.db.sql`update jobs set status = 'running', attempts = 1, locked_by = 'elsewhere',
                     lease_expires_at = now() + interval '30 seconds' where id = ${id}`;
    const res = await signed('/workers/jobs', JSON.stringify({ job_id: id, tenant_id: tenant.id, step: 0, attempt: 0 }));
    expect(res.status).toBe(429);
    const retryAfter = Number(res.headers.get('retry-after'));
    expect(retryAfter).toBeGreaterThanOrEqual(28);
    expect(retryAfter).toBeLessThanOrEqual(30);
    expect((await job(id)).lockedBy).toBe('elsewhere');
    await sys.db.sql`update jobs set status = 'canceled', lease_expires_at = null where id = ${id}`;
  });

  it('recovers a job whose publish failed after commit, through the scheduled sweep', async () => {
    // The schedule `npm run setup:qstash` creates; creating it twice leaves one.
    const client = createQStashClient({ QSTASH_TOKEN: fake.token, QSTASH_URL: fake.url });
    await ensureSweepSchedule(client, workerUrl);
    await ensureSweepSchedule(client, workerUrl);
    const schedules = await client.schedules.list();
    expect(schedules.filter((s) => s.scheduleId === SWEEP_SCHEDULE_ID)).toHaveLength(1);
    expect(schedules.find((s) => s.scheduleId === SWEEP_SCHEDULE_ID)).toMatchObject({ cron: '* * * * *', destination: `${workerUrl}/workers/sweep` });

    // And the script itself, as an operator runs it (asynchronously: the fake lives in this process).
    const script = spawn(process.execPath, ['--import', 'tsx', 'infra/setup-qstash.ts'], {
      env: { ...process.env, ...qstashEnv(0), SWITCHYARD_WORKER_URL: workerUrl }, stdio: ['ignore', 'pipe', 'pipe'],
    });
    let out = '';
    script.stdout!.on('data', (d) => (out += d));
    script.stderr!.on('data', (d) => (out += d));
    const status = await new Promise<number | null>((r) => script.once('exit', r));
    expect(status, out).toBe(0);
    expect(out).toContain(`schedule ${SWEEP_SCHEDULE_ID}: POST ${workerUrl}/workers/sweep`);
    expect(fake.schedules.size).toBe(1);

    // QStash is down for every publish (and the SDK's own retries) of this request.
    fake.failNextPublishes(100, 503);
    const created = await sys.api('POST', '/v1/projects', { body: { name: 'Lost publish' } });
    expect(created.status).toBe(202); // the client is not told about a signal that failed
    const jobId: string = created.body.job.id;
    await waitFor(async () => fake.publishRequests.some((p) => p.body.includes(jobId)), 5_000, 'publish attempt');
    await new Promise((r) => setTimeout(r, 300));
    fake.failNextPublishes(0);
    const stuck = await job(jobId);
    expect(stuck).toMatchObject({ status: 'queued', dispatchedAt: null, dispatchId: null });
    expect(await projectStatus(created.body.project.id)).toBe('provisioning');

    fake.fireSchedule(SWEEP_SCHEDULE_ID);
    await waitFor(async () => (await projectStatus(created.body.project.id)) === 'active', 15_000, 'project active after sweep');
    const sweep = fake.deliveries.find((d) => d.body === '{}' && d.status === 200);
    expect(sweep).toBeDefined();
    expect((await events(jobId)).map((e) => e.type).filter((t) => t !== 'dispatched')).toEqual(['created', 'started', 'succeeded']);
    expect((await job(jobId)).dispatchId).toMatch(/^msg_/);
  });

  it('pulls a log source when the QStash schedule fires the sweep (no local timer in this mode)', async () => {
    // The fake's cron really fires on the minute: keep the quiet half second below clear of one.
    const toMinute = 60_000 - (Date.now() % 60_000);
    if (toMinute < 5_000) await new Promise((r) => setTimeout(r, toMinute + 200));
    const client = createQStashClient({ QSTASH_TOKEN: fake.token, QSTASH_URL: fake.url });
    await ensureSweepSchedule(client, workerUrl);
    const now = Date.now();
    render.add('tea-qstash', [1, 2, 3].map((i) => ({
      id: `q-${i}`, message: `line ${i}`, timestamp: new Date(now - i * 60_000).toISOString(), labels: [{ name: 'resource', value: 'srv-q' }],
    })));
    const project = (await sys.api('POST', '/v1/projects', { body: { name: 'Pulled over QStash' } })).body.project.id;
    const source = (await sys.api('POST', `/v1/projects/${project}/log-sources`, {
      body: { provider: 'render', config: { owner_id: 'tea-qstash', resources: ['srv-q'] }, credentials: { api_key: RENDER_KEY } },
    })).body.log_source.id;
    await new Promise((r) => setTimeout(r, 500));
    expect(render.requests).toHaveLength(0); // due, but nothing runs the schedule until QStash fires it

    fake.fireSchedule(SWEEP_SCHEDULE_ID);
    // A pull stores its pages before its outcome commits: the job's end is what to wait for.
    const pull = await waitFor(async () => {
      const [j] = await sys.db.sql`select * from jobs where subject_id = ${source}`;
      return j?.status === 'succeeded' ? j : null;
    }, 15_000, 'the pull to succeed');
    expect(pull).toMatchObject({ kind: 'logs.pull', status: 'succeeded' });
    expect((await one(sys.db.sql`select count(*)::int as n from events where source_id = ${source}`)).n).toBe(3);
    expect(pull!.dispatchId).toMatch(/^msg_/);
    expect(render.requests.map((r) => r.query.get('ownerId'))).toEqual(['tea-qstash']);
  });

  it('sends a stale dispatch again: a job QStash gave up on is not stuck', async () => {
    const tenant = await one(sys.db.sql`select id from tenants limit 1`);
    const id = newId('job');
    await insertJob(sys.db.sql, { id, tenantId: tenant.id, kind: 'project.provision', payload: {}, maxAttempts: 3 });
    // Dispatched long ago (the message ended in the DLQ while the job waited behind its key).
    await sys.db.sql`update jobs set dispatched_at = now() - interval '1 hour', dispatch_id = 'msg_lost' where id = ${id}`;
    fake.fireSchedule(SWEEP_SCHEDULE_ID);
    await waitFor(async () => (await job(id)).dispatchId !== 'msg_lost', 10_000, 're-dispatch');
    const pub = fake.publishRequests.filter((p) => p.body.includes(id));
    expect(pub).toHaveLength(1);
    expect(pub[0]!.headers['upstash-deduplication-id']).toMatch(new RegExp(`^${id}-s0-a0-r\\d+$`));
    // payload {} is not a valid provision payload: the job dies rather than looping.
    await waitFor(async () => (await job(id)).status === 'dead', 10_000, 'job dead');
  });
});

describe('QStash transport with a separate worker process', () => {
  const workers = workerPool();
  let api: TestSystem;
  let port: number;
  const spawnWorker = (databaseUrl: string) => workers.spawn(databaseUrl, { ...qstashEnv(port), HOST: '127.0.0.1' });

  beforeAll(async () => {
    port = await freePort();
    const databaseUrl = await createTestDatabase();
    // This process is the API only; QStash delivers to the child on `port`.
    api = await startTestSystem({ ...qstashEnv(port), DATABASE_URL: databaseUrl, SWITCHYARD_ROLE: 'api', PORT: '0' });
    await api.db.sql`create table test_runs (job_id text, attempt int, phase text)`;
  });
  afterAll(async () => {
    workers.killAll();
    await api?.stop();
  });

  it('finishes a job once after its worker is SIGKILLed mid-step', async () => {
    const { db } = await one(api.db.sql`select current_database() as db`);
    const tenant = await one(api.db.sql`select id from tenants limit 1`);

    const first = await spawnWorker(dbUrl(db));
    const id = newId('job');
    const inserted = await insertJob(api.db.sql, { id, tenantId: tenant.id, kind: 'test.slow', payload: {}, maxAttempts: 3, concurrencyKey: `test:${id}` });
    await api.runnerDeps.queue.dispatch([inserted]);

    // The first attempt hangs mid-step; kill its process there.
    await waitFor(async () => (await api.db.sql`select 1 from test_runs where job_id = ${id} and phase = 'started'`).length > 0, 15_000, 'first attempt to start');
    first.kill('SIGKILL');
    await new Promise((r) => first.once('exit', r));

    // A new worker on the same URL. QStash redelivers the failed delivery: 429 while the dead
    // worker's lease lives, then a claim of the expired lease.
    await spawnWorker(dbUrl(db));
    await waitFor(async () => (await one(api.db.sql`select status from jobs where id = ${id}`)).status === 'succeeded', 30_000, 'job succeeded');

    const runs = await api.db.sql`select attempt, phase from test_runs where job_id = ${id} order by attempt, phase`;
    expect(runs).toEqual([{ attempt: 1, phase: 'started' }, { attempt: 2, phase: 'completed' }, { attempt: 2, phase: 'started' }]);
    // The job committed before its delivery's 200 went back to QStash: wait for that answer.
    const statuses = await waitFor(async () => {
      const s = fake.deliveries.filter((d) => d.body.includes(id)).map((d) => d.status);
      return s.at(-1) === 200 ? s : null;
    }, 10_000, 'the successful delivery');
    expect(statuses[0]).toBe('error'); // the delivery the kill cut off
    expect(statuses.filter((x) => x === 200)).toHaveLength(1);
  });
});
