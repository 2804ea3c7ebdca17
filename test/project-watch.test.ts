/**
 * Watching live projects: `project.health` and `project.metrics` jobs made by the sweeper every
 * second here, against real project databases on the test server. Health readings stored and
 * served, a health change on realtime, a degraded project recovering; database metrics that move
 * when the test opens connections and runs transactions; a metric alert that triggers and
 * resolves through the PagerDuty fake; samples kept by plan.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import postgres from 'postgres';
import { startPagerDutyFake, type FakePagerDuty } from './fakes/pagerduty.ts';
import { createTenant, one, serverUrl, startTestSystem, waitFor, type Api, type TestSystem } from './helpers/system.ts';
import { applyRetention } from '../workers/scheduler.ts';

let sys: TestSystem;
let pd: FakePagerDuty;
const admin = postgres(serverUrl(), { max: 2, onnotice: () => {} });

beforeAll(async () => {
  pd = await startPagerDutyFake();
  sys = await startTestSystem({
    SWITCHYARD_PROJECT_HEALTH_INTERVAL_S: '1', SWITCHYARD_PROJECT_METRICS_INTERVAL_S: '1', SWITCHYARD_ALERT_EVAL_INTERVAL_S: '1',
    SWITCHYARD_ALERT_ALLOW_PRIVATE_URLS: 'true', SWITCHYARD_PAGERDUTY_EVENTS_URL: pd.url, SWITCHYARD_IMPORT_ALLOW_PRIVATE_HOSTS: 'true',
  });
});
afterAll(async () => {
  await sys?.stop();
  await pd?.close();
  await admin.end({ timeout: 2 });
});

/** An active postgres project and its connection string. */
async function activeProject(api: Api, name: string): Promise<{ id: string; url: string; role: string; db: string }> {
  const created = await api('POST', '/v1/projects', { body: { name, plan: 'pro' } });
  expect(created.status).toBe(202);
  const id: string = created.body.project.id;
  await waitFor(async () => (await api('GET', `/v1/projects/${id}`)).body.project.status === 'active', 20_000, `${name} active`);
  const url: string = (await api('GET', `/v1/projects/${id}/credentials`)).body.connection_string;
  const u = new URL(url);
  return { id, url, role: decodeURIComponent(u.username), db: u.pathname.slice(1) };
}

const healthOf = async (api: Api, id: string) => (await api('GET', `/v1/projects/${id}/health`)).body;

/** The newest bucket with samples, per minute. */
async function latestBucket(api: Api, id: string) {
  const r = await api('GET', `/v1/projects/${id}/metrics?interval=1m`);
  expect(r.status).toBe(200);
  return { bucket: r.body.data.at(-1) as { samples: number; connections: number; connections_limit: number; size_bytes: number } | undefined, body: r.body };
}

/** `n` connections held open to the database (each has run a query). */
async function holdConnections(url: string, n: number) {
  const clients = Array.from({ length: n }, () => postgres(url, { max: 1, onnotice: () => {} }));
  await Promise.all(clients.map((c) => c`select 1`));
  return { close: () => Promise.all(clients.map((c) => c.end({ timeout: 1 }))) };
}

