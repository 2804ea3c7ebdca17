/**
 * `npm run bench`: every figure next to a baseline measured in the same run, on the same embedded
 * Postgres, because these machines are noisy. Prints a table; writes bench/results/<time>.json.
 *
 *   1. intent path  POST /v1/projects (API only)     vs a minimal Hono + postgres.js INSERT server
 *   1b. observability  the intent path with metrics (scraped), traces (exported) and request logs on, vs off
 *   1c. limiter     the intent path with the rate limiter on (Postgres; Redis through the Upstash REST fake), vs off
 *   2. queue        enqueue + process no-op jobs     vs graphile-worker, default configuration (logger at warning)
 *   3. realtime     commit → SSE receipt latency     vs raw LISTEN/NOTIFY receipt latency;
 *                   commit → supabase-js receipt through the Realtime fake, the fake's share, and
 *                   the trigger's added time with the realtime schema
 *   4. ingestion    events/s through a logs.pull job vs multi-row INSERT and COPY of the same rows
 *   5. log queries  GET /v1/logs and /v1/logs/stats queries over 1M events, with their plans
 *   6. load         mixed traffic (reads, creates, suspends/resumes, SSE) at 100 connections for 60 s,
 *                   then a spike to 500 (targets: p95 < 200 ms for reads and creates, < 1% errors,
 *                   none but 429/503); against the whole system (API + runner)
 *   7. soak         (only when asked: BENCH_ONLY=soak) 20 minutes of steady mixed load; RSS, event-loop
 *                   delay, handles and database connections of the first and last minute
 *   8. canary       judge quality on seeded simulated rollouts (ours, the seed's rule, Kayenta-style:
 *                   A/A false rollbacks, promotions on too little data, detection and time to detect);
 *                   telemetry ingestion vs a raw INSERT; 1,000 live rollouts judged on one interval
 *
 * Knobs: BENCH_DURATION_S (10), BENCH_CONNECTIONS (50), BENCH_JOBS (20000), BENCH_EVENTS (200000),
 *        BENCH_ONLY=intent,observability,limiter,queue,realtime,ingestion,queries,canary,load (soak: add it by name),
 *        BENCH_CANARY_AA_RUNS (100), BENCH_CANARY_RUNS (40), BENCH_CANARY_ROLLOUTS (1000),
 *        BENCH_LOAD_S (60), BENCH_SPIKE_S (20), BENCH_SOAK_MIN (20), BENCH_THINK_MS (100),
 *        BENCH_ROLE=api (load and soak against the API alone, without the runner provisioning),
 *        BENCH_OBS_PARTS=metrics,traces,logs, BENCH_OBS_PAIRS (2), BENCH_OBS_ROUNDS (3), BENCH_OBS_SCRAPE_MS (1000)
 */
