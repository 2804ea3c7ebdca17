/**
 * The event store's upkeep and charts: retention by plan (whole day partitions past the longest
 * retention dropped, shorter plans' rows deleted), at most once an hour whichever sweeper runs it,
 * and `GET /v1/logs/stats` counting per bucket, provider and level within the tenant.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { insertEvents, type NewEvent } from '../db/events.repo.ts';
import { newId } from '../core/ids.ts';
import { applyRetention, scheduleDue } from '../workers/scheduler.ts';
import { createTenant, startTestSystem, type TestSystem } from './helpers/system.ts';

let sys: TestSystem;
beforeAll(async () => {
  // API only: this file calls the scheduler itself. A runner sweeps once as it starts, and that
  // sweep's retention could drop the 100-day partition between a test creating it and inserting.
  sys = await startTestSystem({ SWITCHYARD_ROLE: 'api' });
});
afterAll(async () => {
  await sys?.stop();
});

const DAY = 86_400_000;
const event = (tenantId: string, projectId: string, ts: Date, over: Partial<NewEvent> = {}): NewEvent => ({
  ts: ts.toISOString(), tenantId, projectId, sourceId: 'src_test', provider: 'render', service: 'api', environment: null,
  level: 'info', kind: 'log', message: 'hello', fingerprint: null, attrs: {}, sourceEventId: newId('evt'), ...over,
});

describe('the event store', () => {
  it('applies retention by plan: old partitions dropped whole, shorter plans trimmed', async () => {
    const free = await createTenant(sys, 'retention-free');
    const big = await createTenant(sys, 'retention-enterprise');
    await sys.db.sql`update tenants set plan = 'free' where id = ${free.tenantId}`;
    await sys.db.sql`update tenants set plan = 'enterprise' where id = ${big.tenantId}`;
    const now = new Date();
    const ages = [1, 20, 40, 100];
    for (const t of [free, big]) await insertEvents(sys.db.sql, ages.map((d) => event(t.tenantId, 'prj_x', new Date(now.getTime() - d * DAY), { message: `${d} days` })));
    const oldDay = new Date(now.getTime() - 100 * DAY).toISOString().slice(0, 10).replace(/-/g, '');
    expect((await sys.db.sql`select to_regclass(${`events_p${oldDay}`}) as r`)[0]!.r).not.toBeNull();

    const result = await applyRetention(sys.db.sql, { free: 14, pro: 30, enterprise: 90 }, now);
    expect(result.droppedPartitions).toEqual([`events_p${oldDay}`]);
    expect(result.deletedRows).toBe(2); // the free tenant's 20- and 40-day-old rows
    const left = async (tenantId: string) =>
      (await sys.db.sql`select message from events where tenant_id = ${tenantId} order by ts desc`).map((r) => r.message);
    expect(await left(free.tenantId)).toEqual(['1 days']);
    expect(await left(big.tenantId)).toEqual(['1 days', '20 days', '40 days']);
    expect((await sys.db.sql`select to_regclass(${`events_p${oldDay}`}) as r`)[0]!.r).toBeNull();
  });

  it('runs retention at most once an hour, however many sweeps', async () => {
    const policy = { retention: { free: 14, pro: 30, enterprise: 90 } };
    await sys.db.sql`delete from schedules`;
    const runs = await Promise.all(Array.from({ length: 5 }, () => scheduleDue(sys.db.sql, policy)));
    expect(runs.filter((r) => r.retention !== null)).toHaveLength(1);
    expect((await scheduleDue(sys.db.sql, policy)).retention).toBeNull();
    const [row] = await sys.db.sql`select next_run_at > now() + interval '59 minutes' as later, last_result from schedules where name = 'events.retention'`;
    expect(row).toMatchObject({ later: true, lastResult: { droppedPartitions: [], deletedRows: 0 } });
  });

  it('counts per minute, provider and level for charts, within the tenant', async () => {
    const a = await createTenant(sys, 'stats-a');
    const b = await createTenant(sys, 'stats-b');
    const project = (await a.api('POST', '/v1/projects', { body: { name: 'charted' } })).body.project.id;
    const base = Math.floor(Date.now() / 60_000) * 60_000 - 10 * 60_000; // ten minutes ago, on the minute
    const at = (min: number, s = 5) => new Date(base + min * 60_000 + s * 1000);
    await insertEvents(sys.db.sql, [
      event(a.tenantId, project, at(0)), event(a.tenantId, project, at(0, 30)),
      event(a.tenantId, project, at(0), { level: 'error' }),
      event(a.tenantId, project, at(2), { provider: 'sentry', level: 'error', kind: 'error' }),
      event(b.tenantId, project, at(0)), // another tenant, even with the same project id: not counted
    ]);
    const since = new Date(base).toISOString();
    const res = await a.api('GET', `/v1/logs/stats?interval=1m&project=${project}&since=${since}`);
    expect(res.status, JSON.stringify(res.body)).toBe(200);
    expect(res.body.data).toEqual([
      { ts: new Date(base).toISOString(), provider: 'render', level: 'error', count: 1 },
      { ts: new Date(base).toISOString(), provider: 'render', level: 'info', count: 2 },
      { ts: new Date(base + 2 * 60_000).toISOString(), provider: 'sentry', level: 'error', count: 1 },
    ]);
    const hourly = await a.api('GET', `/v1/logs/stats?interval=1h&project=${project}&kind=error`);
    expect(hourly.body.data.reduce((n: number, r: any) => n + r.count, 0)).toBe(1);
    const tooLong = await a.api('GET', `/v1/logs/stats?interval=1m&since=${new Date(Date.now() - 2 * DAY).toISOString()}`);
    expect(tooLong.status).toBe(400);
    expect(tooLong.headers.get('content-type')).toContain('application/problem+json');
    expect((await a.api('GET', '/v1/logs/stats?interval=5m')).status).toBe(400);
  });
});