describe('project health', () => {
  it('stores each reading, publishes a change on realtime, and brings a degraded project back to active once it is healthy', async () => {
    const { api } = await createTenant(sys, 'watch-health');
    const p = await activeProject(api, 'Watched');
    const healthy = await waitFor(async () => {
      const h = await healthOf(api, p.id);
      return h.health?.status === 'healthy' ? h : null;
    }, 15_000, 'a healthy reading');
    expect(healthy).toMatchObject({ project_id: p.id, project_status: 'active', health: { services: [{ name: 'db', status: 'healthy' }] } });
    expect(Date.now() - Date.parse(healthy.health.checked_at)).toBeLessThan(10_000);

    // The project's role can no longer log in: the next reading says so, with the reason.
    await admin.unsafe(`alter role "${p.role}" nologin`);
    const sick = await waitFor(async () => {
      const h = await healthOf(api, p.id);
      return h.health?.status === 'unhealthy' ? h : null;
    }, 15_000, 'an unhealthy reading');
    expect(sick.health.error).toMatch(/not permitted to log in/);
    expect(JSON.stringify(sick)).not.toContain(new URL(p.url).password);
    const published = await sys.db.sql`select payload from realtime_events where topics @> ${[`project:${p.id}`]}::text[] order by id`;
    const healthEvents = published.map((e) => (e.payload as { resource?: { health?: { status?: string } } }).resource?.health?.status).filter(Boolean);
    expect(healthEvents).toEqual(expect.arrayContaining(['healthy', 'unhealthy']));
    // One event per change, not per reading (many readings were taken).
    const readings = await one(sys.db.sql`select count(*)::int as n from jobs where subject_id = ${p.id} and kind = 'project.health' and status = 'succeeded'`);
    expect(healthEvents.length).toBeLessThan(readings.n + 1);

    // A project left degraded (a deadline passed while it still served) recovers on a healthy reading.
    await sys.db.sql`update projects set status = 'degraded', last_error = 'stuck in RESTORING' where id = ${p.id}`;
    await admin.unsafe(`alter role "${p.role}" login`);
    const back = await waitFor(async () => {
      const r = (await api('GET', `/v1/projects/${p.id}`)).body.project;
      return r.status === 'active' ? r : null;
    }, 15_000, 'the project back to active');
    expect(back.last_error).toBeNull();
    expect((await healthOf(api, p.id)).health.status).toBe('healthy');
  });

  it('answers 404 for another tenant', async () => {
    const a = await createTenant(sys, 'watch-owner');
    const b = await createTenant(sys, 'watch-other');
    const p = await activeProject(a.api, 'Mine');
    expect((await b.api('GET', `/v1/projects/${p.id}/health`)).status).toBe(404);
    expect((await b.api('GET', `/v1/projects/${p.id}/metrics`)).status).toBe(404);
  });
});

