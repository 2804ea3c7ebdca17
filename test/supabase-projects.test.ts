/**
 * The `supabase` project provider end to end: the API, the jobs, the local runner and the
 * provider against the Management API's contract fake, whose "projects" are real databases on the
 * test server (so the credentials it hands out connect).
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import postgres from 'postgres';
import { startSupabaseManagementFake, type FakeManagement } from './fakes/supabase-management.ts';
import { createApi, createTenant, one, serverUrl, startTestSystem, waitFor, type Api, type TestSystem } from './helpers/system.ts';

const ORG = 'acme-org';
const admin = postgres(serverUrl(), { max: 2, onnotice: () => {} });

/** A project's database as Supabase would have it: role `postgres.<ref>` (the pooler's user) and its own database. */
async function provisionDatabase(ref: string, password: string) {
  const role = `postgres.${ref}`;
  await admin.unsafe(`create role "${role}" login password '${password.replace(/'/g, "''")}'`);
  await admin.unsafe(`create database "sb_${ref}" owner "${role}"`);
  const u = new URL(serverUrl());
  return { host: u.hostname, port: Number(u.port), name: `sb_${ref}` };
}

function env(fake: FakeManagement, extra: Record<string, string> = {}) {
  return {
    SUPABASE_ACCESS_TOKEN: fake.token, SUPABASE_ORGANIZATION_SLUG: ORG, SWITCHYARD_SUPABASE_API_URL: fake.url,
    SWITCHYARD_SUPABASE_POLL_MS: '100', SWITCHYARD_WORKER_CONCURRENCY: '8', ...extra,
  };
}

async function projectOf(api: Api, id: string) {
  return (await api('GET', `/v1/projects/${id}`)).body.project;
}

async function until(api: Api, id: string, status: string, timeoutMs = 20_000) {
  return waitFor(async () => {
    const p = await projectOf(api, id);
    if (p.status === status) return p;
    if (['failed', 'degraded'].includes(p.status) && status !== p.status) throw new Error(`project ${id} is ${p.status}: ${p.last_error}`);
    return null;
  }, timeoutMs, `project ${id} ${status}`);
}

async function query(url: string) {
  const c = postgres(url, { max: 1, connect_timeout: 5, onnotice: () => {} });
  try {
    return (await c`select current_user as who, current_database() as db`)[0]!;
  } finally {
    await c.end({ timeout: 1 });
  }
}

const refOf = (fake: FakeManagement, projectId: string) => [...fake.projects.values()].filter((p) => p.name.endsWith(`(${projectId})`));

afterAll(async () => {
  await admin.end({ timeout: 2 });
});