import autocannon from 'autocannon';
import { chmod, mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import postgres from 'postgres';
import { z } from 'zod';
import { Logger as GraphileLogger, makeWorkerUtils, run as runGraphile } from 'graphile-worker';
import { createDb } from '../db/client.ts';
import { insertDecision } from '../db/rollouts.repo.ts';
import { insertJob, insertJobs, type NewJob } from '../db/jobs.repo.ts';
import { eventStats, listEvents } from '../db/events.repo.ts';
import { migrate } from '../functions/entry/migrate.ts';
import { createSignaler, EVENTS_CHANNEL, sendSignals } from '../db/notify.repo.ts';
import { startEmbeddedPostgres } from '../functions/entry/embedded-postgres.ts';
import { createSecretBox, generateSecretKey, parseSecretKey } from '../core/crypto.ts';
import { newId } from '../core/ids.ts';
import { createLogger } from '../core/log.ts';
import { createLocalRunner } from '../workers/queue/local-runner.ts';
import { createLocalQueue } from '../workers/queue/queue.ts';
import { createRegistry, defineTask, untraced } from '../workers/registry.ts';
import type { RunnerDeps } from '../workers/run-job.ts';
import { done } from '../workers/step.ts';
import { openSse } from '../test/helpers/sse.ts';
import { startRealtimeFake } from '../test/fakes/supabase-realtime.ts';
import { createClient } from '@supabase/supabase-js';
import { SignJWT } from 'jose';
import WebSocket from 'ws';
import { FakeSupabaseLogs } from '../test/fakes/log-providers.ts';
import { createSupabaseLogPuller } from '../workers/providers/logs/pull/supabase.ts';
import { pullSource } from '../workers/tasks/logs.ts';
import { cpuSeconds, freePort, round, startProcess, stopProcess, summarize } from './lib/util.ts';
import { mixedLoad } from './lib/mixed-load.ts';

const DURATION = Number(process.env.BENCH_DURATION_S ?? 10);
const CONNECTIONS = Number(process.env.BENCH_CONNECTIONS ?? 50);
const JOBS = Number(process.env.BENCH_JOBS ?? 20_000);
const EVENTS = Number(process.env.BENCH_EVENTS ?? 200_000);
const ONLY = new Set((process.env.BENCH_ONLY ?? 'intent,observability,limiter,queue,realtime,ingestion,queries,canary,load').split(','));
const CONCURRENCY = 10;
/** Load and soak: each client's pause between an answer and its next request. */
const THINK_MS = Number(process.env.BENCH_THINK_MS ?? 100);

const results: Record<string, unknown> = {
  started_at: new Date().toISOString(),
  node: process.version,
  settings: { duration_s: DURATION, connections: CONNECTIONS, jobs: JOBS, events: EVENTS, concurrency: CONCURRENCY },
};
const table: Array<[string, string, string, string]> = [];
const log = (msg: string) => console.error(`[bench] ${msg}`);

const dir = await mkdtemp(join(tmpdir(), 'switchyard-bench-'));
await chmod(dir, 0o755);
const pg = await startEmbeddedPostgres(dir, await freePort());
// A failed section must not leave the embedded server running behind the process.
process.once('uncaughtException', (err) => {
  console.error(err);
  void pg.stop().catch(() => {}).finally(() => process.exit(1));
});
const admin = postgres(pg.url, { max: 1, onnotice: () => {} });
async function freshDb(name: string): Promise<string> {
  await admin.unsafe(`drop database if exists ${name} with (force)`);
  await admin.unsafe(`create database ${name}`);
  const u = new URL(pg.url);
  u.pathname = `/${name}`;
  return u.toString();
}

async function load(url: string, headers: Record<string, string>, body: () => string, serverPid?: number, perRequest?: () => Record<string, string>) {
  const before = cpuSeconds(serverPid ? [serverPid] : []);
  const res = await autocannon({
    url,
    method: 'POST',
    connections: CONNECTIONS,
    duration: DURATION,
    headers: { 'content-type': 'application/json', ...headers },
    requests: [{
      setupRequest: (req: Record<string, unknown>) =>
        ({ ...req, body: body(), ...(perRequest ? { headers: { ...(req.headers as object), ...perRequest() } } : {}) }),
    }],
  } as never);
  const r = res as unknown as { requests: { average: number }; latency: { p50: number; p99: number }; non2xx: number; errors: number; '2xx': number };
  const after = cpuSeconds(serverPid ? [serverPid] : []);
  // CPU per successful request, split between the server process and Postgres.
  const cpu = before && after && r['2xx'] > 0
    ? {
      node_ms: round(((after.node - before.node) * 1000) / r['2xx'], 3),
      postgres_ms: round(((after.postgres - before.postgres) * 1000) / r['2xx'], 3),
      read_syscalls: round((after.reads - before.reads) / r['2xx'], 2),
      write_syscalls: round((after.writes - before.writes) / r['2xx'], 2),
    }
    : null;
  return { req_per_s: round(r.requests.average, 0), p50_ms: r.latency.p50, p99_ms: r.latency.p99, ok: r['2xx'], non2xx: r.non2xx, errors: r.errors, cpu_per_request: cpu };
}

// ─── 1. intent path ──────────────────────────────────────────────────────────────────────────────
let apiUrl = '';
let apiKey = '';
// The limiter stays on (its cost is part of every figure), with plans roomy enough that the
// bench's thousands of requests a second measure the path, not 429s.
const BENCH_RATE_LIMITS = {
  SWITCHYARD_RATE_LIMIT_PLANS: 'free=10000000/1000000,pro=10000000/1000000,enterprise=10000000/1000000',
  SWITCHYARD_RATE_LIMIT_CLASSES: 'log-pulls=1000000/100000,backtests=1000000/100000,tokens=1000000/100000,webhooks=10000000/1000000,unauthenticated=1000000/100000',
  SWITCHYARD_STORE_CREATES_PER_MIN: '1000000',
};

let apiChild: Awaited<ReturnType<typeof startProcess>> | null = null;
if (ONLY.has('intent') || ONLY.has('realtime')) {
  const oursDb = await freshDb('bench_intent');
  const dataDir = join(dir, 'api-data');
  await mkdir(dataDir, { recursive: true });
  const port = await freePort();
  apiChild = await startProcess('functions/entry/node.ts', {
    ...BENCH_RATE_LIMITS,
    DATABASE_URL: oursDb, SWITCHYARD_ROLE: 'api', PORT: String(port), SWITCHYARD_DATA_DIR: dataDir, LOG_LEVEL: 'info',
  }, '"msg":"listening"');
  apiUrl = `http://127.0.0.1:${port}`;
  apiKey = (await readFile(join(dataDir, 'admin-key'), 'utf8')).trim();
}

if (ONLY.has('intent')) {
  const baseDb = await freshDb('bench_baseline');
  const basePort = await freePort();
  const base = await startProcess('bench/lib/baseline-server.ts', { DATABASE_URL: baseDb, PORT: String(basePort) }, 'ready');
  let i = 0;
  log(`intent: baseline ${DURATION}s at ${CONNECTIONS} connections`);
  const baseline = await load(`http://127.0.0.1:${basePort}/items`, {}, () => `{"name":"item ${i++}"}`, base.pid);
  await stopProcess(base);
  log(`intent: switchyard ${DURATION}s at ${CONNECTIONS} connections`);
  const ours = await load(`${apiUrl}/v1/projects`, { authorization: `Bearer ${apiKey}` }, () => `{"name":"bench ${i++}"}`, apiChild!.pid);
  // The same creates, each with its own Idempotency-Key: each runs in a transaction of its own
  // (key lock, lookup, create, stored response), so none share a statement. Shown, not a target.
  log(`intent: switchyard with Idempotency-Key ${DURATION}s at ${CONNECTIONS} connections`);
  const keyed = await load(`${apiUrl}/v1/projects`, { authorization: `Bearer ${apiKey}` }, () => `{"name":"bench ${i++}"}`, apiChild!.pid,
    () => ({ 'idempotency-key': `bench-${i}` }));
  const ratio = round(ours.req_per_s / baseline.req_per_s, 3);
  results.intent = { baseline, switchyard: ours, switchyard_idempotency_key: keyed, throughput_ratio: ratio, target: '>= 0.60' };
  table.push(['intent: POST /v1/projects req/s', String(ours.req_per_s), String(baseline.req_per_s), `${ratio} (target ≥ 0.60)`]);
  table.push(['intent: p50 / p99 ms', `${ours.p50_ms} / ${ours.p99_ms}`, `${baseline.p50_ms} / ${baseline.p99_ms}`, '']);
  table.push(['intent: with Idempotency-Key req/s', String(keyed.req_per_s), String(baseline.req_per_s), `${round(keyed.req_per_s / baseline.req_per_s, 3)} (no target)`]);
  const cpu = (x: typeof ours) => (x.cpu_per_request ? `${x.cpu_per_request.node_ms} / ${x.cpu_per_request.postgres_ms}` : 'n/a');
  table.push(['intent: CPU ms/request node / pg', cpu(ours), cpu(baseline), '']);
  const sys = (x: typeof ours) => (x.cpu_per_request ? `${x.cpu_per_request.read_syscalls} / ${x.cpu_per_request.write_syscalls}` : 'n/a');
  table.push(['intent: syscalls/request read / write', sys(ours), sys(baseline), '']);
}

// ─── 1b. observability cost ──────────────────────────────────────────────────────────────────────
// The intent path with metrics (recorded, and scraped every second by a stand-in for Prometheus),
// traces (exported to an OTLP sink) and every request logged (LOG_LEVEL=debug), against the same
// path with all of that off (LOG_LEVEL=info; trace ids are still made; nothing recorded or sent). Two pairs, alternating, each
// process on a fresh database.
if (ONLY.has('observability')) {
  const { createServer } = await import('node:http');
  let spansBytes = 0;
  const sink = createServer((req, res) => {
    req.on('data', (d: Buffer) => (spansBytes += d.length));
    req.on('end', () => res.writeHead(200, { 'content-type': 'application/json' }).end('{}'));
  });
  await new Promise<void>((r) => sink.listen(0, '127.0.0.1', () => r()));
  const sinkUrl = `http://127.0.0.1:${(sink.address() as { port: number }).port}`;
  const TOKEN = 'bench-metrics-token-0123456789';
  // BENCH_OBS_PARTS=metrics,traces,logs (all by default): which of them "on" turns on.
  const PARTS = new Set((process.env.BENCH_OBS_PARTS ?? 'metrics,traces,logs').split(','));
  // How often the stand-in for Prometheus scrapes (ms; 0: never). Prometheus's own default is 60 s.
  const SCRAPE_MS = Number(process.env.BENCH_OBS_SCRAPE_MS ?? 1000);
  const start = async (label: string, on: boolean, n: number) => {
    const db = await freshDb(`bench_obs_${label}_${n}`);
    const dataDir = join(dir, `obs-${label}-${n}`);
    await mkdir(dataDir, { recursive: true });
    const port = await freePort();
    const child = await startProcess('functions/entry/node.ts', {
    ...BENCH_RATE_LIMITS,
      DATABASE_URL: db, SWITCHYARD_ROLE: 'api', PORT: String(port), SWITCHYARD_DATA_DIR: dataDir,
      LOG_LEVEL: on && PARTS.has('logs') ? 'debug' : 'info',
      ...(on && PARTS.has('metrics') ? { SWITCHYARD_METRICS_TOKEN: TOKEN } : {}),
      ...(on && PARTS.has('traces') ? { OTEL_EXPORTER_OTLP_ENDPOINT: sinkUrl } : {}),
    }, '"msg":"listening"');
    // The child's log goes nowhere but must be read (a full pipe would stall it).
    child.stdout!.resume();
    const url = `http://127.0.0.1:${port}`;
    const key = (await readFile(join(dataDir, 'admin-key'), 'utf8')).trim();
    let scrapes = 0;
    const scraper = on && PARTS.has('metrics') && SCRAPE_MS > 0 ? setInterval(() => void fetch(`${url}/metrics`, { headers: { authorization: `Bearer ${TOKEN}` } }).then((r) => r.text()).then(() => scrapes++, () => {}), SCRAPE_MS) : null;
    let i = 0;
    // Two seconds of the same load first: what is measured is the warm process, not its JIT.
    await autocannon({ url: `${url}/v1/projects`, method: 'POST', connections: CONNECTIONS, duration: 2, headers: { 'content-type': 'application/json', authorization: `Bearer ${key}` }, body: '{"name":"warm-up"}' } as never);
    return {
      measure: async () => ({ ...(await load(`${url}/v1/projects`, { authorization: `Bearer ${key}` }, () => `{"name":"obs ${label} ${i++}"}`, child.pid)), scrapes }),
      stop: async () => {
        if (scraper) clearInterval(scraper);
        await stopProcess(child);
      },
    };
  };
  const run = async (label: string, on: boolean, n: number) => {
    const server = await start(label, on, n);
    try {
      return await server.measure();
    } finally {
      await server.stop();
    }
  };
  type Run = Awaited<ReturnType<typeof run>>;
  const pairs: Array<{ off: Run; on: Run; ratio: number }> = [];
  const PAIRS = Number(process.env.BENCH_OBS_PAIRS ?? 2);
  for (let n = 0; n < PAIRS; n++) {
    log(`observability: pair ${n + 1}, ${n % 2 === 0 ? 'off then on' : 'on then off'}, ${DURATION}s each at ${CONNECTIONS} connections`);
    // Alternating which goes first, so a drift over the run doesn't favour one side.
    const first = n % 2 === 0 ? await run('off', false, n) : await run('on', true, n);
    const second = n % 2 === 0 ? await run('on', true, n) : await run('off', false, n);
    const [off, on] = n % 2 === 0 ? [first, second] : [second, first];
    pairs.push({ off, on, ratio: round(on.req_per_s / off.req_per_s, 3) });
  }
  // Side by side: both processes serve at once, each its own load of CONNECTIONS connections, on
  // the same cores and the same Postgres through the same seconds, so the machine's drift (which
  // moves sequential runs by ±15%) falls on both alike; the one that costs more per request gets
  // through fewer in its share of the CPU.
  const ROUNDS = Number(process.env.BENCH_OBS_ROUNDS ?? 3);
  const together: Array<{ off: Run; on: Run; ratio: number }> = [];
  for (let n = 0; n < ROUNDS; n++) {
    log(`observability: side by side ${n + 1}/${ROUNDS}, ${DURATION}s at ${CONNECTIONS} connections each`);
    const [offServer, onServer] = await Promise.all([start('off_together', false, n), start('on_together', true, n)]);
    try {
      const [off, on] = await Promise.all([offServer.measure(), onServer.measure()]);
      together.push({ off, on, ratio: round(on.req_per_s / off.req_per_s, 3) });
    } finally {
      await Promise.all([offServer.stop(), onServer.stop()]);
    }
  }
  sink.close();
  const sum = (xs: typeof pairs, side: 'on' | 'off') => xs.reduce((a, p) => a + p[side].req_per_s, 0);
  const total = pairs.length ? round(sum(pairs, 'on') / sum(pairs, 'off'), 3) : null;
  const side = round(sum(together, 'on') / sum(together, 'off'), 3);
  results.observability = { pairs, ratio: total, side_by_side: together, side_by_side_ratio: side, spans_bytes: spansBytes, target: 'on/off >= 0.95' };
  table.push(['observability on / off side by side: req/s', together.map((p) => p.on.req_per_s).join(', '), together.map((p) => p.off.req_per_s).join(', '), `${side} (rounds ${together.map((p) => p.ratio).join(', ')}; target ≥ 0.95)`]);
  table.push(['observability on / off in turn: req/s', pairs.map((p) => p.on.req_per_s).join(', '), pairs.map((p) => p.off.req_per_s).join(', '), `${total} (pairs ${pairs.map((p) => p.ratio).join(', ')})`]);
  const cpuMs = (x: Run) => x.cpu_per_request?.node_ms ?? 'n/a';
  table.push(['observability: node CPU ms/request on / off (side by side; in turn)', [...together, ...pairs].map((p) => cpuMs(p.on)).join(', '), [...together, ...pairs].map((p) => cpuMs(p.off)).join(', '), 'the cost per request']);
  table.push(['observability on: what it sent', `${[...together, ...pairs].reduce((a, p) => a + p.on.scrapes, 0)} scrapes`, `${Math.round(spansBytes / 1024)} KiB of spans`, `p99 on ${pairs.map((p) => p.on.p99_ms).join(', ')} ms, off ${pairs.map((p) => p.off.p99_ms).join(', ')} ms`]);
}

// ─── 1c. rate limiter cost ───────────────────────────────────────────────────────────────────────
// The intent path with the limiter on (Postgres buckets, the local default; and Redis through
// @upstash/redis and the Upstash REST contract fake in front of a real redis-server) against the
// limiter off (SWITCHYARD_RATE_LIMIT=off), the audit log on in all three. Each variant on a fresh
// database and process; two rounds, the order reversed in the second. Target: Postgres on / off
// ≥ 0.90. The REST fake runs in this process, beside the load generator, so the Redis figure
// carries the fake's cost too.
if (ONLY.has('limiter')) {
  const { startUpstashFake } = await import('../test/fakes/upstash-redis.ts');
  const upstash = await startUpstashFake();
  type Variant = 'off' | 'postgres' | 'redis';
  const env: Record<Variant, Record<string, string>> = {
    off: { SWITCHYARD_RATE_LIMIT: 'off' },
    postgres: { SWITCHYARD_RATE_LIMIT: 'on' },
    redis: { SWITCHYARD_RATE_LIMIT: 'on', UPSTASH_REDIS_REST_URL: upstash.url, UPSTASH_REDIS_REST_TOKEN: upstash.token },
  };
  const run = async (variant: Variant, n: number) => {
    const db = await freshDb(`bench_limiter_${variant}_${n}`);
    const dataDir = join(dir, `limiter-${variant}-${n}`);
    await mkdir(dataDir, { recursive: true });
    const port = await freePort();
    const child = await startProcess('functions/entry/node.ts', {
      ...BENCH_RATE_LIMITS, ...env[variant],
      DATABASE_URL: db, SWITCHYARD_ROLE: 'api', PORT: String(port), SWITCHYARD_DATA_DIR: dataDir, LOG_LEVEL: 'info',
    }, '"msg":"listening"');
    child.stdout!.resume();
    const url = `http://127.0.0.1:${port}`;
    const key = (await readFile(join(dataDir, 'admin-key'), 'utf8')).trim();
    const probe = await fetch(`${url}/v1/me`, { headers: { authorization: `Bearer ${key}` } });
    const policy = probe.headers.get('ratelimit-policy');
    if ((variant === 'off') !== (policy === null)) throw new Error(`limiter ${variant}: RateLimit-Policy is ${policy}`);
    let i = 0;
    const r = await load(`${url}/v1/projects`, { authorization: `Bearer ${key}` }, () => `{"name":"limiter ${i++}"}`, child.pid);
    // The audit log was on: every accepted create has its row.
    const sql = postgres(db, { max: 1, onnotice: () => {} });
    const audited = Number((await sql`select count(*)::int as n from audit_log where method = 'POST'`)[0]!.n);
    await sql.end();
    if (audited < r.ok) throw new Error(`limiter ${variant}: ${r.ok} creates accepted but ${audited} audited`);
    await stopProcess(child);
    return { ...r, audited };
  };
  const rounds: Array<Record<Variant, Awaited<ReturnType<typeof run>>>> = [];
  for (let n = 0; n < 2; n++) {
    const order: Variant[] = n % 2 === 0 ? ['off', 'postgres', 'redis'] : ['redis', 'postgres', 'off'];
    log(`limiter: round ${n + 1}: ${order.join(', ')}, ${DURATION}s each at ${CONNECTIONS} connections`);
    const round_: Partial<Record<Variant, Awaited<ReturnType<typeof run>>>> = {};
    for (const v of order) round_[v] = await run(v, n);
    rounds.push(round_ as Record<Variant, Awaited<ReturnType<typeof run>>>);
  }
  await upstash.close();
  const sum = (v: Variant) => rounds.reduce((a, r) => a + r[v].req_per_s, 0);
  const pgRatio = round(sum('postgres') / sum('off'), 3);
  const redisRatio = round(sum('redis') / sum('off'), 3);
  results.limiter = { rounds, postgres_over_off: pgRatio, redis_over_off: redisRatio, target: 'postgres / off >= 0.90' };
  const rps = (v: Variant) => rounds.map((r) => r[v].req_per_s).join(', ');
  table.push(['limiter Postgres / off: POST /v1/projects req/s', rps('postgres'), rps('off'), `${pgRatio} (target ≥ 0.90)`]);
  table.push(['limiter Redis (REST fake) / off: req/s', rps('redis'), rps('off'), `${redisRatio} (the fake shares the load generator's process)`]);
  const cpu = (v: Variant) => rounds.map((r) => r[v].cpu_per_request ? `${r[v].cpu_per_request!.node_ms}+${r[v].cpu_per_request!.postgres_ms}` : 'n/a').join(', ');
  table.push(['limiter: CPU ms/request node+pg pg / off', cpu('postgres'), cpu('off'), `redis ${cpu('redis')}`]);
}

// ─── 2. queue ────────────────────────────────────────────────────────────────────────────────────
if (ONLY.has('queue')) {
  const quiet = createLogger('warn');
  let processed = 0;
  let onProcessed: (() => void) | null = null;
  let pickupStarts = new Map<string, number>();
  const noop = defineTask({
    kind: 'bench.noop',
    payload: z.object({ t: z.number().optional() }),
    async run(ctx) {
      if (ctx.payload.t !== undefined) pickupStarts.set(ctx.job.id, performance.now());
      processed++;
      onProcessed?.();
      return done();
    },
  });

  const oursDb = await freshDb('bench_queue');
  const db = createDb(oursDb, { max: CONCURRENCY + 4 });
  await migrate(db.sql);
  const tenantId = newId('ten');
  await db.sql`insert into tenants (id, name) values (${tenantId}, 'bench')`;
  const signals = createSignaler(db.sql);
  const deps: RunnerDeps = {
    db, signals, log: quiet, box: await createSecretBox(parseSecretKey(generateSecretKey())!),
    registry: createRegistry([noop]), queue: createLocalQueue(signals),
    providers: { projects: {}, stores: {}, logs: {} }, workerId: newId('wrk'), leaseMs: 60_000, retry: { baseMs: 1000, maxMs: 60_000 },
  };
  const newJob = (payload: object = {}): NewJob => ({ id: newId('job'), tenantId, kind: 'bench.noop', payload, maxAttempts: 3 });

  // CPU per job (this process, where both runners run, and Postgres), kept for the JSON.
  const cpuPerJob: Record<string, { node_ms: number; postgres_ms: number }> = {};
  async function processAll(n: number, start: () => Promise<() => Promise<void>>, label: string): Promise<number> {
    processed = 0;
    const finished = new Promise<void>((r) => (onProcessed = () => processed >= n && r()));
    const before = cpuSeconds([process.pid]);
    const t0 = performance.now();
    const stop = await start();
    await finished;
    const s = (performance.now() - t0) / 1000;
    const after = cpuSeconds([process.pid]);
    await stop();
    onProcessed = null;
    // Postgres backends that exit during the run take their CPU time with them (graphile-worker's
    // pool closes idle connections), so a negative figure means "not measurable", not zero.
    if (before && after && after.postgres >= before.postgres) {
      cpuPerJob[label] = { node_ms: round(((after.node - before.node) * 1000) / n, 3), postgres_ms: round(((after.postgres - before.postgres) * 1000) / n, 3) };
    }
    return round(n / s, 0);
  }
  const startOurs = async () => {
    const runner = createLocalRunner(deps, { concurrency: CONCURRENCY, pollIntervalMs: 1000, sweepIntervalMs: 60_000, housekeeping: { realtimeRetentionHours: 24, retention: { free: 14, pro: 30, enterprise: 90 } } });
    await runner.start();
    return async () => void (await runner.stop(5000));
  };

  // graphile-worker, default configuration (but for a quieter logger, below), run the same way.
  const gwDb = await freshDb('bench_graphile');
  const utils = await makeWorkerUtils({ connectionString: gwDb });
  await utils.migrate();
  const gwPickups = new Map<string, number>();
  const taskList = {
    noop: async (payload: unknown) => {
      if ((payload as { t?: number }).t !== undefined) gwPickups.set(String((payload as { t: number }).t), performance.now());
      processed++;
      onProcessed?.();
    },
  };
  // Its default logger writes a line per finished job; ours runs at warn, so this one does too.
  const gwLogger = new GraphileLogger(() => (level, message) => {
    if (level === 'error' || level === 'warning') console.error(`[graphile-worker] ${message}`);
  });
  const startGraphile = async () => {
    const runner = await runGraphile({ connectionString: gwDb, concurrency: CONCURRENCY, noHandleSignals: true, taskList: taskList as never, logger: gwLogger });
    return async () => runner.stop();
  };

  // Each of our runs is paired with a graphile-worker run right after it, and the ratio is taken
  // per pair: this machine's speed drifts over minutes (graphile-worker alone measured anywhere
  // from 822 to 2,326 jobs/s between runs), so numbers minutes apart are not comparable.
  const enqueueOurs = async (batched: boolean) => {
    const t0 = performance.now();
    if (batched) for (let k = 0; k < JOBS; k += 1000) await insertJobs(db.sql, Array.from({ length: Math.min(1000, JOBS - k) }, () => newJob()));
    else for (let k = 0; k < JOBS; k++) await insertJob(db.sql, newJob());
    return round(JOBS / ((performance.now() - t0) / 1000), 0);
  };
  const enqueueGraphile = async (batched: boolean) => {
    const t0 = performance.now();
    if (batched) {
      for (let k = 0; k < JOBS; k += 1000) {
        await utils.addJobs(Array.from({ length: Math.min(1000, JOBS - k) }, () => ({ identifier: 'noop', payload: {} })));
      }
    } else for (let k = 0; k < JOBS; k++) await utils.addJob('noop', {});
    return round(JOBS / ((performance.now() - t0) / 1000), 0);
  };
  log(`queue: switchyard enqueue ${JOBS} single, process`);
  const oursEnqSingle = await enqueueOurs(false);
  const oursRunSingle = await processAll(JOBS, startOurs, 'switchyard_single');
  log(`queue: graphile-worker enqueue ${JOBS} single, process`);
  const gwEnqSingle = await enqueueGraphile(false);
  const gwRunSingle = await processAll(JOBS, startGraphile, 'graphile_single');
  log(`queue: switchyard enqueue ${JOBS} batched, process`);
  const oursEnqBatch = await enqueueOurs(true);
  const oursRunBatch = await processAll(JOBS, startOurs, 'switchyard_batched');
  log(`queue: graphile-worker enqueue ${JOBS} batched, process`);
  const gwEnqBatch = await enqueueGraphile(true);
  const gwRunBatch = await processAll(JOBS, startGraphile, 'graphile_batched');

  log('queue: switchyard pickup latency');
  const stopOurs = await startOurs();
  const oursLatency: number[] = [];
  pickupStarts = new Map();
  const sent = new Map<string, number>();
  for (let k = 0; k < 200; k++) {
    const job = newJob({ t: k });
    sent.set(job.id, performance.now());
    const row = await insertJob(db.sql, job);
    await deps.queue.dispatch([row]);
    await new Promise((r) => setTimeout(r, 20));
  }
  await new Promise((r) => setTimeout(r, 500));
  for (const [id, s] of sent) if (pickupStarts.has(id)) oursLatency.push(pickupStarts.get(id)! - s);
  await stopOurs();
  await db.close();

  log('queue: graphile-worker pickup latency');
  const stopGw = await startGraphile();
  const gwSent = new Map<string, number>();
  for (let k = 0; k < 200; k++) {
    gwSent.set(String(k), performance.now());
    await utils.addJob('noop', { t: k });
    await new Promise((r) => setTimeout(r, 20));
  }
  await new Promise((r) => setTimeout(r, 500));
  const gwLatency: number[] = [];
  for (const [k, s] of gwSent) if (gwPickups.has(k)) gwLatency.push(gwPickups.get(k)! - s);
  await stopGw();
  await utils.release();

  const ol = summarize(oursLatency);
  const gl = summarize(gwLatency);
  results.queue = {
    switchyard: { enqueue_single_per_s: oursEnqSingle, enqueue_batched_per_s: oursEnqBatch, process_per_s_after_single: oursRunSingle, process_per_s_after_batched: oursRunBatch, pickup_ms: ol },
    graphile_worker: { enqueue_single_per_s: gwEnqSingle, enqueue_batched_per_s: gwEnqBatch, process_per_s_after_single: gwRunSingle, process_per_s_after_batched: gwRunBatch, pickup_ms: gl },
    // The mean of the two paired ratios (after single and after batched enqueues).
    throughput_ratio: round((oursRunSingle / gwRunSingle + oursRunBatch / gwRunBatch) / 2, 3),
    throughput_ratio_pairs: [round(oursRunSingle / gwRunSingle, 3), round(oursRunBatch / gwRunBatch, 3)],
    pickup_p95_ratio: round(ol.p95 / gl.p95, 3),
    cpu_per_job: cpuPerJob,
    target: 'throughput ratio >= 1.0, pickup p95 ratio <= 2.0',
  };
  table.push(['queue: enqueue single jobs/s', String(oursEnqSingle), String(gwEnqSingle), String(round(oursEnqSingle / gwEnqSingle, 3))]);
  table.push(['queue: enqueue batched jobs/s', String(oursEnqBatch), String(gwEnqBatch), String(round(oursEnqBatch / gwEnqBatch, 3))]);
  const pairs = (results.queue as { throughput_ratio_pairs: number[] }).throughput_ratio_pairs;
  table.push(['queue: process jobs/s (c=10)', `${oursRunSingle} / ${oursRunBatch}`, `${gwRunSingle} / ${gwRunBatch}`, `${(results.queue as { throughput_ratio: number }).throughput_ratio} (${pairs.join(', ')}; target ≥ 1.0)`]);
  const jobCpu = (k: string) => (cpuPerJob[k] ? `${cpuPerJob[k].node_ms} / ${cpuPerJob[k].postgres_ms}` : 'n/a');
  table.push(['queue: CPU ms/job node / pg', jobCpu('switchyard_single'), jobCpu('graphile_single'), '']);
  table.push(['queue: pickup p50 / p95 ms', `${ol.p50} / ${ol.p95}`, `${gl.p50} / ${gl.p95}`, `${(results.queue as { pickup_p95_ratio: number }).pickup_p95_ratio} (target ≤ 2.0)`]);
}

// ─── 3. realtime ─────────────────────────────────────────────────────────────────────────────────
if (ONLY.has('realtime')) {
  const N = 500;
  const oursDb = new URL(pg.url);
  oursDb.pathname = '/bench_intent';
  const sql = postgres(oursDb.toString(), { max: 2, onnotice: () => {} });
  const created = await (await fetch(`${apiUrl}/v1/projects`, {
    method: 'POST', headers: { authorization: `Bearer ${apiKey}`, 'content-type': 'application/json' }, body: '{"name":"realtime bench"}',
  })).json() as { project: { id: string } };
  const projectId = created.project.id;

  const sse = openSse(`${apiUrl}/v1/events?topic=project:${projectId}`, { authorization: `Bearer ${apiKey}` });
  await sse.ready;
  log(`realtime: ${N} transitions through the trigger to SSE`);
  const sentAt: number[] = [];
  for (let k = 0; k < N; k++) {
    sentAt.push(performance.now());
    // A transition the way workers make them: the update (trigger → outbox), then the wake-up.
    await sql`update projects set status = ${k % 2 === 0 ? 'active' : 'suspended'}, updated_at = now() where id = ${projectId}`;
    await sendSignals(sql, [EVENTS_CHANNEL]);
    await new Promise((r) => setTimeout(r, 5));
  }
  const deadline = Date.now() + 5000;
  // Transitions only: a stream may also get the project's creation event, committed just before it opened.
  const statusEvents = () => sse.events.filter((e) => e.event === 'status' && e.data.previous_status !== null);
  while (statusEvents().length < N && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));
  sse.close();
  const received = statusEvents().map((e) => e.receivedAt);
  const oursLat = summarize(sentAt.slice(0, received.length).map((s, k) => received[k]! - s));

  // Canary decisions take the same path: the decision row's trigger writes the outbox in the
  // evaluation's transaction, and SSE carries a `decision` event on the rollout's topic.
  log(`realtime: ${N} canary decisions to SSE`);
  const headers = { authorization: `Bearer ${apiKey}`, 'content-type': 'application/json' };
  await fetch(`${apiUrl}/v1/canary-policies`, { method: 'POST', headers, body: JSON.stringify({ name: 'bench', yaml: 'steps: [{weight: 100}]\nmetrics: [{name: e, kind: error_rate, max: 1%}]\n' }) });
  const rollout = await (await fetch(`${apiUrl}/v1/rollouts`, {
    method: 'POST', headers, body: JSON.stringify({ project: projectId, service: 'bench', baseline: { version: 'a' }, canary: { version: 'b' }, policy: 'bench' }),
  })).json() as { rollout: { id: string; policy: { id: string } } };
  const rolloutTenant = (await sql<{ t: string }[]>`select tenant_id as t from rollouts where id = ${rollout.rollout.id}`)[0]!.t;
  const decisionSse = openSse(`${apiUrl}/v1/events?topic=rollout:${rollout.rollout.id}`, { authorization: `Bearer ${apiKey}` });
  await decisionSse.ready;
  const decisionSent: number[] = [];
  const t0 = Date.now() - N * 1000;
  for (let k = 0; k < N; k++) {
    decisionSent.push(performance.now());
    await sql.begin((tx) => insertDecision(tx as unknown as Parameters<typeof insertDecision>[0], {
      rolloutId: rollout.rollout.id, tenantId: rolloutTenant, policyId: rollout.rollout.policy.id,
      windowStart: new Date(t0 + k * 1000 - 1000).toISOString(), windowEnd: new Date(t0 + k * 1000).toISOString(),
      stepIndex: 0, verdict: 'wait', sentence: `bench ${k}`, explanation: {}, shadow: false,
    }));
    await sendSignals(sql, [EVENTS_CHANNEL]);
    await new Promise((r) => setTimeout(r, 5));
  }
  const decisionEvents = () => decisionSse.events.filter((e) => e.event === 'decision');
  while (decisionEvents().length < N && Date.now() < deadline + 10_000) await new Promise((r) => setTimeout(r, 20));
  decisionSse.close();
  const decisionReceived = decisionEvents().map((e) => e.receivedAt);
  const decisionLat = summarize(decisionSent.slice(0, decisionReceived.length).map((s, k) => decisionReceived[k]! - s));

  log(`realtime: ${N} raw NOTIFYs to a LISTEN connection`);
  const rawReceived: number[] = [];
  const listener = await sql.listen('bench_raw', () => void rawReceived.push(performance.now()));
  const rawSent: number[] = [];
  for (let k = 0; k < N; k++) {
    rawSent.push(performance.now());
    await sendSignals(sql, ['bench_raw']);
    await new Promise((r) => setTimeout(r, 5));
  }
  while (rawReceived.length < N && Date.now() < deadline + 5000) await new Promise((r) => setTimeout(r, 20));
  await listener.unlisten();
  await sql.end();
  const rawLat = summarize(rawSent.slice(0, rawReceived.length).map((s, k) => rawReceived[k]! - s));
  results.realtime = { switchyard_sse_ms: { ...oursLat, delivered: received.length, sent: N }, raw_notify_ms: rawLat, p95_ratio: round(oursLat.p95 / rawLat.p95, 3), target: 'p95 <= 25 ms' };
  table.push(['realtime: commit → SSE p50 / p95 ms', `${oursLat.p50} / ${oursLat.p95}`, `${rawLat.p50} / ${rawLat.p95}`, `delivered ${received.length}/${N} (target p95 ≤ 25 ms)`]);
  table.push(['realtime: decision commit → SSE p50 / p95 ms', `${decisionLat.p50} / ${decisionLat.p95}`, `${rawLat.p50} / ${rawLat.p95}`, `delivered ${decisionReceived.length}/${N}`]);
  (results.realtime as Record<string, unknown>).decision_sse_ms = { ...decisionLat, delivered: decisionReceived.length, sent: N };
}

