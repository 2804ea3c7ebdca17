/**
 * Shared by the runtime tests: a migrated database with one tenant and key, a child process whose
 * output is kept for the failure message, and the smoke flow every runtime must pass.
 */
import { CURRENT_API_VERSION } from '../../core/api-versions.ts';
import { spawn, type ChildProcess } from 'node:child_process';
import { expect } from 'vitest';
import { createDb, type Db } from '../../db/client.ts';
import { insertApiKey, insertTenant } from '../../db/tenants.repo.ts';
import { generateSecretKey } from '../../core/crypto.ts';
import { newId } from '../../core/ids.ts';
import { mintApiKey } from '../../functions/lib/keys.ts';
import type { FakeQStash } from '../fakes/qstash.ts';
import type { OtlpCollector } from '../fakes/otlp-collector.ts';
import type { SentryFake } from '../fakes/sentry.ts';
import { createApi, createTestDatabase, waitFor } from '../helpers/system.ts';

export interface Seeded {
  databaseUrl: string;
  db: Db;
  key: string;
  tenantId: string;
}

export async function seedDatabase(opts: { supabase?: boolean } = {}): Promise<Seeded> {
  const databaseUrl = await createTestDatabase(opts);
  const db = createDb(databaseUrl, { max: 2 });
  const tenantId = newId('ten');
  const key = await mintApiKey();
  await insertTenant(db.orm, { id: tenantId, name: 'edge', plan: 'pro', apiVersion: CURRENT_API_VERSION });
  await insertApiKey(db.orm, { id: key.id, tenantId, role: 'admin', hash: key.hash, prefix: key.prefix, name: 'runtime test' });
  return { databaseUrl, db, key: key.secret, tenantId };
}

/** The variables every edge runtime gets, pointed at the QStash fake. */
export function edgeVars(fake: FakeQStash, workerUrl: string): Record<string, string> {
  return {
    SWITCHYARD_SECRET_KEY: generateSecretKey(),
    QSTASH_TOKEN: fake.token,
    QSTASH_URL: fake.url,
    QSTASH_CURRENT_SIGNING_KEY: fake.currentSigningKey,
    QSTASH_NEXT_SIGNING_KEY: fake.nextSigningKey,
    SWITCHYARD_WORKER_URL: workerUrl,
    SWITCHYARD_RETRY_BASE_MS: '100',
    LOG_LEVEL: 'warn',
  };
}

export interface Proc {
  child: ChildProcess;
  output(): string;
  stop(): Promise<void>;
}

export function startProcess(cmd: string, args: string[], env: Record<string, string | undefined>, cwd?: string): Proc {
  const child = spawn(cmd, args, { env: { ...process.env, ...env }, cwd, stdio: ['ignore', 'pipe', 'pipe'], detached: true });
  let out = '';
  child.stdout!.on('data', (d) => (out += d));
  child.stderr!.on('data', (d) => (out += d));
  return {
    child,
    output: () => out,
    async stop() {
      if (child.exitCode !== null || child.signalCode !== null) return;
      const exited = new Promise((r) => child.once('exit', r));
      try {
        process.kill(-child.pid!, 'SIGTERM'); // the whole group: wrangler runs workerd as a child
      } catch {
        // already gone
      }
      await Promise.race([exited, new Promise((r) => setTimeout(r, 5000))]);
      if (child.exitCode === null) {
        try {
          process.kill(-child.pid!, 'SIGKILL');
        } catch {
          // gone
        }
      }
    },
  };
}

/** Waits until `url` answers at all (any status), or the process dies. */
export async function waitForHttp(url: string, proc: Proc, timeoutMs = 60_000): Promise<void> {
  await waitFor(async () => {
    if (proc.child.exitCode !== null) throw new Error(`process exited (${proc.child.exitCode}):\n${proc.output()}`);
    try {
      await fetch(url, { signal: AbortSignal.timeout(2000) });
      return true;
    } catch {
      return false;
    }
  }, timeoutMs, `${url} to answer\n${proc.output()}`);
}

/**
 * The smoke flow: create a project → 202 → QStash delivers a signed message to the runtime's
 * worker route → the project becomes active. Returns the project id.
 */
