/**
 * The audit log: every mutating /v1 request recorded with who, what and the outcome, refused ones
 * included (401, 403, 409, 422, 429, a bad version); never a body, secret or token; reads not
 * recorded; admins only, with filters and keyset pages; realtime `audit` events for admin streams
 * only; append-only in the database; and the record committed before the handler can change
 * anything, shown by making each of the two writes fail in turn.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createApi, one, startTestSystem, waitFor, type Api, type TestSystem } from './helpers/system.ts';
import { openSse } from './helpers/sse.ts';
import { completeAudit, insertAudit } from '../db/audit.repo.ts';

let sys: TestSystem;
beforeAll(async () => {
  // The free plan is tight here, so a 429 is easy to reach; everything else is roomy.
  sys = await startTestSystem({ SWITCHYARD_RATE_LIMIT_PLANS: 'free=3/3,pro=1000000/100000,enterprise=1000000/100000' });
});
afterAll(async () => {
  await sys?.stop();
});

async function tenant(name: string, plan = 'pro'): Promise<{ id: string; api: Api; key: string; keyId: string; prefix: string }> {
  const res = await sys.api('POST', '/v1/tenants', { body: { name, plan } });
  expect(res.status, JSON.stringify(res.body)).toBe(201);
  return { id: res.body.tenant.id, api: createApi(sys.url, res.body.api_key.secret), key: res.body.api_key.secret, keyId: res.body.api_key.id, prefix: res.body.api_key.prefix };
}

const auditRows = (tenantId: string) => sys.db.sql<any[]>`select * from audit_log where tenant_id = ${tenantId} order by id`;

describe('the audit log', () => {
  it('records a mutation with who, what and its outcome, and no reads', async () => {
    const t = await tenant('audited');
    const before = (await auditRows(t.id)).length;
    expect((await t.api('GET', '/v1/projects')).status).toBe(200);
    const created = await t.api('POST', '/v1/projects', { body: { name: 'audited project' }, headers: { 'User-Agent': 'audit-test/1.0' } });
    expect(created.status).toBe(202);
    const rows = await auditRows(t.id);
    expect(rows).toHaveLength(before + 1);
    const row = rows.at(-1)!;
    expect(row).toMatchObject({
      tenantId: t.id, keyId: t.keyId, keyRole: 'admin', keyPrefix: t.prefix, method: 'POST', route: '/v1/projects',
      resourceId: created.body.project.id, status: 202, requestId: created.headers.get('x-request-id'), userAgent: 'audit-test/1.0',
    });
    expect(row.clientAddress).toMatch(/127\.0\.0\.1|::1/);
    expect(row.outcomeAt).not.toBeNull();

    // The action on it names it from the path.
    const suspend = await t.api('POST', `/v1/projects/${created.body.project.id}/suspend`);
    const last = (await auditRows(t.id)).at(-1)!;
    expect(last).toMatchObject({ route: '/v1/projects/:id/suspend', resourceId: created.body.project.id, status: suspend.status });
  });

  it('records refused requests: 401 (seen by the operator only), 403, 400, 409 and 429', async () => {
    const t = await tenant('refusals');
    const viewerKey = (await t.api('POST', '/v1/api-keys', { body: { role: 'viewer' } })).body.api_key;
    const viewer = createApi(sys.url, viewerKey.secret);
    expect((await viewer('POST', '/v1/projects', { body: { name: 'no' } })).status).toBe(403);
    expect((await t.api('POST', '/v1/projects', { body: { name: '' } })).status).toBe(400);
    expect((await t.api('POST', '/v1/rollouts', { body: { project: 'prj_00000000000000000000000000', service: 's', baseline: { version: 'a' }, canary: { version: 'b' }, policy: 'nope' } })).status).toBeGreaterThanOrEqual(404);
    const p = (await t.api('POST', '/v1/projects', { body: { name: 'conflicts' } })).body.project;
    await waitFor(async () => (await t.api('GET', `/v1/projects/${p.id}`)).body.project.status === 'active', 30_000, 'active');
    expect((await t.api('POST', `/v1/projects/${p.id}/resume`)).status).toBe(409);
    expect((await t.api('POST', '/v1/projects', { body: { name: 'v' }, headers: { 'API-Version': '1999-01-01' } })).status).toBe(400);
    const forged = `sk_forged_${'x'.repeat(30)}`;
    expect((await createApi(sys.url, forged)('DELETE', `/v1/projects/${p.id}`)).status).toBe(401);

    const rows = await auditRows(t.id);
    const statuses = rows.map((r) => `${r.status} ${r.method} ${r.route}`);
    expect(statuses).toContain('403 POST /v1/projects');
    expect(statuses).toContain('400 POST /v1/projects');
    expect(statuses).toContain('409 POST /v1/projects/:id/resume');
    expect(rows.find((r) => r.status === 403)!.keyRole).toBe('viewer');
    // Unknown version: refused before authentication, so tied to no tenant, like a 401.
    const unattributed = await sys.db.sql<any[]>`select * from audit_log where tenant_id is null and resource_id = ${p.id}`;
    expect(unattributed.map((r) => r.status)).toEqual([401]);
    expect(unattributed[0].route).toBe('/v1/projects/:id');
    // The operator sees it in its log; the tenant doesn't.
    const operatorView = await sys.api('GET', `/v1/audit-log?resource=${p.id}&status=401`);
    expect(operatorView.body.data).toHaveLength(1);
    expect(operatorView.body.data[0].tenant_id).toBeNull();
    expect((await t.api('GET', `/v1/audit-log?status=401`)).body.data).toHaveLength(0);

    // A 429 on the free plan's 3 requests a minute.
    const free = await tenant('free tier', 'free');
    const answers: number[] = [];
    for (let i = 0; i < 5; i++) answers.push((await free.api('POST', '/v1/projects', { body: { name: `f ${i}` } })).status);
    expect(answers).toContain(429);
    const freeRows = await auditRows(free.id);
    expect(freeRows.filter((r) => r.status === 429).length).toBe(answers.filter((s) => s === 429).length);
  });

  it('keeps no body, secret or token', async () => {
    const t = await tenant('secrets');
    const key = await t.api('POST', '/v1/api-keys', { body: { role: 'member', name: 'marker-name-7f3a' } });
    expect(key.status).toBe(201);
    const token = await t.api('POST', '/v1/events/token');
    const all = (await sys.db.sql<{ j: string }[]>`select to_jsonb(a)::text as j from audit_log a where tenant_id = ${t.id}`).map((r) => r.j).join('\n');
    expect(all).toContain(key.body.api_key.id);
    for (const secret of [key.body.api_key.secret, t.key, token.body.token, 'marker-name-7f3a']) expect(all).not.toContain(secret);
  });

  it('is for admins, with filters and keyset pages', async () => {
    const t = await tenant('reader');
    for (let i = 0; i < 3; i++) await t.api('POST', '/v1/projects', { body: { name: `r ${i}` } });
    const member = createApi(sys.url, (await t.api('POST', '/v1/api-keys', { body: { role: 'member' } })).body.api_key.secret);
    expect((await member('GET', '/v1/audit-log')).status).toBe(403);

    const first = await t.api('GET', '/v1/audit-log?route=/v1/projects&limit=2');
    expect(first.status).toBe(200);
    expect(first.body.data).toHaveLength(2);
    expect(first.body.pagination.has_more).toBe(true);
    const second = await t.api('GET', `/v1/audit-log?route=/v1/projects&limit=2&cursor=${first.body.pagination.next_cursor}`);
    expect(second.body.data).toHaveLength(1);
    const ids = [...first.body.data, ...second.body.data].map((e: any) => e.id);
    expect(new Set(ids).size).toBe(3);
    expect(first.body.data[0].key).toEqual({ id: t.keyId, role: 'admin', prefix: t.prefix });
    const byResource = await t.api('GET', `/v1/audit-log?resource=${first.body.data[0].resource_id}`);
    expect(byResource.body.data.map((e: any) => e.id)).toEqual([first.body.data[0].id]);
    expect((await t.api('GET', '/v1/audit-log?status=202&method=POST')).body.data.length).toBeGreaterThanOrEqual(3);
    expect((await t.api('GET', `/v1/audit-log?since=${new Date(Date.now() + 60_000).toISOString()}`)).body.data).toHaveLength(0);
    expect((await t.api('GET', '/v1/audit-log?status=abc')).status).toBe(400);
    // Another tenant's rows are never in it.
    const other = await tenant('other reader');
    expect((await other.api('GET', `/v1/audit-log?resource=${first.body.data[0].resource_id}`)).body.data).toHaveLength(0);
    // No route edits it.
    expect((await t.api('DELETE', `/v1/audit-log/${first.body.data[0].id}`)).status).toBe(404);
    expect((await t.api('DELETE', '/v1/audit-log')).status).toBe(405);
  });

  it('pushes audit events to an admin key\'s stream, never to a viewer\'s', async () => {
    const t = await tenant('live');
    const viewer = (await t.api('POST', '/v1/api-keys', { body: { role: 'viewer' } })).body.api_key.secret;
    const adminStream = openSse(`${sys.url}/v1/events?topic=tenant:${t.id}`, { Authorization: `Bearer ${t.key}` });
    const viewerStream = openSse(`${sys.url}/v1/events?topic=tenant:${t.id}`, { Authorization: `Bearer ${viewer}` });
    try {
      await new Promise((r) => setTimeout(r, 500));
      const created = await t.api('POST', '/v1/projects', { body: { name: 'live audit' } });
      const e = await adminStream.waitFor((x) => x.event === 'audit' && x.data.resource_id === created.body.project.id);
      expect(e.data).toMatchObject({ method: 'POST', route: '/v1/projects', status: 202, key: { id: t.keyId, role: 'admin' } });
      // The viewer's stream carries the same project's status events, and no audit event.
      await viewerStream.waitFor((x) => x.event === 'status' && x.data.resource?.id === created.body.project.id);
      expect(viewerStream.events.filter((x) => x.event === 'audit')).toHaveLength(0);
    } finally {
      adminStream.close();
      viewerStream.close();
    }
  });

  it('is append-only in the database: a finished row cannot be changed', async () => {
    const t = await tenant('append only');
    await t.api('POST', '/v1/projects', { body: { name: 'x' } });
    const row = (await auditRows(t.id)).at(-1)!;
    await expect(sys.db.sql`update audit_log set status = 200 where id = ${row.id}`).rejects.toThrow(/append-only/);
    await expect(sys.db.sql`update audit_log set route = '/elsewhere' where id = ${row.id}`).rejects.toThrow(/append-only/);
    expect((await one(sys.db.sql`select status from audit_log where id = ${row.id}`)).status).toBe(202);
  });

  it('commits the record before the change: no record, no change; a lost outcome leaves the record pending', async () => {
    const t = await tenant('ordering');
    const countKeys = async () => (await one(sys.db.sql`select count(*)::int as n from api_keys where tenant_id = ${t.id}`)).n;
    const keysBefore = await countKeys();
    // The pending row can't be written: the request fails and changes nothing.
    await sys.db.sql.unsafe(`create or replace function audit_test_refuse() returns trigger language plpgsql as $$ begin raise exception 'audit store refused'; end $$`);
    await sys.db.sql.unsafe(`create trigger audit_test_refuse before insert on audit_log for each row when (new.tenant_id = '${t.id}' and new.status is null) execute function audit_test_refuse()`);
    try {
      const refused = await t.api('POST', '/v1/api-keys', { body: { name: 'never made', role: 'viewer' } });
      expect(refused.status).toBeGreaterThanOrEqual(500);
      expect(await countKeys()).toBe(keysBefore);
    } finally {
      await sys.db.sql.unsafe('drop trigger audit_test_refuse on audit_log');
    }
    // The outcome can't be written (as when the process dies after the commit): the change stands,
    // and so does its record, pending.
    await sys.db.sql.unsafe(`create trigger audit_test_refuse before update on audit_log for each row when (old.tenant_id = '${t.id}') execute function audit_test_refuse()`);
    try {
      const made = await t.api('POST', '/v1/api-keys', { body: { name: 'made', role: 'viewer' } });
      expect(made.status).toBe(201);
      expect(await countKeys()).toBe(keysBefore + 1);
      const pending = (await auditRows(t.id)).filter((r) => r.route === '/v1/api-keys' && r.method === 'POST');
      // The first request, refused when its pending row failed, is recorded once its answer was known.
      expect(pending.map((r) => r.status)).toEqual([500, null]);
      expect(pending[1].requestId).toBe(made.headers.get('x-request-id'));
    } finally {
      await sys.db.sql.unsafe('drop trigger audit_test_refuse on audit_log');
      await sys.db.sql.unsafe('drop function audit_test_refuse()');
    }
  });

  it('writes a create\'s record in the statement that makes the project: one transaction, or neither', async () => {
    const t = await tenant('in statement');
    const countProjects = async () => (await one(sys.db.sql`select count(*)::int as n from projects where tenant_id = ${t.id}`)).n;
    await sys.db.sql.unsafe(`create or replace function audit_test_refuse() returns trigger language plpgsql as $$ begin raise exception 'audit store refused'; end $$`);
    await sys.db.sql.unsafe(`create trigger audit_test_refuse before insert on audit_log for each row when (new.tenant_id = '${t.id}' and new.status = 202) execute function audit_test_refuse()`);
    try {
      const refused = await t.api('POST', '/v1/projects', { body: { name: 'never made' } });
      expect(refused.status).toBeGreaterThanOrEqual(500);
      expect(await countProjects()).toBe(0);
    } finally {
      await sys.db.sql.unsafe('drop trigger audit_test_refuse on audit_log');
      await sys.db.sql.unsafe('drop function audit_test_refuse()');
    }
    // Several at once (they share statements): each has its complete row, committed by the
    // transaction that committed its project, and no pending row is ever written for them.
    const made = await Promise.all(Array.from({ length: 12 }, (_, i) => t.api('POST', '/v1/projects', { body: { name: `made ${i}` } })));
    expect(made.map((r) => r.status)).toEqual(made.map(() => 202));
    const rows = await sys.db.sql<{ status: number; requestId: string; sameTx: boolean }[]>`
      select a.status, a.request_id, a.xmin = p.xmin as same_tx
        from audit_log a join projects p on p.id = a.resource_id
       where a.tenant_id = ${t.id} and a.route = '/v1/projects' and a.method = 'POST' and a.status = 202`;
    expect(rows).toHaveLength(12);
    expect(rows.every((r) => r.sameTx)).toBe(true);
    expect(new Set(rows.map((r) => r.requestId))).toEqual(new Set(made.map((r) => r.headers.get('x-request-id'))));
    const all = (await auditRows(t.id)).filter((r) => r.route === '/v1/projects' && r.method === 'POST');
    // The refused create is recorded with its 500, once its answer was known.
    expect(all.map((r) => r.status).sort()).toEqual([...made.map(() => 202), 500].sort());
    // A taken slug writes no project, and its record comes from the answer: 409.
    const dup = await t.api('POST', '/v1/projects', { body: { name: 'dup', slug: made[0]!.body.project.slug } });
    expect(dup.status).toBe(409);
    const last = (await auditRows(t.id)).filter((r) => r.route === '/v1/projects').find((r) => r.requestId === dup.headers.get('x-request-id'));
    expect(last?.status).toBe(409);
  });

  it('commits its own writes without waiting for the WAL flush, and leaves the connection as it was', async () => {
    const conn = await sys.db.sql.reserve();
    try {
      const id = `aud_${'0'.repeat(26)}`;
      await insertAudit(conn, { id, tenantId: null, keyId: null, keyRole: null, keyPrefix: null, method: 'POST', route: '/v1/x', resourceId: null, requestId: 'req_x', clientAddress: null, userAgent: null }, null);
      await completeAudit(conn, id, 201, null);
      expect((await one(conn`select status from audit_log where id = ${id}`)).status).toBe(201);
      // The setting was local to each write's own transaction: the change that follows commits synchronously.
      expect((await one(conn`show synchronous_commit`)).synchronousCommit).toBe('on');
      // Set inside a statement, it holds for that statement's own transaction (its commit), and no longer.
      const within = await one(conn`select current_setting('synchronous_commit') as setting from (select set_config('synchronous_commit', 'off', true)) s`);
      expect(within.setting).toBe('off');
      expect((await one(conn`show synchronous_commit`)).synchronousCommit).toBe('on');
    } finally {
      conn.release();
    }
  });
});