// ─── 3b. Supabase Realtime ───────────────────────────────────────────────────────────────────────
// The same transitions on a database shaped like a Supabase project's, received by the real
// supabase-js through the Realtime contract fake. Beside them: the fake's own share (NOTIFY in →
// frame out) and our part, the trigger's time with the realtime schema against without it
// (EXPLAIN ANALYZE's trigger timing on identical updates).
if (ONLY.has('realtime')) {
  const N = 500;
  const url = await freshDb('bench_supabase');
  await admin.unsafe(`alter database bench_supabase set timezone to 'UTC'`);
  const sql = postgres(url, { max: 2, onnotice: () => {} });
  await sql.unsafe(await readFile(new URL('../test/fixtures/supabase-realtime.sql', import.meta.url), 'utf8'));
  await migrate(sql);
  const secret = 'bench-jwt-secret-with-at-least-32-characters';
  const fake = await startRealtimeFake({ databaseUrl: url, jwtSecret: secret, privateOnly: true });
  const key = new TextEncoder().encode(secret);
  const tenantId = newId('ten');
  const keyId = newId('key');
  const projectId = newId('prj');
  await sql`insert into tenants (id, name, plan) values (${tenantId}, 'bench', 'pro')`;
  await sql`insert into api_keys (id, tenant_id, role, hash, prefix) values (${keyId}, ${tenantId}, 'admin', ${crypto.randomUUID()}, 'sk_bench')`;
  await sql`insert into projects (id, tenant_id, name, slug, plan, region, provider, status)
            values (${projectId}, ${tenantId}, 'bench', 'bench', 'pro', 'local', 'postgres', 'active')`;
  const anon = await new SignJWT({ role: 'anon' }).setProtectedHeader({ alg: 'HS256', typ: 'JWT' }).setExpirationTime('1h').sign(key);
  const token = await new SignJWT({ role: 'authenticated', sub: keyId, app_metadata: { tenant_id: tenantId } })
    .setProtectedHeader({ alg: 'HS256', typ: 'JWT' }).setExpirationTime('1h').sign(key);
  const client = createClient(fake.url, anon, { accessToken: async () => token, realtime: { transport: WebSocket as never } });
  await client.realtime.setAuth();
  const receivedAt: number[] = [];
  const channel = client.channel(`project:${projectId}`, { config: { private: true } })
    .on('broadcast', { event: 'status' }, () => void receivedAt.push(performance.now()));
  await new Promise<void>((resolve, reject) => channel.subscribe((st, err) => (st === 'SUBSCRIBED' ? resolve() : st !== 'CLOSED' && reject(err ?? new Error(st)))));
  log(`realtime: ${N} transitions through the trigger to Supabase Realtime (contract fake, supabase-js)`);
  const sentAt: number[] = [];
  for (let k = 0; k < N; k++) {
    sentAt.push(performance.now());
    await sql`update projects set status = ${k % 2 === 0 ? 'suspended' : 'active'}, updated_at = now() where id = ${projectId}`;
    await new Promise((r) => setTimeout(r, 5));
  }
  const until = Date.now() + 5000;
  while (receivedAt.length < N && Date.now() < until) await new Promise((r) => setTimeout(r, 20));
  const supaLat = summarize(sentAt.slice(0, receivedAt.length).map((t, k) => receivedAt[k]! - t));
  const fakeShare = summarize(fake.sendMs.slice(-N));
  await client.removeAllChannels();
  await fake.close();

  // Our part: the trigger with realtime.send (and its check) against the trigger alone, same updates.
  const plainUrl = new URL(pg.url);
  plainUrl.pathname = '/bench_intent';
  const plain = postgres(plainUrl.toString(), { max: 1, onnotice: () => {} });
  const [plainProject] = await plain<{ id: string }[]>`select id from projects order by id limit 1`;
  const triggerMs = async (db: postgres.Sql, id: string, k: number) => {
    const [row] = await db.unsafe(`explain (analyze, format json) update projects set status = '${k % 2 === 0 ? 'active' : 'suspended'}', updated_at = now() where id = '${id}'`);
    const plan = (row as Record<string, unknown>)['QUERY PLAN'] as Array<{ Triggers?: Array<{ 'Trigger Name': string; Time: number }> }>;
    return plan[0]!.Triggers!.filter((t) => t['Trigger Name'].endsWith('_published')).reduce((a, t) => a + t.Time, 0);
  };
  const withRealtime: number[] = [];
  const without: number[] = [];
  for (let k = 0; k < N; k++) {
    withRealtime.push(await triggerMs(sql, projectId, k));
    if (plainProject) without.push(await triggerMs(plain, plainProject.id, k));
  }
  await plain.end();
  await sql.end();
  const ours = summarize(withRealtime);
  const alone = summarize(without);
  const added = round(ours.p95 - alone.p95, 3);
  results.supabase_realtime = {
    commit_to_receipt_ms: { ...supaLat, delivered: receivedAt.length, sent: N }, fake_notify_to_send_ms: fakeShare,
    trigger_ms_with_realtime: ours, trigger_ms_without: alone, added_p95_ms: added, target: 'added p95 <= 2 ms',
  };
  table.push(['realtime: commit → supabase-js p50 / p95 ms', `${supaLat.p50} / ${supaLat.p95}`, 'SSE and raw NOTIFY above', `delivered ${receivedAt.length}/${N}; the fake's share p50/p95 ${fakeShare.p50} / ${fakeShare.p95} ms`]);
  table.push(['realtime: trigger ms p50 / p95 (Supabase)', `${ours.p50} / ${ours.p95}`, `${alone.p50} / ${alone.p95} (no realtime)`, `adds ${added} ms at p95 (target ≤ 2 ms)`]);
}

