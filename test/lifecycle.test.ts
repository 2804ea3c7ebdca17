/**
 * The whole flow ①–⑥ over HTTP against the real system: request → jobs row → local runner →
 * postgres provider → status → SSE. The provisioned database is checked by connecting to it.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import postgres from 'postgres';
import { openSse } from './helpers/sse.ts';
import { createTenant, databaseExists, startTestSystem, waitFor, type TestSystem } from './helpers/system.ts';

let sys: TestSystem;
beforeAll(async () => {
  sys = await startTestSystem();
});
afterAll(async () => {
  await sys?.stop();
});

async function canConnect(url: string): Promise<{ ok: true } | { ok: false; error: string }> {
  const client = postgres(url, { max: 1, connect_timeout: 5, onnotice: () => {} });
  try {
    const [row] = await client`select 1 as one`;
    return row?.one === 1 ? { ok: true } : { ok: false, error: 'no row' };
  } catch (err) {
    return { ok: false, error: (err as Error).message };
  } finally {
    await client.end({ timeout: 1 }).catch(() => {});
  }
}


describe('project lifecycle over HTTP', () => {
  it('creates, streams status, connects, suspends, resumes and deletes a project', async () => {
    const tenants = await sys.api('GET', '/v1/tenants');
    const tenantId = tenants.body.data[0].id;
    const sse = openSse(`${sys.url}/v1/events?topic=tenant:${tenantId}`, { Authorization: `Bearer ${sys.adminKey}` });
    await sse.ready;

    const created = await sys.api('POST', '/v1/projects', { body: { name: 'Lifecycle', slug: 'lifecycle', plan: 'pro' } });
    expect(created.status).toBe(202);
    expect(created.headers.get('x-content-type-options')).toBe('nosniff');
    expect(created.headers.get('location')).toBe(`/v1/projects/${created.body.project.id}`);
    expect(created.body.project.status).toBe('provisioning');
    expect(created.body.job).toMatchObject({ kind: 'project.provision', status: 'queued' });
    const id: string = created.body.project.id;

    const statusOf = (s: string) => (e: { event: string; data: any }) =>
      e.event === 'status' && e.data.resource.id === id && e.data.resource.status === s;
    const provisioning = await sse.waitFor(statusOf('provisioning'));
    const active = await sse.waitFor(statusOf('active'));
    expect(Number(active.id)).toBeGreaterThan(Number(provisioning.id));
    // No secret material rides along in events.
    expect(JSON.stringify(sse.events)).not.toMatch(/connection|password/i);

    const creds = await sys.api('GET', `/v1/projects/${id}/credentials`);
    expect(creds.status).toBe(200);
    expect(creds.headers.get('cache-control')).toBe('no-store');
    const connectionString: string = creds.body.connection_string;
    expect(await canConnect(connectionString)).toEqual({ ok: true });
    // Only /credentials ever shows the password.
    const password = new URL(connectionString).password;
    const got = await sys.api('GET', `/v1/projects/${id}`);
    const listed = await sys.api('GET', '/v1/projects');
    const job = await sys.api('GET', `/v1/jobs/${created.body.job.id}`);
    for (const r of [got, listed, job]) expect(JSON.stringify(r.body)).not.toContain(password);
    expect(job.body.job.status).toBe('succeeded');
    expect(job.body.job.events.map((e: any) => e.type)).toEqual(['created', 'started', 'succeeded']);

    const suspend = await sys.api('POST', `/v1/projects/${id}/suspend`);
    expect(suspend.status).toBe(202);
    expect(suspend.body.project.status).toBe('suspending');
    await sse.waitFor(statusOf('suspended'));
    const refused = await canConnect(connectionString);
    expect(refused.ok).toBe(false);

    const again = await sys.api('POST', `/v1/projects/${id}/suspend`);
    expect(again.status).toBe(409);
    expect(again.headers.get('content-type')).toContain('application/problem+json');
    expect(again.body.detail).toContain('suspended');
    expect(again.body.detail).toContain('active');

    expect((await sys.api('POST', `/v1/projects/${id}/resume`)).status).toBe(202);
    await sse.waitFor(statusOf('active'), 15_000).then(() => sse.waitFor((e) => statusOf('active')(e) && e.data.previous_status === 'resuming'));
    expect(await canConnect(connectionString)).toEqual({ ok: true });

    const del = await sys.api('DELETE', `/v1/projects/${id}`);
    expect(del.status).toBe(202);
    await sse.waitFor(statusOf('deleted'));
    expect(await databaseExists(id)).toBe(false);
    expect((await canConnect(connectionString)).ok).toBe(false);

    // The row stays, visible by id and by asking for deleted ones; the default list leaves it out.
    expect((await sys.api('GET', `/v1/projects/${id}`)).body.project.status).toBe('deleted');
    expect((await sys.api('GET', '/v1/projects')).body.data.map((p: any) => p.id)).not.toContain(id);
    expect((await sys.api('GET', '/v1/projects?status=deleted')).body.data.map((p: any) => p.id)).toContain(id);
    expect((await sys.api('GET', `/v1/projects/${id}/credentials`)).status).toBe(409);

    // The status stream saw every transition, in order.
    const seen = sse.events.filter((e) => e.event === 'status' && e.data.resource.id === id).map((e) => e.data.resource.status);
    expect(seen).toEqual(['provisioning', 'active', 'suspending', 'suspended', 'resuming', 'active', 'deleting', 'deleted']);
    sse.close();
  });

  it('lists with keyset pagination and a Link header', async () => {
    for (let i = 0; i < 5; i++) expect((await sys.api('POST', '/v1/projects', { body: { name: `page ${i}` } })).status).toBe(202);
    const first = await sys.api('GET', '/v1/projects?limit=2');
    expect(first.body.data).toHaveLength(2);
    expect(first.headers.get('link')).toMatch(/rel="next"/);
    const seen = new Set<string>(first.body.data.map((p: any) => p.id));
    expect(first.body.pagination).toEqual({ next_cursor: expect.any(String), has_more: true });
    let cursor = first.body.pagination.next_cursor;
    while (cursor) {
      const page = await sys.api('GET', `/v1/projects?limit=2&cursor=${cursor}`);
      for (const p of page.body.data) {
        expect(seen.has(p.id)).toBe(false);
        seen.add(p.id);
      }
      cursor = page.body.pagination.next_cursor;
      expect(page.body.pagination.has_more).toBe(cursor !== null);
    }
    expect(seen.size).toBeGreaterThanOrEqual(5);
    await waitFor(async () => {
      const all = await sys.api('GET', '/v1/projects?limit=100');
      return all.body.data.every((p: any) => p.status === 'active');
    }, 20_000, 'all projects active');
  });

  it("counts the tenant's jobs by kind and status, and how long the oldest due one has waited", async () => {
    const t = await createTenant(sys, 'queue-stats');
    for (let i = 0; i < 2; i++) expect((await t.api('POST', '/v1/projects', { body: { name: `stats ${i}` } })).status).toBe(202);
    await waitFor(async () => (await t.api('GET', '/v1/jobs?status=succeeded&kind=project.provision')).body.data.length === 2 || null, 20_000, 'provisioned');
    // A running job holds a concurrency key for an hour, so a queued job on the same key, due a
    // minute ago, waits: the one the runner can't take yet.
    await sys.db.sql`insert into jobs (id, tenant_id, kind, status, concurrency_key, lease_expires_at, locked_by)
                     values ('job_01kstatsrunning0000000000', ${t.tenantId}, 'store.provision', 'running', ${`stats:${t.tenantId}`}, now() + interval '1 hour', 'elsewhere')`;
    await sys.db.sql`insert into jobs (id, tenant_id, kind, status, concurrency_key, run_at)
                     values ('job_01kstatsqueued00000000000', ${t.tenantId}, 'store.provision', 'queued', ${`stats:${t.tenantId}`}, now() - interval '60 seconds')`;
    const stats = await t.api('GET', '/v1/jobs/stats');
    expect(stats.status, JSON.stringify(stats.body)).toBe(200);
    expect(stats.body.counts).toEqual(expect.arrayContaining([
      { kind: 'project.provision', status: 'succeeded', count: 2 },
      { kind: 'store.provision', status: 'running', count: 1 },
      { kind: 'store.provision', status: 'queued', count: 1 },
    ]));
    expect(stats.body.due).toHaveLength(1);
    expect(stats.body.due[0]).toMatchObject({ kind: 'store.provision', count: 1 });
    expect(stats.body.due[0].oldest_age_seconds).toBeGreaterThanOrEqual(59);
    expect(stats.body.due[0].oldest_age_seconds).toBeLessThan(120);
    // Finished jobs count from `since`; queued and running ones always.
    const later = await t.api('GET', `/v1/jobs/stats?since=${encodeURIComponent(new Date(Date.now() + 60_000).toISOString())}`);
    expect(later.body.counts.map((c: { status: string }) => c.status).sort()).toEqual(['queued', 'running']);
    // Another tenant sees none of it.
    expect((await sys.api('GET', '/v1/jobs/stats')).body.due).toEqual([]);
    expect((await t.api('GET', '/v1/jobs?kind=Not-A-Kind')).status).toBe(400);
    await sys.db.sql`delete from jobs where id in ('job_01kstatsrunning0000000000', 'job_01kstatsqueued00000000000')`;
  });

  it('serves an OpenAPI 3.1 document generated from the route schemas', async () => {
    const res = await sys.api('GET', '/openapi.json', { key: null });
    expect(res.status).toBe(200);
    expect(res.body.openapi).toBe('3.1.0');
    expect(Object.keys(res.body.paths)).toEqual(expect.arrayContaining(['/v1/projects', '/v1/projects/{id}/suspend', '/v1/jobs/{id}', '/v1/events']));
    expect(res.body.components.schemas.CreateProject.properties.plan.enum).toEqual(['free', 'pro', 'enterprise']);
  });

  it('answers /healthz and /readyz', async () => {
    expect((await sys.api('GET', '/healthz', { key: null })).status).toBe(200);
    expect((await sys.api('GET', '/readyz', { key: null })).body).toEqual({ status: 'ready', circuits: {} });
  });
});