describe('project metrics', () => {
  it('samples connections, transactions and top statements from the database, which move when the test uses it', async () => {
    const { api } = await createTenant(sys, 'watch-metrics');
    const p = await activeProject(api, 'Busy');
    const dbUrl = new URL(serverUrl());
    dbUrl.pathname = `/${p.db}`;
    const preloaded = (await admin`select current_setting('shared_preload_libraries') as v`)[0]!.v.includes('pg_stat_statements');
    // The embedded test server loads it (test/global-setup.ts); a TEST_DATABASE_URL server may not.
    if (!process.env.TEST_DATABASE_URL) expect(preloaded).toBe(true);
    if (preloaded) await admin.unsafe(`create extension if not exists pg_stat_statements`).catch(() => {});
    const projAdmin = postgres(dbUrl.toString(), { max: 1, onnotice: () => {} });
    if (preloaded) await projAdmin.unsafe('create extension if not exists pg_stat_statements');
    await projAdmin.end({ timeout: 1 });

    const first = await waitFor(async () => {
      const { bucket } = await latestBucket(api, p.id);
      return bucket && bucket.samples >= 2 ? bucket : null;
    }, 15_000, 'two samples');
    expect(first.connections_limit).toBeGreaterThan(0);
    expect(first.size_bytes).toBeGreaterThan(0);
    const baseline = first.connections;

    const held = await holdConnections(p.url, 6);
    const work = postgres(p.url, { max: 1, onnotice: () => {} });
    await work`create table if not exists orders (id serial primary key, note text)`;
    for (let i = 0; i < 200; i++) await work`insert into orders (note) values (${'card 4242-secret-' + i})`;
    const busy = await waitFor(async () => {
      const r = await api('GET', `/v1/projects/${p.id}/metrics?interval=1m&since=${new Date(Date.now() - 120_000).toISOString()}`);
      const b = (r.body.data as { connections: number; connections_limit: number; connections_ratio: number; commits_per_s: number | null; cache_hit_ratio: number }[]).find((x) => x.connections >= baseline + 6 && (x.commits_per_s ?? 0) > 0);
      return b ? { b, body: r.body } : null;
    }, 15_000, 'the busy database in the metrics');
    expect(busy.b.connections_ratio).toBeCloseTo(busy.b.connections / busy.b.connections_limit, 5);
    expect(busy.b.cache_hit_ratio).toBeGreaterThan(0);
    if (preloaded) {
      const top = await waitFor(async () => (await latestBucket(api, p.id)).body.top_statements, 10_000, 'top statements');
      const texts: string[] = top.statements.map((s: { query: string }) => s.query);
      expect(texts.some((q) => /insert into orders/i.test(q) && q.includes('$1'))).toBe(true);
      // Normalized text only: no parameter values.
      expect(JSON.stringify(top)).not.toContain('4242-secret');
    } else {
      expect((await latestBucket(api, p.id)).body.top_statements).toBeNull();
    }
    await work.end({ timeout: 1 });
    await held.close();

    const bad = await api('GET', `/v1/projects/${p.id}/metrics?interval=1m&since=2026-01-01T00:00:00Z&until=2025-01-01T00:00:00Z`);
    expect(bad.status).toBe(400);
    expect(bad.headers.get('content-type')).toContain('application/problem+json');
    expect((await api('GET', `/v1/projects/${p.id}/metrics?interval=1m&since=2020-01-01T00:00:00Z`)).status).toBe(400);
    expect((await api('GET', `/v1/projects/${p.id}/metrics?interval=7m`)).status).toBe(400);
  });

  it('fires a metric alert to PagerDuty when connections cross the bound, and resolves it under the same dedup key when they fall', async () => {
    const { api } = await createTenant(sys, 'watch-alerts');
    const p = await activeProject(api, 'Paged');
    const quiet = await waitFor(async () => {
      const { bucket } = await latestBucket(api, p.id);
      return bucket && bucket.samples >= 2 ? bucket : null;
    }, 15_000, 'samples');
    const bound = quiet.connections + 3;
    const created = await api('POST', '/v1/alert-rules', {
      body: { project: p.id, name: 'Too many connections', metric: { name: 'connections', above: bound }, window: '30s', cooldown: '0s', channel: { type: 'pagerduty', routing_key: pd.routingKey } },
    });
    expect(created.status).toBe(201);
    expect(created.body.signing_secret).toBeUndefined();
    expect(created.body.alert_rule).toMatchObject({ threshold: null, metric: { name: 'connections', above: bound }, channel: { type: 'pagerduty' }, firing_since: null });
    expect(JSON.stringify(created.body)).not.toContain(pd.routingKey);
    const ruleId: string = created.body.alert_rule.id;
    const dedup = `switchyard-${ruleId}`;

    // Quiet: a few evaluations, no event.
    await waitFor(async () => (await one(sys.db.sql`select count(*)::int as n from jobs where subject_id = ${ruleId} and status = 'succeeded'`)).n >= 2, 15_000, 'evaluations');
    expect(pd.events).toEqual([]);

    const held = await holdConnections(p.url, 6);
    const trigger = await waitFor(async () => pd.events.find((e) => e.dedup_key === dedup && e.event_action === 'trigger'), 20_000, 'the PagerDuty trigger');
    expect(trigger.payload).toMatchObject({ severity: 'error', source: `switchyard/${p.id}` });
    expect(trigger.payload!.summary).toMatch(/Too many connections.*connections is \d+, above/);
    const firing = (await api('GET', `/v1/alert-rules/${ruleId}`)).body.alert_rule;
    expect(firing.firing_since).not.toBeNull();
    // Still above the bound a few evaluations later: one episode, one trigger.
    await new Promise((r) => setTimeout(r, 2500));
    expect(pd.events.filter((e) => e.dedup_key === dedup && e.event_action === 'trigger')).toHaveLength(1);

    await held.close();
    await waitFor(async () => pd.events.find((e) => e.dedup_key === dedup && e.event_action === 'resolve'), 20_000, 'the PagerDuty resolve');
    expect(pd.alerts.get(dedup)).toBe('resolved');
    const rule = (await api('GET', `/v1/alert-rules/${ruleId}`)).body.alert_rule;
    expect(rule).toMatchObject({ firings: 1, firing_since: null, channel: { healthy: true } });
    const alerts = (await api('GET', `/v1/logs?project=${p.id}&kind=alert`)).body.data;
    expect(alerts.map((a: { level: string }) => a.level).sort()).toEqual(['error', 'info']);
    const published = await sys.db.sql`select payload->>'type' as type from realtime_events where topics @> ${[`project:${p.id}`]}::text[] and event = 'log'`;
    expect(published.map((e) => e.type).sort()).toEqual(['alert', 'alert_resolved']);
  });

  it("keeps samples as long as the tenant's plan keeps events (30 days on pro)", async () => {
    const { api, tenantId } = await createTenant(sys, 'watch-retention');
    const p = await activeProject(api, 'Old');
    const row = { tenant_id: tenantId, project_id: p.id, connections_total: 1, connections_active: 1, connections_idle: 0, connections_idle_in_tx: 0, connections_limit: 10, xact_commit: 1, xact_rollback: 0, blks_hit: 1, blks_read: 0, deadlocks: 0, temp_bytes: 0, size_bytes: 1 };
    const now = new Date();
    for (const days of [40, 10]) {
      await sys.db.sql`insert into project_metrics ${sys.db.sql({ ...row, ts: new Date(now.getTime() - days * 86_400_000).toISOString() })}`;
    }
    const result = await applyRetention(sys.db.sql, { free: 14, pro: 30, enterprise: 90 }, now);
    expect(result.deletedMetricSamples).toBeGreaterThanOrEqual(1);
    const left = await sys.db.sql`select ts from project_metrics where project_id = ${p.id} and ts < now() - interval '1 day'`;
    expect(left).toHaveLength(1);
    expect(now.getTime() - new Date(left[0]!.ts).getTime()).toBeLessThan(11 * 86_400_000);
  });
});