// ─── 4. ingestion ────────────────────────────────────────────────────────────────────────────────
if (ONLY.has('ingestion')) {
  const url = await freshDb('bench_ingest');
  const db = createDb(url, { max: 6 });
  await migrate(db.sql);
  const tenantId = newId('ten');
  const projectId = newId('prj');
  const sourceId = newId('src');
  const box = await createSecretBox(parseSecretKey(generateSecretKey())!);
  const token = 'sbp_bench_token_0123456789';
  await db.sql`insert into tenants (id, name) values (${tenantId}, 'bench')`;
  await db.sql`insert into projects (id, tenant_id, name, slug, plan, region, provider, status)
               values (${projectId}, ${tenantId}, 'bench', 'bench', 'free', 'local', 'postgres', 'active')`;
  await db.sql`insert into log_sources (id, tenant_id, project_id, provider, config, credentials, has_api_key)
               values (${sourceId}, ${tenantId}, ${projectId}, 'supabase', ${JSON.stringify({ project_ref: 'benchbenchbenchbench' })}::jsonb,
                       ${await box.seal(JSON.stringify({ api_key: token }), sourceId)}, true)`;

  // The provider: the Supabase logs contract fake, with the analytics budget out of the way.
  const fake = await new FakeSupabaseLogs(token, { limit: 1e9, windowMs: 60_000 }).start();
  const now = Date.now();
  const kinds = ['GET /rest/v1/orders?select=* 200', 'POST /auth/v1/token 400 for user@example.com', 'ERROR: duplicate key value violates unique constraint', 'connection from postgres://app:pw@10.0.0.1/db'];
  fake.add('benchbenchbenchbench', Array.from({ length: EVENTS }, (_, k) => ({
    id: `row-${k}`, timestamp: (now - 20 * 3_600_000 + k * 50) * 1000, event_message: `${kinds[k % kinds.length]} #${k}`, log_type: k % 3 ? 'edge_logs' : 'postgres_logs',
  })));

  const quiet = createLogger('warn');
  const signals = createSignaler(db.sql);
  const deps: RunnerDeps = {
    db, signals, log: quiet, box, registry: createRegistry([pullSource]), queue: createLocalQueue(signals),
    providers: { projects: {}, stores: {}, logs: { supabase: createSupabaseLogPuller({ baseUrl: fake.url, initialLookbackMs: 23 * 3_600_000, minIntervalMs: 0 }) } },
    workerId: newId('wrk'), leaseMs: 60_000, retry: { baseMs: 1000, maxMs: 60_000 },
  };
  const runner = createLocalRunner(deps, { concurrency: 2, pollIntervalMs: 1000, sweepIntervalMs: 3_600_000, housekeeping: { realtimeRetentionHours: 24, retention: { free: 14, pro: 30, enterprise: 90 } } });
  await runner.start();
  log(`ingestion: ${EVENTS} events through logs.pull (fetch, normalize, mask, insert, mark)`);
  let t = performance.now();
  const job = await insertJob(db.sql, { id: newId('job'), tenantId, kind: 'logs.pull', payload: { source_id: sourceId }, maxAttempts: 3, concurrencyKey: `log_source:${sourceId}` });
  await deps.queue.dispatch([{ ...job }]);
  for (;;) {
    const [j] = await db.sql`select status, result from jobs where id = ${job.id}`;
    if (j!.status === 'succeeded' || j!.status === 'dead') break;
    await new Promise((r) => setTimeout(r, 50));
  }
  const oursS = (performance.now() - t) / 1000;
  await runner.stop(5000);
  await fake.close();
  const [{ n: stored }] = await db.sql`select count(*)::int as n from events` as unknown as [{ n: number }];
  if (stored !== EVENTS) throw new Error(`ingestion stored ${stored} of ${EVENTS} events`);
  const ours = round(EVENTS / oursS, 0);

  // The same normalized rows, written the plainest ways into the same (emptied) table and indexes.
  const rows = await db.sql`select ts, tenant_id, project_id, source_id, provider, service, environment, level, kind, message, fingerprint, attrs, source_event_id from events`;
  const cols = ['ts', 'tenant_id', 'project_id', 'source_id', 'provider', 'service', 'environment', 'level', 'kind', 'message', 'fingerprint', 'attrs', 'source_event_id'] as const;
  const raw = postgres(url, { max: 1, onnotice: () => {} });
  const plain = rows.map((r) => ({
    ts: r.ts, tenant_id: r.tenantId, project_id: r.projectId, source_id: r.sourceId, provider: r.provider, service: r.service,
    environment: r.environment, level: r.level, kind: r.kind, message: r.message, fingerprint: r.fingerprint, attrs: r.attrs, source_event_id: r.sourceEventId,
  }));
  await raw`truncate events`;
  log(`ingestion: raw multi-row INSERT of the same ${EVENTS} rows (1,000 per statement)`);
  t = performance.now();
  for (let k = 0; k < plain.length; k += 1000) await raw`insert into events ${raw(plain.slice(k, k + 1000), ...cols)}`;
  const insertRate = round(EVENTS / ((performance.now() - t) / 1000), 0);
  await raw`truncate events`;
  log(`ingestion: COPY of the same ${EVENTS} rows`);
  const esc = (v: unknown): string => {
    if (v === null || v === undefined) return '\\N';
    const text = v instanceof Date ? v.toISOString() : typeof v === 'object' ? JSON.stringify(v) : String(v);
    return text.replace(/\\/g, '\\\\').replace(/\t/g, '\\t').replace(/\n/g, '\\n').replace(/\r/g, '\\r');
  };
  t = performance.now();
  const copy = await raw.unsafe(`copy events (${cols.join(', ')}) from stdin`).writable();
  for (let k = 0; k < plain.length; k += 1000) {
    const chunk = plain.slice(k, k + 1000).map((r) => cols.map((c) => esc((r as Record<string, unknown>)[c])).join('\t')).join('\n') + '\n';
    if (!copy.write(chunk)) await new Promise((r) => copy.once('drain', r));
  }
  await new Promise<void>((res, rej) => copy.end((err?: Error | null) => (err ? rej(err) : res())));
  const copyRate = round(EVENTS / ((performance.now() - t) / 1000), 0);
  const [{ n: copied }] = await raw`select count(*)::int as n from events` as unknown as [{ n: number }];
  if (copied !== EVENTS) throw new Error(`COPY stored ${copied} of ${EVENTS}`);
  await raw.end();
  await db.close();
  const floor = Math.max(insertRate, copyRate);
  results.ingestion = {
    events: EVENTS, switchyard_pull_events_per_s: ours, raw_insert_events_per_s: insertRate, copy_events_per_s: copyRate,
    ratio_vs_fastest_raw: round(ours / floor, 3), ratio_vs_insert: round(ours / insertRate, 3), target: '>= 0.50 of the raw floor',
  };
  table.push(['ingestion: events/s (pull job)', `${ours}`, `INSERT ${insertRate} / COPY ${copyRate}`, `${round(ours / floor, 3)} of the faster (target ≥ 0.5)`]);
}

