/** Tenant isolation: another tenant's resources are 404 on every route, and its events never arrive. */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { openSse } from './helpers/sse.ts';
import { createTenant, startTestSystem, waitFor, type TestSystem } from './helpers/system.ts';

let sys: TestSystem;
beforeAll(async () => {
  sys = await startTestSystem();
});
afterAll(async () => {
  await sys?.stop();
});

describe('tenant isolation', () => {
  it("gives a second tenant 404 on every route of the first tenant's project, and none of its events", async () => {
    const a = await createTenant(sys, 'alpha');
    const b = await createTenant(sys, 'beta');
    const sseB = openSse(`${sys.url}/v1/events?topic=tenant:${b.tenantId}`, { Authorization: `Bearer ${b.key}` });
    await sseB.ready;

    const created = await a.api('POST', '/v1/projects', { body: { name: 'Secret project', slug: 'secret' } });
    expect(created.status).toBe(202);
    const id = created.body.project.id;
    const jobId = created.body.job.id;
    await waitFor(async () => (await a.api('GET', `/v1/projects/${id}`)).body.project.status === 'active', 15_000, 'active');

    const attempts: Array<[string, string]> = [
      ['GET', `/v1/projects/${id}`],
      ['GET', `/v1/projects/${id}/credentials`],
      ['POST', `/v1/projects/${id}/suspend`],
      ['POST', `/v1/projects/${id}/resume`],
      ['DELETE', `/v1/projects/${id}`],
      ['GET', `/v1/jobs/${jobId}`],
      ['POST', `/v1/jobs/${jobId}/cancel`],
      ['GET', `/v1/events?topic=project:${id}`],
      ['GET', `/v1/events?topic=job:${jobId}`],
      ['GET', `/v1/events?topic=tenant:${a.tenantId}`],
      ['GET', `/v1/tenants`],
    ];
    for (const [method, path] of attempts) {
      const res = await b.api(method, path);
      expect(res.status, `${method} ${path}`).toBe(404);
      expect(JSON.stringify(res.body)).not.toContain('Secret project');
    }
    const listed = await b.api('GET', '/v1/projects');
    expect(listed.body.data).toEqual([]);
    const jobs = await b.api('GET', `/v1/jobs?subject=project:${id}`);
    expect(jobs.body.data).toEqual([]);

    // Tenant A's project was untouched by B's attempts.
    expect((await a.api('GET', `/v1/projects/${id}`)).body.project.status).toBe('active');
    // B's stream got nothing of A's.
    await new Promise((r) => setTimeout(r, 300));
    // B's stream got nothing of A's: only the audit records of B's own refused attempts.
    expect(sseB.events.filter((e) => !(e.event === 'audit' && e.data.tenant_id !== a.tenantId && e.data.status === 404))).toEqual([]);
    expect(sseB.events.some((e) => JSON.stringify(e.data).includes('Secret project'))).toBe(false);
    sseB.close();
  });

  it('enforces roles: a viewer reads but may not mutate or reveal credentials', async () => {
    const a = await createTenant(sys, 'roles');
    const viewer = await a.api('POST', '/v1/api-keys', { body: { role: 'viewer', name: 'dashboard' } });
    expect(viewer.status).toBe(201);
    const v = viewer.body.api_key.secret as string;
    const created = await a.api('POST', '/v1/projects', { body: { name: 'Viewed' } });
    const id = created.body.project.id;
    expect((await a.api('GET', `/v1/projects/${id}`, { key: v })).status).toBe(200);
    for (const [m, p] of [['POST', '/v1/projects'], ['POST', `/v1/projects/${id}/suspend`], ['DELETE', `/v1/projects/${id}`], ['GET', `/v1/projects/${id}/credentials`], ['POST', '/v1/api-keys']] as const) {
      const res = await a.api(m, p, { key: v, body: m === 'GET' ? undefined : { name: 'x' } });
      expect(res.status, `${m} ${p}`).toBe(403);
    }
    // A tenant admin is not an operator.
    expect((await a.api('POST', '/v1/tenants', { body: { name: 'nope' } })).status).toBe(404);
    // Revoked keys stop working.
    const keyId = viewer.body.api_key.id;
    expect((await a.api('DELETE', `/v1/api-keys/${keyId}`)).status).toBe(200);
    expect((await a.api('GET', '/v1/projects', { key: v })).status).toBe(401);
    // Keys are stored hashed; the secret is never listed.
    const keys = await a.api('GET', '/v1/api-keys');
    expect(JSON.stringify(keys.body)).not.toContain(v);
    const [row] = await sys.db.sql`select hash from api_keys where id = ${keyId}`;
    expect(row!.hash).toMatch(/^[0-9a-f]{64}$/);
  });
});