export async function smokeFlow(base: string, seeded: Seeded, fake: FakeQStash): Promise<string> {
  const api = createApi(base, seeded.key);
  expect((await api('GET', '/healthz')).status).toBe(200);
  expect((await api('GET', '/readyz')).status).toBe(200);
  expect((await api('GET', '/v1/projects', { key: null })).status).toBe(401);

  const created = await api('POST', '/v1/projects', { body: { name: 'Edge smoke', slug: 'edge-smoke' } });
  expect(created.status, JSON.stringify(created.body)).toBe(202);
  const id: string = created.body.project.id;
  const jobId: string = created.body.job.id;
  const project = await waitFor(async () => {
    const res = await api('GET', `/v1/projects/${id}`);
    return res.body.project.status === 'active' ? res.body.project : null;
  }, 30_000, 'project to become active');
  expect(project.status).toBe('active');

  // It was QStash that ran it: a publish for the job, and a signed delivery answered 200.
  const [row] = await seeded.db.sql`select dispatch_id, status, attempts from jobs where id = ${jobId}`;
  expect(row).toMatchObject({ status: 'succeeded', attempts: 1 });
  const delivered = fake.deliveries.filter((d) => d.body.includes(jobId));
  expect(delivered.map((d) => d.status)).toContain(200);

  // Bad input is a problem+json, and a forged delivery is refused.
  const bad = await api('POST', '/v1/projects', { body: { name: '', slug: 'NO' } });
  expect(bad.status).toBe(400);
  expect(bad.headers.get('content-type')).toContain('application/problem+json');
  const forged = await fetch(`${base}/workers/jobs`, { method: 'POST', body: '{}', headers: { 'Upstash-Signature': 'x.y.z' } });
  expect(forged.status).toBe(401);
  return id;
}

/**
 * The realtime half of the smoke flow, on the production transport: discovery names Supabase
 * Realtime, a token from the API joins the tenant's private channel through the contract fake
 * with the real supabase-js, and a project created through the API is seen turning active.
 */
export async function realtimeSmoke(base: string, seeded: Seeded, realtimeUrl: string): Promise<void> {
  const { createClient } = await import('@supabase/supabase-js');
  const { default: WebSocket } = await import('ws');
  const api = createApi(base, seeded.key);
  const how = await api('GET', '/v1/realtime');
  expect(how.status).toBe(200);
  const supabase = how.body.transports.find((t: { transport: string }) => t.transport === 'supabase');
  expect(supabase?.url).toBe(realtimeUrl);
  const minted = await api('POST', '/v1/realtime/token');
  expect(minted.status).toBe(201);
  const client = createClient(supabase.url, supabase.anon_key, {
    accessToken: async () => minted.body.access_token,
    realtime: { transport: WebSocket as never },
  });
  const seen: string[] = [];
  try {
    // The join carries whatever token the client holds when subscribe() runs: fetch it first.
    await client.realtime.setAuth();
    const channel = client.channel(`tenant:${seeded.tenantId}`, { config: { private: true } });
    channel.on('broadcast', { event: 'status' }, (m) => seen.push(`${m.payload.resource.slug}:${m.payload.resource.status}`));
    await new Promise<void>((resolve, reject) => channel.subscribe((status, err) => {
      if (status === 'SUBSCRIBED') resolve();
      else if (status !== 'CLOSED') reject(new Error(`join: ${status} ${err?.message ?? ''}`));
    }));
    const created = await api('POST', '/v1/projects', { body: { name: 'Realtime smoke', slug: 'realtime-smoke' } });
    expect(created.status).toBe(202);
    await waitFor(async () => seen.includes('realtime-smoke:active'), 30_000, 'active over Supabase Realtime');
    expect(seen.filter((s) => s.startsWith('realtime-smoke:'))).toEqual(['realtime-smoke:provisioning', 'realtime-smoke:active']);
  } finally {
    await client.removeAllChannels();
  }
}

/**
 * An edge runtime's telemetry, as an operator sees it: exact request counts pushed over OTLP
 * (no /metrics to scrape on the edge), the job's step counted by the worker route, one trace from
 * the request into the job's step, and a real 500 sent once by the runtime's own Sentry SDK,
 * with nothing the request carried. The runtime must run with `telemetryVars(collector, sentry)`.
 */