// ─── 5. log queries over 1M events ───────────────────────────────────────────────────────────────
if (ONLY.has('queries')) {
  const N = Number(process.env.BENCH_QUERY_EVENTS ?? 1_000_000);
  const url = await freshDb('bench_queries');
  let last: { query: string; params: unknown[] } | null = null;
  // The statement to EXPLAIN: the query itself, not the transaction and SET LOCAL around it.
  const db = createDb(url, { max: 2, debug: (query, params) => void (/^\s*(begin|commit|rollback|select set_config)\b/i.test(query) || (last = { query, params })) });
  await migrate(db.sql);
  log(`queries: loading ${N} events over 14 days, 10 tenants (half of them in one tenant's one project)`);
  const day = 86_400_000;
  for (let d = 0; d < 15; d++) await db.sql`select switchyard_events_partition(${new Date(Date.now() - d * day).toISOString().slice(0, 10)}::date)`;
  const words = ['GET /rest/v1/orders 200', 'POST /auth/v1/token 400', 'ERROR: deadlock detected', 'upstream request timeout', 'cache miss for key', 'deploy live'];
  await db.sql`
    insert into events (ts, tenant_id, project_id, source_id, provider, service, environment, level, kind, message, attrs, source_event_id)
    select now() - (random() * 14 * 86400) * interval '1 second',
           case when i % 2 = 0 then 'ten_big' else 'ten_' || (i % 9) end,
           case when i % 2 = 0 then 'prj_big' else 'prj_' || (i % 9) end,
           'src_' || (i % 3), (array['supabase','render','sentry'])[1 + i % 3], 'svc-' || (i % 7), 'production',
           (array['info','info','info','warn','error'])[1 + i % 5], 'log',
           (${words}::text[])[1 + (i::bigint * 7919) % 6] || ' #' || i, '{}'::jsonb, 'e' || i
      from generate_series(1, ${N}) as i`;
  await db.sql`analyze events`;
  const since1h = new Date(Date.now() - 3_600_000).toISOString();
  const since24h = new Date(Date.now() - day).toISOString();
  const until = new Date().toISOString();
  const cases: Array<[string, () => Promise<unknown>]> = [
    ['newest page of a project', () => listEvents(db.sql, 'ten_big', { projectId: 'prj_big', limit: 50 })],
    ['errors only', () => listEvents(db.sql, 'ten_big', { projectId: 'prj_big', level: 'error', limit: 50 })],
    ['text search q=deadlock', () => listEvents(db.sql, 'ten_big', { projectId: 'prj_big', q: 'deadlock', limit: 50 })],
    ['text search, no match', () => listEvents(db.sql, 'ten_big', { projectId: 'prj_big', q: 'no-such-text', limit: 50 })],
    ['last 24 h, provider + level', () => listEvents(db.sql, 'ten_big', { projectId: 'prj_big', provider: 'render', level: 'warn', since: since24h, limit: 50 })],
    ['stats 1m over 1 h', () => eventStats(db.sql, 'ten_big', { projectId: 'prj_big', since: since1h, until, interval: '1m' })],
    ['stats 1h over 24 h', () => eventStats(db.sql, 'ten_big', { projectId: 'prj_big', since: since24h, until, interval: '1h' })],
  ];
  const queries: Record<string, unknown> = {};
  for (const [name, run] of cases) {
    await run(); // warm
    const times: number[] = [];
    for (let k = 0; k < 5; k++) {
      const t0 = performance.now();
      await run();
      times.push(performance.now() - t0);
    }
    const captured = last as { query: string; params: unknown[] } | null;
    const plan = captured
      ? (await db.sql.unsafe(`explain (analyze, buffers, costs off) ${captured.query}`, captured.params as never[])).map((r) => r['QUERY PLAN'] as string)
      : [];
    const ms = summarize(times);
    queries[name] = { ms, plan };
    table.push([`logs query: ${name}`, `p50 ${ms.p50} ms`, `${N} events`, `slowest ${round(Math.max(...times), 1)} ms (target ≪ 1000)`]);
  }
  results.queries = { events: N, cases: queries };
  await db.close();
}