describe('supabase projects', () => {
  let fake: FakeManagement;
  let sys: TestSystem;
  let api: Api;
  let member: Api;
  beforeAll(async () => {
    fake = await startSupabaseManagementFake({ provisionDatabase, comingUpMs: 300, pausingMs: 300, restoringMs: 300 });
    sys = await startTestSystem(env(fake, { SWITCHYARD_DEADLINES: 'project.supabase.suspending=3s' }));
    const t = await createTenant(sys, 'supa');
    api = t.api;
    const key = await api('POST', '/v1/api-keys', { body: { name: 'ci', role: 'member' } });
    member = createApi(sys.url, key.body.api_key.secret);
  });
  afterAll(async () => {
    await sys?.stop();
    await fake?.close();
  });

  it('creates a Supabase project, reveals credentials that connect (the secret key to admins only), pauses, restores and deletes it', async () => {
    const created = await api('POST', '/v1/projects', { body: { name: 'Shop', provider: 'supabase', plan: 'pro', region: 'eu-west-2' } });
    expect(created.status).toBe(202);
    expect(created.body.project).toMatchObject({ provider: 'supabase', status: 'provisioning' });
    const id: string = created.body.project.id;
    const active = await until(api, id, 'active');
    const [sb] = refOf(fake, id);
    expect(refOf(fake, id)).toHaveLength(1);
    expect(sb).toMatchObject({ organizationSlug: ORG, region: 'eu-west-2', instanceSize: 'small', status: 'ACTIVE_HEALTHY' });
    expect(active.api_url).toBe(`https://${sb!.ref}.supabase.co`);
    // Only one status read after the services were healthy: it waited on health, not a timer.
    const health = fake.requests.filter((r) => r.path === `/v1/projects/${sb!.ref}/health`);
    expect(health.length).toBeGreaterThanOrEqual(1);

    const creds = await api('GET', `/v1/projects/${id}/credentials`);
    expect(creds.status).toBe(200);
    expect(creds.headers.get('cache-control')).toBe('no-store');
    expect(creds.body).toMatchObject({
      connection_string: `postgresql://postgres:${encodeURIComponent(sb!.dbPass)}@${new URL(serverUrl()).hostname}:5432/postgres`,
      pooled_connection_string: expect.stringContaining(`postgres.${sb!.ref}:`),
      api_url: `https://${sb!.ref}.supabase.co`,
      publishable_key: sb!.keys.publishable,
      secret_key: sb!.keys.secret,
    });
    expect(creds.body.pooled_connection_string).not.toContain('[YOUR-PASSWORD]');
    // The password Supabase was given is the one the credentials carry, and it connects.
    expect(creds.body.pooled_connection_string).toContain(`:${encodeURIComponent(sb!.dbPass)}@`);
    expect(await query(creds.body.pooled_connection_string)).toEqual({ who: `postgres.${sb!.ref}`, db: `sb_${sb!.ref}` });
    const asMember = await member('GET', `/v1/projects/${id}/credentials`);
    expect(asMember.status).toBe(200);
    expect(asMember.body.secret_key).toBeUndefined();
    expect(asMember.body.publishable_key).toBe(sb!.keys.publishable);
    // Nothing secret in the project or its list.
    const listed = JSON.stringify((await api('GET', '/v1/projects')).body);
    for (const secret of [sb!.dbPass, sb!.keys.secret, sb!.keys.serviceRole]) expect(listed).not.toContain(secret);
    const row = await one(sys.db.sql`select connection, provider_details from projects where id = ${id}`);
    expect(row.connection).not.toContain(sb!.dbPass);
    expect(row.providerDetails).toMatchObject({ organization: ORG, organization_plan: 'free', serving: true });
    const jobState = JSON.stringify((await sys.db.sql`select state from jobs where subject_id = ${id}`).map((r) => r.state));
    expect(jobState).not.toContain(sb!.dbPass);

    expect((await api('POST', `/v1/projects/${id}/suspend`)).status).toBe(202);
    await until(api, id, 'suspended');
    expect(fake.projects.get(sb!.ref)!.status).toBe('INACTIVE');
    expect((await api('POST', `/v1/projects/${id}/resume`)).status).toBe(202);
    await until(api, id, 'active');
    expect(fake.projects.get(sb!.ref)!.status).toBe('ACTIVE_HEALTHY');
    expect((await api('DELETE', `/v1/projects/${id}`)).status).toBe(202);
    await until(api, id, 'deleted');
    expect(fake.projects.get(sb!.ref)!.status).toBe('REMOVED');
    expect(fake.requests.filter((r) => r.status === 429)).toEqual([]);
  });

  it("creates the project's Supabase log source with it, so its logs flow into the monitoring store without a second step", async () => {
    const created = await api('POST', '/v1/projects', { body: { name: 'Logged', provider: 'supabase' } });
    const id: string = created.body.project.id;
    // Hold the project in COMING_UP while its logs are written at Supabase.
    const sb = await waitFor(async () => refOf(fake, id)[0] ?? null, 10_000, 'the Supabase project');
    fake.stick(sb.ref);
    const at = Date.now() - 5 * 60_000;
    fake.addLogs(sb.ref, [
      { id: 'log-1', timestamp: at * 1000, event_message: 'connection authorized: user=authenticator', log_type: 'postgres' },
      { id: 'log-2', timestamp: (at + 1000) * 1000, event_message: 'GET /rest/v1/orders 200', log_type: 'edge' },
    ]);
    expect((await api('GET', `/v1/projects/${id}/log-sources`)).body.data).toEqual([]);
    fake.release(sb.ref);
    await until(api, id, 'active');
    const sources = (await api('GET', `/v1/projects/${id}/log-sources`)).body.data;
    expect(sources).toHaveLength(1);
    expect(sources[0]).toMatchObject({ provider: 'supabase', config: { project_ref: sb.ref } });
    expect(JSON.stringify(sources)).not.toContain(fake.token);
    const logs = await waitFor(async () => {
      const r = await api('GET', `/v1/logs?project=${id}&provider=supabase`);
      return r.body.data.length === 2 ? r.body.data : null;
    }, 20_000, 'the pulled Supabase logs');
    expect(logs.map((l: { message: string }) => l.message).sort()).toEqual(['GET /rest/v1/orders 200', 'connection authorized: user=authenticator']);
    const pulls = fake.requests.filter((r) => r.path === `/v1/projects/${sb.ref}/analytics/endpoints/logs.all`);
    expect(pulls.every((r) => r.status === 200)).toBe(true);
  });

  it('creates exactly one Supabase project when the answer to the create is lost', async () => {
    fake.loseNextCreateResponse();
    const created = await api('POST', '/v1/projects', { body: { name: 'Lost answer', provider: 'supabase' } });
    const id: string = created.body.project.id;
    await until(api, id, 'active');
    expect(refOf(fake, id)).toHaveLength(1);
    // The first attempt failed on the lost answer; the retry found the project instead of making another.
    const creates = fake.requests.filter((r) => r.method === 'POST' && r.path === '/v1/projects');
    expect(creates.filter((r) => r.status === 0)).toHaveLength(1);
    const job = await one(sys.db.sql`select id from jobs where subject_id = ${id} and kind = 'project.provision'`);
    const events = await sys.db.sql`select type from job_events where job_id = ${job.id}`;
    expect(events.map((e) => e.type)).toContain('retry_scheduled');
  });

  it('fails a project whose create ends in INIT_FAILED at once, with the status named', async () => {
    fake.failNext('create');
    const created = await api('POST', '/v1/projects', { body: { name: 'Doomed', provider: 'supabase' } });
    const id: string = created.body.project.id;
    const failed = await until(api, id, 'failed');
    expect(failed.last_error).toContain('INIT_FAILED');
    const job = await one(sys.db.sql`select status, attempts from jobs where subject_id = ${id}`);
    expect(job).toMatchObject({ status: 'dead', attempts: 1 });
  });

  it('turns a project stuck in PAUSING past its deadline into failed, with the status, how long, an alert event and a realtime event', async () => {
    const created = await api('POST', '/v1/projects', { body: { name: 'Stuck', provider: 'supabase' } });
    const id: string = created.body.project.id;
    await until(api, id, 'active');
    const ref = refOf(fake, id)[0]!.ref;
    fake.stick(ref, 'PAUSING');
    const started = Date.now();
    expect((await api('POST', `/v1/projects/${id}/suspend`)).status).toBe(202);
    const failed = await until(api, id, 'failed', 15_000);
    // The deadline was 3 s (SWITCHYARD_DEADLINES), not the default 15 minutes.
    expect(Date.now() - started).toBeLessThan(10_000);
    expect(failed.last_error).toMatch(/stuck in PAUSING for \d+s, past the 3s deadline for suspending on supabase/);
    const alerts = await api('GET', `/v1/logs?project=${id}&kind=alert`);
    expect(alerts.body.data).toHaveLength(1);
    expect(alerts.body.data[0]).toMatchObject({ provider: 'switchyard', level: 'error', kind: 'alert' });
    expect(alerts.body.data[0].message).toContain('PAUSING');
    const published = await sys.db.sql`select payload from realtime_events where topics @> ${[`project:${id}`]}::text[] order by id`;
    expect(published.map((e) => (e.payload as { resource?: { status?: string } }).resource?.status)).toContain('failed');
    fake.release(ref);
  });

  it('restores only after a pause still in progress has finished', async () => {
    const created = await api('POST', '/v1/projects', { body: { name: 'Slow pause', provider: 'supabase' } });
    const id: string = created.body.project.id;
    await until(api, id, 'active');
    expect((await api('POST', `/v1/projects/${id}/suspend`)).status).toBe(202);
    await until(api, id, 'suspended');
    const ref = refOf(fake, id)[0]!.ref;
    // Supabase says the project is pausing again (the failure mode users report), for 1.5 s.
    const p = fake.projects.get(ref)!;
    Object.assign(p, { status: 'PAUSING', since: Date.now(), next: [{ status: 'INACTIVE', afterMs: 1500 }] });
    const resumed = await api('POST', `/v1/projects/${id}/resume`);
    expect(resumed.status).toBe(202);
    await until(api, id, 'active');
    const notes = await sys.db.sql`select data->>'message' as message from job_events where job_id = ${resumed.body.job.id} and type = 'progress'`;
    expect(notes.map((n) => n.message)).toContainEqual(expect.stringContaining('waiting for the pause to finish before restoring (supabase status PAUSING'));
    const job = await one(sys.db.sql`select status from jobs where id = ${resumed.body.job.id}`);
    expect(job.status).toBe('succeeded');
  });

  it("fails with Supabase's reason, without retrying, when it refuses what the request could not know", async () => {
    const created = await api('POST', '/v1/projects', { body: { name: 'Refused', provider: 'supabase' } });
    const id: string = created.body.project.id;
    await until(api, id, 'active');
    expect((await api('POST', `/v1/projects/${id}/suspend`)).status).toBe(202);
    await until(api, id, 'suspended');
    const ref = refOf(fake, id)[0]!.ref;
    fake.pausedDaysAgo(ref, 91);
    const resumed = await api('POST', `/v1/projects/${id}/resume`);
    expect(resumed.status).toBe(202);
    const failed = await until(api, id, 'failed');
    expect(failed.last_error).toContain('paused for more than 90 days');
    expect(await one(sys.db.sql`select attempts from jobs where id = ${resumed.body.job.id}`)).toEqual({ attempts: 1 });
  });

  it('refuses at request time what Supabase is known to refuse: a restore past the 90 days', async () => {
    const created = await api('POST', '/v1/projects', { body: { name: 'Long paused', provider: 'supabase' } });
    const id: string = created.body.project.id;
    await until(api, id, 'active');
    expect((await api('POST', `/v1/projects/${id}/suspend`)).status).toBe(202);
    await until(api, id, 'suspended');
    const longAgo = new Date(Date.now() - 95 * 86_400_000).toISOString();
    await sys.db.sql`update projects set provider_details = provider_details || ${JSON.stringify({ paused_at: longAgo })}::jsonb where id = ${id}`;
    const before = await one(sys.db.sql`select count(*)::int as n from jobs where subject_id = ${id}`);
    const refused = await api('POST', `/v1/projects/${id}/resume`);
    expect(refused.status).toBe(422);
    expect(refused.headers.get('content-type')).toContain('application/problem+json');
    expect(refused.body.detail).toContain('paused more than 90 days ago');
    expect((await projectOf(api, id)).status).toBe('suspended');
    expect(await one(sys.db.sql`select count(*)::int as n from jobs where subject_id = ${id}`)).toEqual(before);
  });

  it('refuses a provider the deployment does not offer, and an unknown one', async () => {
    const bad = await api('POST', '/v1/projects', { body: { name: 'x', provider: 'neon' } });
    expect(bad.status).toBe(400);
    const plain = await startTestSystem();
    try {
      const res = await plain.api('POST', '/v1/projects', { body: { name: 'Wants supabase', provider: 'supabase' } });
      expect(res.status).toBe(422);
      expect(res.body.detail).toContain('available: postgres');
      expect(res.body.detail).toContain('SUPABASE_ACCESS_TOKEN');
      expect((await plain.api('GET', '/v1/projects')).body.data).toEqual([]);
    } finally {
      await plain.stop();
    }
  });

  /** A project made at Supabase directly (not through Switchyard), as a tenant's existing one would be. */
  async function existingSupabaseProject(name: string, dbPass: string) {
    const res = await fetch(`${fake.url}/v1/projects`, {
      method: 'POST', headers: { Authorization: `Bearer ${fake.token}`, 'Content-Type': 'application/json' },
      body: JSON.stringify({ name, organization_slug: ORG, db_pass: dbPass, region: 'eu-central-1' }),
    });
    expect(res.status).toBe(201);
    const { ref } = await res.json() as { ref: string };
    await waitFor(async () => (await statusAtSupabase(ref)) === 'ACTIVE_HEALTHY' || null, 10_000, 'the existing project up');
    return ref;
  }

  /** The project's status as Supabase answers it (the fake moves statuses on when asked). */
  async function statusAtSupabase(ref: string) {
    const res = await fetch(`${fake.url}/v1/projects/${ref}`, { headers: { Authorization: `Bearer ${fake.token}` } });
    return ((await res.json()) as { status: string }).status;
  }

  it('imports an existing Supabase project by ref: adopted, its credentials connect, its logs are pulled, and its lifecycle runs here', async () => {
    const ref = await existingSupabaseProject('Legacy shop', 'legacy-pass-123');
    const creates = fake.requests.filter((r) => r.method === 'POST' && r.path === '/v1/projects').length;
    const imported = await api('POST', '/v1/projects/import', { body: { name: 'Legacy shop', provider: 'supabase', ref, db_pass: 'legacy-pass-123' } });
    expect(imported.status).toBe(202);
    expect(imported.body.project).toMatchObject({ provider: 'supabase', status: 'provisioning', imported: true });
    const id: string = imported.body.project.id;
    const active = await until(api, id, 'active');
    expect(active.api_url).toBe(`https://${ref}.supabase.co`);
    // Adopted, not created: no create call, one Supabase project.
    expect(fake.requests.filter((r) => r.method === 'POST' && r.path === '/v1/projects')).toHaveLength(creates);
    const creds = (await api('GET', `/v1/projects/${id}/credentials`)).body;
    expect(await query(creds.pooled_connection_string)).toEqual({ who: `postgres.${ref}`, db: `sb_${ref}` });
    expect((await api('GET', `/v1/projects/${id}/log-sources`)).body.data).toMatchObject([{ provider: 'supabase', config: { project_ref: ref } }]);
    // The password is nowhere but in the sealed credentials.
    const stored = JSON.stringify(await sys.db.sql`select payload, state from jobs where subject_id = ${id}`);
    expect(stored).not.toContain('legacy-pass-123');

    // The same ref twice is refused, whichever tenant asks.
    const again = await api('POST', '/v1/projects/import', { body: { name: 'Legacy again', provider: 'supabase', ref } });
    expect(again.status).toBe(409);
    expect(again.body.errors).toEqual([{ field: 'ref', message: 'already registered' }]);
    const other = await createTenant(sys, 'supa-other');
    expect((await other.api('POST', '/v1/projects/import', { body: { name: 'Not yours', provider: 'supabase', ref } })).status).toBe(409);

    expect((await api('POST', `/v1/projects/${id}/suspend`)).status).toBe(202);
    await until(api, id, 'suspended');
    expect(fake.projects.get(ref)!.status).toBe('INACTIVE');
    expect((await api('DELETE', `/v1/projects/${id}`)).status).toBe(202);
    await until(api, id, 'deleted');
    expect(fake.projects.get(ref)!.status).toBe('REMOVED');
  });

  it('imports a paused Supabase project as suspended (no connection strings without its password), and resumes it by restoring it', async () => {
    const ref = await existingSupabaseProject('Paused legacy', 'paused-pass-123');
    await fetch(`${fake.url}/v1/projects/${ref}/pause`, { method: 'POST', headers: { Authorization: `Bearer ${fake.token}` } });
    await waitFor(async () => (await statusAtSupabase(ref)) === 'INACTIVE' || null, 10_000, 'paused at Supabase');
    const imported = await api('POST', '/v1/projects/import', { body: { name: 'Paused legacy', provider: 'supabase', ref } });
    expect(imported.status).toBe(202);
    const id: string = imported.body.project.id;
    await until(api, id, 'suspended');
    const creds = (await api('GET', `/v1/projects/${id}/credentials`)).body;
    expect(creds).toMatchObject({ api_url: `https://${ref}.supabase.co`, publishable_key: fake.projects.get(ref)!.keys.publishable });
    expect(creds.connection_string).toBeUndefined();
    expect((await api('POST', `/v1/projects/${id}/resume`)).status).toBe(202);
    await until(api, id, 'active');
    expect(fake.projects.get(ref)!.status).toBe('ACTIVE_HEALTHY');
  });

  it('fails an import of a ref Supabase does not know, with the reason, and refuses bad import bodies', async () => {
    const imported = await api('POST', '/v1/projects/import', { body: { name: 'Ghost', provider: 'supabase', ref: 'zzzzzzzzzzzzzzzzzzzz' } });
    expect(imported.status).toBe(202);
    const failed = await until(api, imported.body.project.id, 'failed');
    expect(failed.last_error).toContain('there is no Supabase project zzzzzzzzzzzzzzzzzzzz');
    const bad = await api('POST', '/v1/projects/import', { body: { name: 'Bad', provider: 'supabase', ref: 'NOT-A-REF' } });
    expect(bad.status).toBe(400);
    expect(bad.body.errors.map((e: { field: string }) => e.field)).toEqual(['ref']);
    // This deployment does not allow private database hosts: a loopback database is refused, and nothing is made.
    const before = (await api('GET', '/v1/projects?limit=100')).body.data.length;
    const local = await api('POST', '/v1/projects/import', { body: { name: 'Local', provider: 'postgres', connection_string: serverUrl() } });
    expect(local.status).toBe(422);
    expect(local.body.errors).toEqual([{ field: 'connection_string', message: expect.stringContaining('private address') }]);
    expect(JSON.stringify(local.body)).not.toContain(new URL(serverUrl()).password);
    for (const host of ['[::ffff:127.0.0.1]', 'localhost', '10.0.0.5', '169.254.169.254']) {
      const r = await api('POST', '/v1/projects/import', { body: { name: 'Sneaky', provider: 'postgres', connection_string: `postgresql://u:p@${host}:5432/db` } });
      expect(r.status, host).toBe(422);
    }
    expect((await api('GET', '/v1/projects?limit=100')).body.data.length).toBe(before);
  });
});

