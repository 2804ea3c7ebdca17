/**
 * A crash storm: the API and two workers as separate processes (the real entry, roles `api` and
 * `worker`) on one Postgres, with project creates, suspends and store creates in flight, while a
 * random one of them is SIGKILLed at a random moment, 50 times, and started again each time.
 * At the end every acknowledged (202) request is present and final, every job is final and
 * none died, and each side effect on the data plane happened once: one database and role per
 * project (none for anything else), the suspended ones closed, every store ready.
 *
 * Twice: on the local runner (two workers), and on the QStash transport through its contract
 * fake with every delivery sent three times at once, the worker host being one of the victims
 * (QStash retries what it couldn't deliver; the scheduled sweep resends what was never published).
 */
import { afterAll, describe, expect, it } from 'vitest';
import { randomBytes } from 'node:crypto';
import { chmod, mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import postgres from 'postgres';
import { killStartedEntries, startEntry, type Entry } from './helpers/entry.ts';
import { FakeQStash } from './fakes/qstash.ts';
import { createQStashClient, ensureSweepSchedule, SWEEP_SCHEDULE_ID } from '../workers/queue/qstash.ts';
import { freePort } from './helpers/net.ts';
import { ROOMY_RATE_LIMITS, createTestDatabase, serverUrl, waitFor } from './helpers/system.ts';

const KILLS = Number(process.env.STORM_KILLS ?? 50);

let dataDir: string;
let env: Record<string, string>;
let base: string;
let db: postgres.Sql;
let admin: postgres.Sql;
let fake: FakeQStash | null = null;
let sweepTimer: ReturnType<typeof setInterval> | undefined;
const procs: Record<string, Entry> = {};
const workerPorts: Record<string, number> = {};

function start(role: 'api' | 'worker', name: string) {
  procs[name] = startEntry({ ...env, SWITCHYARD_ROLE: role, ...(workerPorts[name] ? { PORT: String(workerPorts[name]) } : {}) });
}

async function setUp(transport: 'local' | 'qstash'): Promise<string[]> {
  dataDir = await mkdtemp(join(tmpdir(), 'switchyard-storm-'));
  await chmod(dataDir, 0o755);
  const url = await createTestDatabase();
  const port = await freePort();
  base = `http://127.0.0.1:${port}`;
  env = {
    DATABASE_URL: url, SWITCHYARD_DATA_DIR: dataDir, PORT: String(port), LOG_LEVEL: 'info',
    SWITCHYARD_SECRET_KEY: randomBytes(32).toString('base64url'),
    SWITCHYARD_JOB_LEASE_MS: '2000', SWITCHYARD_SWEEP_INTERVAL_MS: '300', SWITCHYARD_POLL_INTERVAL_MS: '200',
    SWITCHYARD_RETRY_BASE_MS: '100', SWITCHYARD_RETRY_MAX_MS: '500', SWITCHYARD_MAX_ATTEMPTS: '20',
    SWITCHYARD_STORE_CREATES_PER_MIN: '1000', SWITCHYARD_SHUTDOWN_GRACE_MS: '500', SWITCHYARD_AUTH_CACHE_MS: '60000',
    SWITCHYARD_PROJECT_HEALTH_INTERVAL_S: '0', SWITCHYARD_PROJECT_METRICS_INTERVAL_S: '0',
    // The storm is about crashes: limits roomy enough that no answer is a 429.
    ...ROOMY_RATE_LIMITS,
  };
  let victims = ['api', 'w1', 'w2'];
  if (transport === 'qstash') {
    fake = await new FakeQStash({ retryDelayMs: () => 300, retryAfterUnitMs: 100 }).start();
    fake.duplicateEveryDelivery(2);
    workerPorts.w1 = await freePort();
    const workerUrl = `http://127.0.0.1:${workerPorts.w1}`;
    Object.assign(env, {
      QSTASH_TOKEN: fake.token, QSTASH_URL: fake.url, QSTASH_CURRENT_SIGNING_KEY: fake.currentSigningKey, QSTASH_NEXT_SIGNING_KEY: fake.nextSigningKey,
      SWITCHYARD_WORKER_URL: workerUrl, SWITCHYARD_QSTASH_RETRIES: '40', SWITCHYARD_REDISPATCH_AFTER_MS: '3000',
    });
    await ensureSweepSchedule(createQStashClient({ QSTASH_TOKEN: fake.token, QSTASH_URL: fake.url }), workerUrl);
    // The schedule's cron, faster: the sweep resends jobs whose publish was lost with a killed API.
    sweepTimer = setInterval(() => fake?.fireSchedule(SWEEP_SCHEDULE_ID), 1000);
    victims = ['api', 'w1'];
  }
  db = postgres(url, { max: 2, onnotice: () => {} });
  admin = postgres(serverUrl(), { max: 1, onnotice: () => {} });
  start('api', 'api');
  await waitFor(async () => (await fetch(`${base}/readyz`).then((r) => r.status).catch(() => 0)) === 200, 60_000, 'api up');
  for (const w of victims.filter((v) => v !== 'api')) start('worker', w);
  return victims;
}

async function tearDown() {
  clearInterval(sweepTimer);
  killStartedEntries();
  await fake?.close();
  fake = null;
  for (const k of Object.keys(workerPorts)) delete workerPorts[k];
  await db?.end();
  await admin?.end();
  if (dataDir) await rm(dataDir, { recursive: true, force: true });
}

async function call(method: string, path: string, key: string, body?: unknown, headers: Record<string, string> = {}) {
  try {
    const res = await fetch(base + path, {
      method, headers: { Authorization: `Bearer ${key}`, 'Content-Type': 'application/json', ...headers },
      ...(body === undefined ? {} : { body: JSON.stringify(body) }), signal: AbortSignal.timeout(5000),
    });
    return { status: res.status, body: await res.json().catch(() => null) as any };
  } catch (err) {
    if (process.env.STORM_DEBUG) console.log('call failed', method, path, String((err as Error).cause ?? err));
    return { status: 0, body: null }; // the API was down: not acknowledged
  }
}

async function storm(names: string[]) {
    const operatorKey = (await readFile(join(dataDir, 'admin-key'), 'utf8')).trim();
    const tenant = await waitFor(async () => {
      const r = await call('POST', '/v1/tenants', operatorKey, { name: 'storm', plan: 'enterprise' });
      return r.status === 201 ? r.body : null;
    }, 20_000, 'tenant');
    const key = tenant.api_key.secret as string;

    // `tried`: a suspend was sent and its answer lost (status 0): it may or may not have been taken.
    const projects = new Map<string, { suspended: boolean; tried?: boolean }>();
    const stores = new Set<string>();
    let running = true;
    let n = 0;
    const creates = (async () => {
      while (running) {
        // Retried with one Idempotency-Key until acknowledged: a lost answer is not a lost create.
        const idem = `storm-${++n}`;
        for (let attempt = 0; attempt < 40 && running; attempt++) {
          const r = await call('POST', '/v1/projects', key, { name: `storm ${n}` }, { 'Idempotency-Key': idem });
          if (r.status === 202 || r.status === 200) {
            projects.set(r.body.project.id, { suspended: false });
            break;
          }
          await new Promise((res) => setTimeout(res, 100));
        }
        await new Promise((res) => setTimeout(res, 150));
      }
    })();
    const suspends = (async () => {
      while (running) {
        await new Promise((res) => setTimeout(res, 300));
        for (const [id, p] of projects) {
          if (p.suspended) continue;
          // A project still provisioning answers 409: try the next one.
          const r = await call('POST', `/v1/projects/${id}/suspend`, key);
          if (process.env.STORM_DEBUG) console.log('suspend', r.status, JSON.stringify(r.body).slice(0, 200));
          if (r.status === 202) {
            p.suspended = true;
            break;
          }
          if (r.status === 0) p.tried = true;
        }
      }
    })();
    const storeCreates = (async () => {
      for (let i = 0; i < 8 && running; i++) {
        await new Promise((res) => setTimeout(res, 1500));
        const idem = `storm-store-${i}`;
        for (let attempt = 0; attempt < 40 && running; attempt++) {
          const r = await call('POST', '/v1/stores', key, { name: `storm-shop-${i}`, engine: i % 2 ? 'medusa' : 'woocommerce' }, { 'Idempotency-Key': idem });
          if (r.status === 202 || r.status === 200) {
            stores.add(r.body.store.id);
            break;
          }
          await new Promise((res) => setTimeout(res, 100));
        }
      }
    })();

    // The storm: a random moment, a random process among those up (one still starting isn't
    // killed again, or the API would hardly ever answer), SIGKILL, start it again.
    // A calm start, so suspends have active projects to act on while the storm runs.
    await waitFor(async () => (await db`select count(*)::int as n from projects where status = 'active'`)[0]!.n >= 4, 30_000, 'a few active projects');
    const up = (name: string) => /"msg":"(listening|runner started)"/.test(procs[name]!.out.text);
    for (let k = 0; k < KILLS; k++) {
      await new Promise((res) => setTimeout(res, 200 + Math.random() * 800));
      const candidates = names.filter(up);
      if (candidates.length === 0) {
        k--;
        continue;
      }
      const name = candidates[Math.floor(Math.random() * candidates.length)]!;
      const victim = procs[name]!;
      victim.child.kill('SIGKILL');
      await victim.exited;
      start(name === 'api' ? 'api' : 'worker', name);
    }
    await new Promise((res) => setTimeout(res, 1000));
    running = false;
    await Promise.all([creates, suspends, storeCreates]);

    const suspended = [...projects.values()].filter((p) => p.suspended).length;
    if (process.env.STORM_DEBUG) for (const [name, p] of Object.entries(procs)) console.log(name, p.out.text.slice(-3000));
    if (process.env.STORM_DEBUG) console.log(await db`select status, count(*)::int from projects group by status`);
    console.log(`storm (${fake ? 'qstash, every delivery x3' : 'local runner'}): ${KILLS} kills; acknowledged ${projects.size} creates, ${suspended} suspends, ${stores.size} store creates`);
    expect(projects.size).toBeGreaterThan(10);
    expect(suspended).toBeGreaterThanOrEqual(2);
    expect(stores.size).toBeGreaterThanOrEqual(3);

    // Settled: every job final, leases of killed workers expired and re-claimed.
    await waitFor(async () => (await db`select count(*)::int as n from jobs where status in ('queued', 'running')`)[0]!.n === 0, 90_000, 'every job final');
    const deadJobs = await db`select id, kind, last_error from jobs where status = 'dead'`;
    expect(deadJobs).toEqual([]);

    // Every acknowledged request is present and final.
    const rows = await db<{ id: string; status: string }[]>`select id, status from projects where id = any(${[...projects.keys()]})`;
    expect(rows.length).toBe(projects.size);
    for (const r of rows) {
      const p = projects.get(r.id)!;
      if (p.suspended) expect(r.status, r.id).toBe('suspended');
      else expect(r.status, r.id).toBe(p.tried && r.status === 'suspended' ? 'suspended' : 'active');
    }
    const storeRows = await db<{ id: string; status: string }[]>`select id, status from stores where id = any(${[...stores]})`;
    expect(storeRows.map((s) => s.status)).toEqual([...stores].map(() => 'ready'));

    // No create was duplicated: one project per Idempotency-Key name.
    const dupes = await db`select name, count(*)::int as n from projects group by name having count(*) > 1`;
    expect(dupes).toEqual([]);

    // Data-plane side effects, once each: a database per project and nothing else; suspended ones closed.
    const all = await db<{ id: string; status: string }[]>`select id, status from projects`;
    const dbs = await admin<{ datname: string; datallowconn: boolean }[]>`select datname, datallowconn from pg_database where datname = any(${all.map((p) => p.id)})`;
    expect(dbs.map((d) => d.datname).sort()).toEqual(all.map((p) => p.id).sort());
    for (const d of dbs) expect(d.datallowconn, d.datname).toBe(all.find((p) => p.id === d.datname)!.status !== 'suspended');
    const provisions = await db`select subject_id, count(*)::int as n from jobs j join job_events e on e.job_id = j.id
                                 where j.kind = 'project.provision' and e.type = 'succeeded' group by subject_id having count(*) <> 1`;
    expect(provisions).toEqual([]);
}

describe('crash storm', () => {
  afterAll(tearDown);
  it(`loses nothing acknowledged while ${KILLS} random SIGKILLs hit the API and two workers (local runner)`, async () => {
    await storm(await setUp('local'));
    await tearDown();
  }, 450_000);

  it(`loses nothing acknowledged while ${KILLS} random SIGKILLs hit the API and the worker host, every QStash delivery sent three times`, async () => {
    await storm(await setUp('qstash'));
    // Messages QStash gave up on while the worker host was down are in its DLQ; the sweep sent
    // their jobs again, which is why every job above is final.
    console.log(`qstash dead-letter queue: ${fake?.dlq().length ?? 0} messages`);
  }, 450_000);
});