// ─── 8. canary: judge quality and cost ──────────────────────────────────────────────────────────
if (ONLY.has('canary')) {
  const { JUDGES, simulate } = await import('./lib/canary-sim.ts');
  type JudgeName = keyof typeof JUDGES;
  const cells = [1, 10, 100].flatMap((rps) => [0.1, 0.5].map((share) => ({ rps, share })));
  const regressions = [
    { label: 'errors 1.5×', errorFactor: 1.5, latencyFactor: 1 },
    { label: 'errors 2×', errorFactor: 2, latencyFactor: 1 },
    { label: 'errors 5×', errorFactor: 5, latencyFactor: 1 },
    { label: 'p95 +20%', errorFactor: 1, latencyFactor: 1.2 },
    { label: 'p95 +100%', errorFactor: 1, latencyFactor: 2 },
  ];
  const AA_RUNS = Number(process.env.BENCH_CANARY_AA_RUNS ?? 100);
  const REG_RUNS = Number(process.env.BENCH_CANARY_RUNS ?? 40);
  const names = Object.keys(JUDGES) as JudgeName[];
  const quality: Record<string, unknown> = {};
  const median = (xs: number[]) => (xs.length ? [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]! : null);
  /** The median over every run, a miss counting as never: a judge can't look fast by catching less. */
  const medianAll = (xs: number[], runs: number) => {
    const sorted = [...xs].sort((a, b) => a - b);
    return sorted.length > Math.floor(runs / 2) ? sorted[Math.floor(runs / 2)]! : null;
  };
  let seed = 1;
  log(`canary: judging ${cells.length * (AA_RUNS + regressions.length * REG_RUNS)} simulated rollouts with ${names.length} judges`);
  // A/A: the same traffic on both tracks, checked every 30 s for an hour.
  const aa = Object.fromEntries(names.map((n) => [n, { rollbacks: 0, runs: 0, thin: 0, promotes: 0, worstCell: 0 }]));
  for (const cell of cells) {
    const perCell = Object.fromEntries(names.map((n) => [n, 0]));
    for (let k = 0; k < AA_RUNS; k++) {
      const buckets = simulate(seed++, { ...cell, errorFactor: 1, latencyFactor: 1 });
      for (const n of names) {
        const o = JUDGES[n](buckets);
        aa[n]!.runs++;
        if (o.verdict === 'rollback') (aa[n]!.rollbacks++, perCell[n]!++);
        if (o.verdict === 'promote') aa[n]!.promotes++;
        if (o.thinPromotion) aa[n]!.thin++;
      }
    }
    for (const n of names) aa[n]!.worstCell = Math.max(aa[n]!.worstCell, perCell[n]! / AA_RUNS);
  }
  // A canary that gets no traffic at all.
  const idle = Object.fromEntries(names.map((n) => [n, { promotes: 0, rollbacks: 0, runs: 0 }]));
  for (let k = 0; k < 20; k++) {
    const buckets = simulate(seed++, { rps: 10, share: 0, errorFactor: 1, latencyFactor: 1 });
    for (const n of names) {
      const o = JUDGES[n](buckets);
      idle[n]!.runs++;
      if (o.verdict === 'promote') idle[n]!.promotes++;
      if (o.verdict === 'rollback') idle[n]!.rollbacks++;
    }
  }
  // Matched false alarms: each baseline's knob set per traffic cell to the laxest value whose A/A
  // false rollbacks are ≤ 5% on seeds of its own (then checked on the A/A seeds above).
  const { TUNABLE } = await import('./lib/canary-sim.ts');
  type TunedName = keyof typeof TUNABLE;
  const tunedNames = Object.keys(TUNABLE) as TunedName[];
  const cellKey = (c: { rps: number; share: number }) => `${c.rps}@${c.share}`;
  const tuned: Record<string, Record<string, number | null>> = Object.fromEntries(tunedNames.map((n) => [n, {}]));
  let calSeed = 1_000_000;
  for (const cell of cells) {
    const aaSets = Array.from({ length: AA_RUNS }, () => simulate(calSeed++, { ...cell, errorFactor: 1, latencyFactor: 1 }));
    for (const n of tunedNames) {
      const t = TUNABLE[n];
      tuned[n]![cellKey(cell)] = null;
      for (const v of t.values) {
        let fa = 0;
        for (const b of aaSets) if ((t.judge(b, v).verdict === 'rollback' && ++fa > AA_RUNS * 0.05)) break;
        if (fa <= AA_RUNS * 0.05) {
          tuned[n]![cellKey(cell)] = v;
          break;
        }
      }
    }
  }
  const tunedAa = Object.fromEntries(tunedNames.map((n) => [n, { rollbacks: 0, runs: 0 }]));
  {
    let s2 = 1;
    for (const cell of cells) {
      for (let k = 0; k < AA_RUNS; k++) {
        const buckets = simulate(s2++, { ...cell, errorFactor: 1, latencyFactor: 1 });
        for (const n of tunedNames) {
          const v = tuned[n]![cellKey(cell)];
          if (v === null) continue;
          tunedAa[n]!.runs++;
          if (TUNABLE[n].judge(buckets, v).verdict === 'rollback') tunedAa[n]!.rollbacks++;
        }
      }
    }
  }
  const tunedDetection: Record<string, Record<string, { detected: number; runs: number; median_s: number | null; median_all_s: number | null; by_rps: Record<string, number | null> }>> = {};
  const detection: Record<string, Record<string, { detected: number; runs: number; median_s: number | null; median_all_s: number | null; by_rps: Record<string, number | null> }>> = {};
  for (const reg of regressions) {
    detection[reg.label] = {};
    const times = Object.fromEntries(names.map((n) => [n, [] as number[]]));
    const byRps = Object.fromEntries(names.map((n) => [n, {} as Record<string, number[]>]));
    const tTimes = Object.fromEntries(tunedNames.map((n) => [n, [] as number[]]));
    const tByRps = Object.fromEntries(tunedNames.map((n) => [n, {} as Record<string, number[]>]));
    let runs = 0;
    for (const cell of cells) {
      for (let k = 0; k < REG_RUNS; k++) {
        const buckets = simulate(seed++, { ...cell, errorFactor: reg.errorFactor, latencyFactor: reg.latencyFactor });
        runs++;
        for (const n of names) {
          const o = JUDGES[n](buckets);
          if (o.verdict === 'rollback' || o.verdict === 'pause') {
            times[n]!.push(o.atS);
            (byRps[n]![cell.rps] ??= []).push(o.atS);
          }
        }
        for (const n of tunedNames) {
          const v = tuned[n]![cellKey(cell)];
          const o = v === null ? null : TUNABLE[n].judge(buckets, v);
          if (o && o.verdict === 'rollback') {
            tTimes[n]!.push(o.atS);
            (tByRps[n]![cell.rps] ??= []).push(o.atS);
          }
        }
      }
    }
    for (const n of names) {
      detection[reg.label]![n] = {
        detected: times[n]!.length, runs, median_s: median(times[n]!), median_all_s: medianAll(times[n]!, runs),
        by_rps: Object.fromEntries([1, 10, 100].map((rps) => [rps, median(byRps[n]![rps] ?? [])])),
      };
    }
    tunedDetection[reg.label] = {};
    for (const n of tunedNames) {
      tunedDetection[reg.label]![n] = {
        detected: tTimes[n]!.length, runs, median_s: median(tTimes[n]!), median_all_s: medianAll(tTimes[n]!, runs),
        by_rps: Object.fromEntries([1, 10, 100].map((rps) => [rps, median(tByRps[n]![rps] ?? [])])),
      };
    }
  }
  quality.matched_false_alarms = { knobs: Object.fromEntries(tunedNames.map((n) => [n, { knob: TUNABLE[n].knob, per_cell: tuned[n] }])), aa: tunedAa, detection: tunedDetection };
  quality.aa = aa;
  quality.idle_canary = idle;
  quality.detection = detection;
  const fmt = (n: JudgeName, f: (n: JudgeName) => string) => f(n);
  const others = (f: (n: JudgeName) => string) => names.filter((n) => n !== 'switchyard').map((n) => `${n}: ${f(n)}`).join('; ');
  const aaText = (n: JudgeName) => `${round((100 * aa[n]!.rollbacks) / aa[n]!.runs, 1)}% (worst cell ${round(100 * aa[n]!.worstCell, 0)}%)`;
  table.push(['canary judge: A/A false rollbacks, 1 h of 30 s looks', fmt('switchyard', aaText), others(aaText), 'target ≤ 5% (α)']);
  const thinText = (n: JudgeName) => `${aa[n]!.thin} thin of ${aa[n]!.promotes} promotes; idle canary ${idle[n]!.promotes}/${idle[n]!.runs} promoted`;
  table.push(['canary judge: promotions on too little data', fmt('switchyard', thinText), others(thinText), 'target 0']);
  for (const reg of regressions) {
    const d = detection[reg.label]!;
    const t = (n: JudgeName) => `${round((100 * d[n]!.detected) / d[n]!.runs, 0)}% caught, median ${d[n]!.median_s ?? '—'} s`;
    const byRps = (n: JudgeName) => [1, 10, 100].map((r) => d[n]!.by_rps[r] ?? '—').join('/');
    table.push([`canary judge: ${reg.label}`, fmt('switchyard', t), others(t), `median s at 1/10/100 req/s: ours ${byRps('switchyard')}, kayenta ${byRps('kayenta_style')}`]);
  }
  const tAaText = (n: TunedName) => `${round((100 * tunedAa[n]!.rollbacks) / Math.max(1, tunedAa[n]!.runs), 1)}% A/A`;
  for (const reg of regressions) {
    const d = tunedDetection[reg.label]!;
    const ours = detection[reg.label]!.switchyard!;
    const t = (n: TunedName) => `${n} tuned (${tAaText(n)}): ${round((100 * d[n]!.detected) / d[n]!.runs, 0)}% caught, median ${d[n]!.median_s ?? '—'} s, over all runs ${d[n]!.median_all_s ?? 'never'}`;
    table.push([`canary judge at matched false alarms: ${reg.label}`, `${round((100 * ours.detected) / ours.runs, 0)}% caught, median ${ours.median_s ?? '—'} s, over all runs ${ours.median_all_s ?? 'never'}`, tunedNames.map(t).join('; '), 'baselines tuned per cell to ≤ 5% A/A false rollbacks']);
  }
  results.canary = { quality, policy: (await import('./lib/canary-sim.ts')).POLICY_YAML };

  // Cost: 1,000 live rollouts judged on one 30 s interval, by the real task on the real tables.
  const url = await freshDb('bench_canary');
  const db = createDb(url, { max: 8 });
  await migrate(db.sql);
  const tenantId = newId('ten');
  const projectId = newId('prj');
  await db.sql`insert into tenants (id, name) values (${tenantId}, 'bench')`;
  await db.sql`insert into projects (id, tenant_id, name, slug, plan, region, provider, status)
               values (${projectId}, ${tenantId}, 'bench', 'bench', 'free', 'local', 'postgres', 'active')`;
  const { POLICY_YAML } = await import('./lib/canary-sim.ts');
  const { parsePolicy } = await import('../core/canary/policy.ts');
  const parsedPolicy = parsePolicy(POLICY_YAML);
  if (!parsedPolicy.ok) throw new Error('bench policy');
  const policyId = newId('pol');
  await db.sql`insert into canary_policies (id, tenant_id, name, version, hash, yaml, document)
               values (${policyId}, ${tenantId}, 'bench', 1, 'bench', ${POLICY_YAML}, ${JSON.stringify(parsedPolicy.policy)}::jsonb)`;
  const N = Number(process.env.BENCH_CANARY_ROLLOUTS ?? 1000);
  const started = new Date(Date.now() - 10 * 60_000);
  const ids = Array.from({ length: N }, () => newId('rol'));
  await db.sql`insert into rollouts (id, tenant_id, project_id, service, baseline_version, canary_version, policy_id, status, weight, step_started_at, started_at, latency_boundaries, created_at)
               select id, ${tenantId}, ${projectId}, 'svc-' || id, 'v1', 'v2', ${policyId}, 'running', 10, ${started.toISOString()}::timestamptz, ${started.toISOString()}::timestamptz,
                      '{10,20,30,40,50,60,75,90,110,130,160,200,250,300,400,500,750,1000,2000}', ${started.toISOString()}::timestamptz
                 from unnest(${ids}::text[]) as id`;
  // Ten minutes of 10 s points per track per rollout, first through the repository (as the API
  // stores them), timed against a raw multi-row INSERT of the same rows into a copy of the table.
  const { insertPoints } = await import('../db/rollouts.repo.ts');
  const counts = [0, 2, 5, 10, 20, 30, 20, 8, 3, 1, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0];
  const pointsFor = (k: number) => Array.from({ length: 60 }, (_, i) => ({
    ts: new Date(started.getTime() + i * 10_000), track: (k + i) % 2 ? 'canary' as const : 'baseline' as const,
    requests: 100, errors: 1, latencyCounts: counts,
  }));
  let t0 = performance.now();
  for (let k = 0; k < N; k++) {
    const pts = pointsFor(k);
    await insertPoints(db.sql, ids[k]!, [...pts, ...pts.map((p) => ({ ...p, track: p.track === 'canary' ? 'baseline' as const : 'canary' as const }))]);
  }
  const oursS = (performance.now() - t0) / 1000;
  await db.sql`create table bench_points (like rollout_points including defaults)`;
  t0 = performance.now();
  for (let k = 0; k < N; k++) {
    const pts = pointsFor(k);
    const rows = [...pts, ...pts.map((p) => ({ ...p, track: p.track === 'canary' ? 'baseline' as const : 'canary' as const }))]
      .map((p) => ({ rollout_id: ids[k]!, track: p.track, ts: p.ts.toISOString(), requests: p.requests, errors: p.errors, latency_counts: `{${p.latencyCounts.join(',')}}` }));
    await db.sql`insert into bench_points ${db.sql(rows)}`;
  }
  const rawS = (performance.now() - t0) / 1000;
  const pointsTotal = N * 120;
  table.push(['canary telemetry ingestion', `${round(pointsTotal / oursS, 0)} points/s`, `raw multi-row INSERT ${round(pointsTotal / rawS, 0)} points/s`, `${round(rawS / oursS, 2)}× (${pointsTotal} points)`]);

  const { evaluateRollout } = await import('../workers/tasks/rollouts.ts');
  const quiet = createLogger('warn');
  const signals = createSignaler(db.sql);
  const box = await createSecretBox(parseSecretKey(generateSecretKey())!);
  const deps = { db, signals, log: quiet, box, registry: createRegistry([]), queue: createLocalQueue(signals), providers: { projects: {}, stores: {}, logs: {} },
    workerId: newId('wrk'), leaseMs: 60_000, retry: { baseMs: 1000, maxMs: 60_000 } } as unknown as RunnerDeps;
  const perEval: number[] = [];
  let decided = 0;
  t0 = performance.now();
  let next = 0;
  await Promise.all(Array.from({ length: CONCURRENCY }, async () => {
    while (next < N) {
      const id = ids[next++]!;
      const s0 = performance.now();
      const job = { id: newId('job'), tenantId, kind: 'rollout.evaluate', payload: { rollout_id: id } } as never;
      const out = await evaluateRollout.run({ job, payload: { rollout_id: id }, state: null, attempt: 1, signal: new AbortController().signal, deps, ...untraced });
      if (out.type !== 'fail' && out.commit) {
        await db.sql.begin(async (tx) => {
          await out.commit!(tx);
        });
        decided++;
      }
      perEval.push(performance.now() - s0);
    }
  }));
  const wallS = (performance.now() - t0) / 1000;
  const ms = summarize(perEval);
  table.push([`canary: ${N} live rollouts judged once`, `${round(wallS, 1)} s wall, ${CONCURRENCY} at a time`, `per evaluation p50 ${ms.p50} ms, p95 ${ms.p95} ms`, `${decided} decisions; ${wallS < 30 ? 'fits' : 'does NOT fit'} one 30 s interval (${round((100 * wallS) / 30, 0)}% of it)`]);
  results.canary_cost = { ingestion: { ours_points_per_s: pointsTotal / oursS, raw_points_per_s: pointsTotal / rawS }, evaluation: { rollouts: N, wall_s: wallS, per_eval_ms: ms, decided } };
  await db.close();
}