export async function telemetryFlow(base: string, seeded: Seeded, collector: OtlpCollector, sentry: SentryFake, runtime: 'cloudflare' | 'deno'): Promise<void> {
  const api = createApi(base, seeded.key);
  const route = { method: 'POST', route: '/v1/projects', status_code: '202' };
  const before = collector.total('http_requests_total', route);
  const stepsBefore = collector.total('job_step_duration_seconds', { kind: 'project.provision', outcome: 'done' });
  const traceId = [...crypto.getRandomValues(new Uint8Array(16))].map((b) => b.toString(16).padStart(2, '0')).join('');
  const ids: string[] = [];
  for (let i = 0; i < 3; i++) {
    const res = await api('POST', '/v1/projects', { body: { name: `Observed ${i}` }, headers: { traceparent: `00-${traceId}-${'1'.repeat(16)}-01` } });
    expect(res.status).toBe(202);
    ids.push(res.body.project.id);
  }
  for (const id of ids) await waitFor(async () => (await api('GET', `/v1/projects/${id}`)).body.project.status === 'active', 30_000, 'active');
  // Exactly the three creates, however many isolates and pushes carried them.
  await waitFor(async () => collector.total('http_requests_total', route) === before + 3, 15_000, `3 more POST /v1/projects 202s pushed (had ${before}, now ${collector.total('http_requests_total', route)})`);
  expect(collector.total('http_request_duration_seconds', route)).toBe(before + 3);
  await waitFor(async () => collector.total('job_step_duration_seconds', { kind: 'project.provision', outcome: 'done' }) >= stepsBefore + 3, 15_000, 'the steps counted');
  const pushed = collector.points.find((p) => p.metric === 'http_requests_total')!;
  expect(pushed.resource).toMatchObject({ 'service.name': 'switchyard-edge-test', 'switchyard.runtime': runtime });
  expect(pushed.temporality).toBe(2); // cumulative, per isolate (service.instance.id)
  expect(pushed.resource['service.instance.id']).toMatch(/^wrk_/);
  expect(collector.requests.every((r) => r.headers['x-collector-key'] === 'edge-test-key')).toBe(true);

  // One trace: the request's server span, and each job's step as its child.
  const spans = await waitFor(async () => {
    const mine = collector.spans.filter((s) => s.traceId === traceId);
    return mine.filter((s) => s.name === 'job project.provision').length >= 3 ? mine : null;
  }, 15_000, 'the trace exported');
  const servers = spans.filter((s) => s.name === 'POST /v1/projects');
  expect(servers).toHaveLength(3);
  for (const step of spans.filter((s) => s.name === 'job project.provision')) expect(servers.map((s) => s.spanId)).toContain(step.parentSpanId);
  expect(servers[0]!.resource['switchyard.runtime']).toBe(runtime);

  // A real 500 (the table lost a column), sent once by this runtime's SDK.
  await seeded.db.sql`alter table projects rename column name to name_gone`;
  let requestId: string;
  try {
    const res = await api('POST', '/v1/projects', { body: { name: 'owner alice.planted@example.com' }, headers: { Cookie: 'session=PLANTED_COOKIE_77' } });
    expect(res.status).toBe(500);
    requestId = res.body.request_id;
  } finally {
    await seeded.db.sql`alter table projects rename column name_gone to name`;
  }
  const [event] = await waitFor(async () => {
    const hits = sentry.events().filter((e) => e.tags?.request_id === requestId);
    return hits.length ? hits : null;
  }, 15_000, 'the 500 to reach Sentry');
  expect(event.tags).toMatchObject({ route: '/v1/projects', tenant_id: seeded.tenantId, status: '500' });
  expect(event.release).toBe('switchyard@edge-test');
  expect(event.sdk?.name).toBe(runtime === 'cloudflare' ? 'sentry.javascript.cloudflare' : 'sentry.javascript.deno');
  await new Promise((r) => setTimeout(r, 500));
  expect(sentry.events().filter((e) => e.tags?.request_id === requestId)).toHaveLength(1);
  for (const raw of sentry.raw) {
    expect(raw).not.toContain('alice.planted@example.com');
    expect(raw).not.toContain('PLANTED_COOKIE_77');
    expect(raw).not.toContain(seeded.key);
  }
}

/** The variables that point a runtime's telemetry at the fakes. */
export function telemetryVars(collector: OtlpCollector, sentry: SentryFake): Record<string, string> {
  return {
    OTEL_EXPORTER_OTLP_ENDPOINT: collector.url,
    OTEL_EXPORTER_OTLP_HEADERS: 'x-collector-key=edge-test-key',
    OTEL_SERVICE_NAME: 'switchyard-edge-test',
    SENTRY_DSN: sentry.dsn,
    SWITCHYARD_RELEASE: 'switchyard@edge-test',
  };
}