describe('supabase projects under the rate limit', () => {
  let fake: FakeManagement;
  let sys: TestSystem;
  const orgs = [{ slug: ORG, name: 'Acme', plan: 'pro' as const }];
  beforeAll(async () => {
    // Supabase's limit, scaled: 10 calls per endpoint and scope in 2 s windows. The shared
    // budget: 150 a minute with a burst of 4, at most 9 in any such window.
    fake = await startSupabaseManagementFake({ organizations: orgs, comingUpMs: 200, rateLimitPerMinute: 10, rateWindowMs: 2000 });
    sys = await startTestSystem(env(fake, { SWITCHYARD_SUPABASE_RATE_LIMIT: '150/4' }));
  });
  afterAll(async () => {
    await sys?.stop();
    await fake?.close();
  });

  it('converges 20 projects created at once without a 429, and refuses to pause a paid organization\'s project at request time', async () => {
    const { api } = await createTenant(sys, 'many');
    const created = await Promise.all(Array.from({ length: 20 }, (_, i) => api('POST', '/v1/projects', { body: { name: `Tenant ${i}`, provider: 'supabase' } })));
    expect(created.map((c) => c.status)).toEqual(Array(20).fill(202));
    const ids = created.map((c) => c.body.project.id as string);
    await waitFor(async () => {
      const list = (await api('GET', '/v1/projects?limit=50')).body.data as { status: string; last_error: string | null }[];
      const bad = list.find((p) => p.status === 'failed');
      if (bad) throw new Error(`a project failed: ${bad.last_error}`);
      return list.filter((p) => p.status === 'active').length === 20;
    }, 60_000, '20 projects active');
    expect(fake.projects.size).toBe(20);
    expect(fake.requests.filter((r) => r.status === 429)).toEqual([]);
    // The budget made them wait (continuations), not fail: no attempt was used up.
    const retries = await sys.db.sql`select count(*)::int as n from job_events e join jobs j on j.id = e.job_id where j.subject_id = any(${ids}) and e.type = 'retry_scheduled'`;
    expect(retries[0]!.n).toBe(0);
    const waited = await sys.db.sql`select count(*)::int as n from job_events e join jobs j on j.id = e.job_id where j.subject_id = any(${ids}) and e.data->>'message' like '%Management API budget%'`;
    expect(waited[0]!.n).toBeGreaterThan(0);

    const refused = await api('POST', `/v1/projects/${ids[0]}/suspend`);
    expect(refused.status).toBe(422);
    expect(refused.body.detail).toMatch(/paid plan \(acme-org is on pro\)/);
    expect((await projectOf(api, ids[0]!)).status).toBe('active');
  });
});