// ─── 6. load and 7. soak ─────────────────────────────────────────────────────────────────────────
/**
 * The tenants' databases: on the control plane's own Postgres (the local default), or with
 * BENCH_DATA_PLANE=separate on a second server (DATA_PLANE_DATABASE_URL), as in production, where
 * a tenant's CREATE DATABASE and its checkpoints don't stall the control plane's commits. On this
 * machine the second server still shares the two cores and the disk.
 */
let dataPlane: Awaited<ReturnType<typeof startEmbeddedPostgres>> | null = null;
async function dataPlaneUrl(): Promise<Record<string, string>> {
  if (process.env.BENCH_DATA_PLANE !== 'separate') return {};
  if (!dataPlane) {
    const dpDir = join(dir, 'data-plane');
    await mkdir(dpDir, { recursive: true });
    dataPlane = await startEmbeddedPostgres(dpDir, await freePort());
  }
  return { DATA_PLANE_DATABASE_URL: dataPlane.url };
}

/** The whole system (API + runner) in a process of its own, with runtime stats every 10 s. */
async function startWholeSystem(name: string) {
  const url = await freshDb(name);
  const dataDir = join(dir, `${name}-data`);
  await mkdir(dataDir, { recursive: true });
  const port = await freePort();
  const child = await startProcess('functions/entry/node.ts', {
    ...BENCH_RATE_LIMITS,
    DATABASE_URL: url, SWITCHYARD_ROLE: process.env.BENCH_ROLE ?? 'all', PORT: String(port), SWITCHYARD_DATA_DIR: dataDir, LOG_LEVEL: process.env.BENCH_LOG_LEVEL ?? 'info',
    SWITCHYARD_RUNTIME_STATS_S: '10', DATABASE_POOL_MAX: '20', ...(await dataPlaneUrl()),
  }, process.env.BENCH_ROLE === 'api' ? '"msg":"listening"' : '"msg":"runner started"');
  const runtime: Array<Record<string, number>> = [];
  // Requests the server itself took over a second on (its access log's warnings).
  const slow: Array<Record<string, unknown>> = [];
  // BENCH_SERVER_LOG=<file> keeps the server's whole log (with BENCH_LOG_LEVEL=debug, every request).
  if (process.env.BENCH_SERVER_LOG) child.stdout!.pipe((await import('node:fs')).createWriteStream(process.env.BENCH_SERVER_LOG));
  // A chunk can end mid-line: keep the partial line for the next one.
  let partial = '';
  child.stdout!.on('data', (d: Buffer) => {
    const lines = (partial + d.toString()).split('\n');
    partial = lines.pop()!;
    for (const line of lines) {
      if (line.includes('"msg":"runtime"')) runtime.push({ at: Date.now(), ...JSON.parse(line) });
      else if (line.includes('"msg":"slow request"')) slow.push({ at: Date.now(), ...JSON.parse(line) });
    }
  });
  const base = `http://127.0.0.1:${port}`;
  const key = (await readFile(join(dataDir, 'admin-key'), 'utf8')).trim();
  const me = await (await fetch(`${base}/v1/me`, { headers: { authorization: `Bearer ${key}` } })).json() as { tenant: { id: string } };
  const connections = async () => Number((await admin`select count(*)::int as n from pg_stat_activity where datname = ${name}`)[0]!.n);
  return { child, base, key, tenantId: me.tenant.id, runtime, slow, connections };
}