describe('importing a Postgres database', () => {
  /** A database the tenant already has (on the test server), with its own role. */
  async function existingDatabase(name: string, password: string) {
    await admin.unsafe(`create role "${name}" login password '${password}'`);
    await admin.unsafe(`create database "${name}" owner "${name}"`);
    const u = new URL(serverUrl());
    return `postgresql://${name}:${password}@${u.host}/${name}`;
  }

  it('verifies the connection string, registers the database as active, watches it, refuses to suspend it, and only forgets it on delete', async () => {
    const { api } = await createTenant(sys, 'import-pg');
    const url = await existingDatabase('legacy_orders', 'legacy-pw-1');
    const imported = await api('POST', '/v1/projects/import', { body: { name: 'Legacy orders', provider: 'postgres', connection_string: url, plan: 'pro' } });
    expect(imported.status).toBe(201);
    expect(imported.headers.get('location')).toBe(`/v1/projects/${imported.body.project.id}`);
    expect(imported.body.project).toMatchObject({ provider: 'postgres', status: 'active', imported: true, has_credentials: true });
    expect(JSON.stringify(imported.body)).not.toContain('legacy-pw-1');
    const id: string = imported.body.project.id;
    expect((await api('GET', `/v1/projects/${id}/credentials`)).body.connection_string).toBe(url);
    const row = await one(sys.db.sql`select connection from projects where id = ${id}`);
    expect(row.connection).not.toContain('legacy-pw-1');

    // Watched like any other: health readings and metric samples over its own connection.
    await waitFor(async () => (await healthOf(api, id)).health?.status === 'healthy' || null, 15_000, 'a healthy reading');
    await waitFor(async () => (await latestBucket(api, id)).bucket, 15_000, 'a metrics sample');

    // The same database again is the same project.
    const twice = await api('POST', '/v1/projects/import', { body: { name: 'Again', provider: 'postgres', connection_string: url } });
    expect(twice.status).toBe(409);
    expect(twice.body.errors).toEqual([{ field: 'connection_string', message: 'already registered' }]);

    const suspend = await api('POST', `/v1/projects/${id}/suspend`);
    expect(suspend.status).toBe(422);
    expect(suspend.body.detail).toContain('only watches it');
    expect((await api('DELETE', `/v1/projects/${id}`)).status).toBe(202);
    await waitFor(async () => (await api('GET', `/v1/projects/${id}`)).body.project.status === 'deleted' || null, 15_000, 'forgotten');
    // Forgotten, not dropped: the tenant's database and role are untouched.
    const still = postgres(url, { max: 1, onnotice: () => {} });
    expect((await still`select current_database() as db`)[0]!.db).toBe('legacy_orders');
    await still.end({ timeout: 1 });
  });

  it('refuses a connection string that does not connect, with the server\'s reason and no secret, and creates nothing', async () => {
    const { api } = await createTenant(sys, 'import-bad');
    const url = await existingDatabase('legacy_bad', 'right-pw-2');
    const wrong = url.replace('right-pw-2', 'wrong-pw-2');
    const refused = await api('POST', '/v1/projects/import', { body: { name: 'Wrong', provider: 'postgres', connection_string: wrong } });
    expect(refused.status).toBe(422);
    expect(refused.headers.get('content-type')).toContain('application/problem+json');
    expect(refused.body.errors).toEqual([{ field: 'connection_string', message: expect.stringMatching(/password authentication failed/) }]);
    expect(JSON.stringify(refused.body)).not.toContain('wrong-pw-2');
    const missing = await api('POST', '/v1/projects/import', { body: { name: 'Gone', provider: 'postgres', connection_string: url.replace('/legacy_bad', '/no_such_db') } });
    expect(missing.status).toBe(422);
    expect(missing.body.detail).toMatch(/no_such_db/);
    const notUrl = await api('POST', '/v1/projects/import', { body: { name: 'Nope', provider: 'postgres', connection_string: 'mysql://x@y/z' } });
    expect(notUrl.status).toBe(422);
    expect((await api('GET', '/v1/projects')).body.data).toEqual([]);
  });
});