if (ONLY.has('load')) {
  const sys = await startWholeSystem('bench_load');
  const steadyS = Number(process.env.BENCH_LOAD_S ?? 60);
  const spikeS = Number(process.env.BENCH_SPIKE_S ?? 20);
  log(`load: mixed traffic, 100 connections + 20 SSE subscribers for ${steadyS}s`);
  const steady = await mixedLoad({ base: sys.base, key: sys.key, tenantId: sys.tenantId, connections: 100, durationMs: steadyS * 1000, sseSubscribers: 20, thinkMs: THINK_MS });
  log(`load: spike to 500 connections for ${spikeS}s`);
  const spike = await mixedLoad({ base: sys.base, key: sys.key, tenantId: sys.tenantId, connections: 500, durationMs: spikeS * 1000, sseSubscribers: 20, thinkMs: THINK_MS });
  const slowByRoute: Record<string, { n: number; max_ms: number }> = {};
  for (const x of sys.slow) {
    const route = `${String(x.method)} ${String(x.path).replace(/[a-z]{3}_[0-9a-z]{26}/g, ':id')}`;
    const e = (slowByRoute[route] ??= { n: 0, max_ms: 0 });
    e.n++;
    e.max_ms = Math.max(e.max_ms, Number(x.ms));
  }
  if (sys.slow.length) log(`load: the server took over 1 s on ${sys.slow.length} requests: ${JSON.stringify(slowByRoute)}`);
  results.load = { steady, spike, server_slow_requests: slowByRoute, targets: { p95_ms: 200, error_rate: 0.01, only: '429, 503' } };
  for (const [label, r] of [['load 100', steady], ['spike 500', spike]] as const) {
    const ok = r.reads.p95_ms < 200 && r.creates.p95_ms < 200 && r.error_rate < 0.01 && r.unexpected_errors === 0;
    table.push([`${label}: req/s, error rate`, `${r.req_per_s} req/s`, `${round(r.error_rate * 100, 2)}% errors`, `${JSON.stringify(r.by_status)}${Object.keys(r.connection_errors).length ? ` (no answer: ${JSON.stringify(r.connection_errors)})` : ""}; clients waited out Retry-After ${r.backoff_s} client-s (longest ask ${r.max_retry_after_s} s)`]);
    table.push([`${label}: where a create's time went`, `new socket ${round(r.create_timing.new_socket_share * 100, 1)}%, connect p95 ${r.create_timing.connect_p95_ms ?? '—'} ms`, `first byte p95 ${r.create_timing.ttfb_p95_ms ?? '—'} ms`, `load generator's event-loop delay p99 ${r.create_timing.generator_loop_p99_ms} ms`]);
    table.push([`${label}: reads p50/p95/p99 ms`, `${r.reads.p50_ms} / ${r.reads.p95_ms} / ${r.reads.p99_ms}`, `creates ${r.creates.p50_ms} / ${r.creates.p95_ms} / ${r.creates.p99_ms}`, ok ? 'met (p95 < 200, < 1%, only 429/503)' : 'NOT met (p95 < 200, < 1%, only 429/503)']);
  }
  await stopProcess(sys.child);
}

if (ONLY.has('soak')) {
  const minutes = Number(process.env.BENCH_SOAK_MIN ?? 20);
  const sys = await startWholeSystem('bench_soak');
  log(`soak: ${minutes} min of steady mixed traffic at 50 connections + 10 SSE subscribers`);
  const samples: Array<{ minute: number; rss_mb: number; heap_mb: number; event_loop_p99_ms: number; handles: number; db_connections: number; req_per_s: number; reads_p95_ms: number; error_rate: number }> = [];
  for (let m = 0; m < minutes; m++) {
    const r = await mixedLoad({ base: sys.base, key: sys.key, tenantId: sys.tenantId, connections: 50, durationMs: 60_000, sseSubscribers: 10, thinkMs: THINK_MS });
    const last = sys.runtime.filter((x) => (x.at ?? 0) > Date.now() - 60_000);
    const avg = (k: string) => round(last.reduce((a, x) => a + (x[k] ?? 0), 0) / Math.max(1, last.length), 1);
    samples.push({ minute: m + 1, rss_mb: avg('rss_mb'), heap_mb: avg('heap_mb'), event_loop_p99_ms: avg('event_loop_p99_ms'), handles: avg('handles'), db_connections: await sys.connections(), req_per_s: r.req_per_s, reads_p95_ms: r.reads.p95_ms, error_rate: r.error_rate });
    log(`soak: minute ${m + 1}: ${JSON.stringify(samples.at(-1))}`);
  }
  const [first, last] = [samples[0]!, samples.at(-1)!];
  results.soak = { minutes, samples };
  for (const k of ['rss_mb', 'heap_mb', 'event_loop_p99_ms', 'handles', 'db_connections', 'req_per_s', 'reads_p95_ms'] as const) {
    table.push([`soak: ${k}`, `last min ${last[k]}`, `first min ${first[k]}`, `${round(last[k] / Math.max(first[k], 0.001), 2)}× over ${minutes} min`]);
  }
  await stopProcess(sys.child);
}

if (apiChild) await stopProcess(apiChild);
await admin.end();
await (dataPlane as Awaited<ReturnType<typeof startEmbeddedPostgres>> | null)?.stop();
await pg.stop();
await rm(dir, { recursive: true, force: true });

results.finished_at = new Date().toISOString();
const widths = [38, 22, 22, 34];
const line = (cells: string[]) => cells.map((c, k) => c.padEnd(widths[k]!)).join(' │ ');
console.log(line(['measure', 'switchyard', 'baseline', 'ratio']));
console.log(widths.map((w) => '─'.repeat(w)).join('─┼─'));
for (const row of table) console.log(line(row));
const out = join('bench', 'results', `${new Date().toISOString().replace(/[:.]/g, '-')}.json`);
await writeFile(out, JSON.stringify(results, null, 2));
console.log(`\nwritten to ${out}`);
process.exit(0);
