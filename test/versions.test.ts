/**
 * Dated API versions: a tenant is pinned at creation and may move its pin; a request may name a
 * version; an unknown one is a 400 listing the supported ones; a deprecated one answers normally
 * with Deprecation, Sunset and a deprecation link; and the one real change (pagination as an
 * object, 2026-12-02) reaches older pins in their old shape through the version layer.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { API_VERSIONS, CURRENT_API_VERSION, FIRST_API_VERSION } from '../core/api-versions.ts';
import { API_VERSION as DASHBOARD_VERSION } from '../web/src/api/client.ts';
import { createApi, one, startTestSystem, type Api, type TestSystem } from './helpers/system.ts';

let sys: TestSystem;
beforeAll(async () => {
  sys = await startTestSystem();
});
afterAll(async () => {
  await sys?.stop();
});

async function tenant(body: Record<string, unknown>): Promise<{ id: string; api: Api; tenant: any }> {
  const res = await sys.api('POST', '/v1/tenants', { body: { plan: 'pro', ...body } });
  expect(res.status, JSON.stringify(res.body)).toBe(201);
  return { id: res.body.tenant.id, api: createApi(sys.url, res.body.api_key.secret), tenant: res.body.tenant };
}

async function threeProjects(api: Api) {
  for (let i = 0; i < 3; i++) expect((await api('POST', '/v1/projects', { body: { name: `v ${i}` } })).status).toBe(202);
}

describe('API versions', () => {
  it('pins a new tenant to the current version and answers lists in its shape, with a truthful has_more', async () => {
    const t = await tenant({ name: 'current' });
    expect(t.tenant.api_version).toBe(CURRENT_API_VERSION);
    await threeProjects(t.api);
    const first = await t.api('GET', '/v1/projects?limit=2');
    expect(first.headers.get('api-version')).toBe(CURRENT_API_VERSION);
    expect(first.headers.get('deprecation')).toBeNull();
    expect(first.body).not.toHaveProperty('next_cursor');
    expect(first.body.pagination).toEqual({ next_cursor: expect.any(String), has_more: true });
    const last = await t.api('GET', `/v1/projects?limit=2&cursor=${first.body.pagination.next_cursor}`);
    expect(last.body.data).toHaveLength(1);
    // The last page says so, rather than handing out a cursor to an empty page.
    expect(last.body.pagination).toEqual({ next_cursor: null, has_more: false });
    expect(last.headers.get('link')).toBeNull();
    // Exactly a page's worth: no more, and no cursor.
    const exact = await t.api('GET', '/v1/projects?limit=3');
    expect(exact.body.data).toHaveLength(3);
    expect(exact.body.pagination.has_more).toBe(false);
  });

  it('serves an older pin the old shape, deprecated, and a request may name either version', async () => {
    const t = await tenant({ name: 'old pin', api_version: FIRST_API_VERSION });
    expect(t.tenant.api_version).toBe(FIRST_API_VERSION);
    expect((await one(sys.db.sql`select api_version from tenants where id = ${t.id}`)).apiVersion).toBe(FIRST_API_VERSION);
    await threeProjects(t.api);

    const old = await t.api('GET', '/v1/projects?limit=2');
    expect(old.status).toBe(200);
    expect(old.headers.get('api-version')).toBe(FIRST_API_VERSION);
    expect(old.body).not.toHaveProperty('pagination');
    expect(old.body.next_cursor).toEqual(expect.any(String));
    expect(old.body.data).toHaveLength(2);
    // Deprecated: RFC 9745's date as @epoch, RFC 8594's HTTP date, and a link to the changelog
    // beside the page's own next link.
    const dep = API_VERSIONS.find((v) => v.version === FIRST_API_VERSION)!.deprecated!;
    expect(old.headers.get('deprecation')).toBe(`@${Date.parse(dep.at) / 1000}`);
    expect(old.headers.get('sunset')).toBe(new Date(dep.sunset!).toUTCString());
    expect(old.headers.get('link')).toMatch(/rel="next"/);
    expect(old.headers.get('link')).toMatch(/<\/versions>; rel="deprecation"/);
    // The old cursor walks the same list.
    const rest = await t.api('GET', `/v1/projects?limit=2&cursor=${old.body.next_cursor}`);
    expect(rest.body).toEqual({ data: [expect.objectContaining({ name: 'v 0' })], next_cursor: null });

    // Non-list answers are the same in both versions; errors stay problems.
    const one_ = await t.api('GET', `/v1/projects/${old.body.data[0].id}`);
    expect(one_.body.project.id).toBe(old.body.data[0].id);
    const missing = await t.api('GET', '/v1/projects/prj_00000000000000000000000000');
    expect(missing.status).toBe(404);
    expect(missing.headers.get('content-type')).toMatch(/problem\+json/);
    expect(missing.headers.get('api-version')).toBe(FIRST_API_VERSION);

    // A header overrides the pin, both ways.
    const asNew = await t.api('GET', '/v1/projects?limit=2', { headers: { 'API-Version': CURRENT_API_VERSION } });
    expect(asNew.headers.get('api-version')).toBe(CURRENT_API_VERSION);
    expect(asNew.body.pagination.has_more).toBe(true);
    expect(asNew.headers.get('deprecation')).toBeNull();
    const current = await tenant({ name: 'asks old' });
    const asOld = await current.api('GET', '/v1/projects', { headers: { 'API-Version': FIRST_API_VERSION } });
    expect(asOld.body).toEqual({ data: [], next_cursor: null });
  });

  it('refuses an unknown version with the supported ones, before anything else and changing nothing', async () => {
    const t = await tenant({ name: 'unknown' });
    for (const v of ['2020-01-01', 'latest', '2026-12-02x']) {
      const res = await t.api('POST', '/v1/projects', { body: { name: 'never' }, headers: { 'API-Version': v } });
      expect(res.status, v).toBe(400);
      expect(res.body.supported).toEqual(API_VERSIONS.map((x) => x.version));
      expect(res.body.detail).toContain(CURRENT_API_VERSION);
    }
    // Even without a valid key: the version is checked first.
    expect((await t.api('GET', '/v1/projects', { key: null, headers: { 'API-Version': 'nope' } })).status).toBe(400);
    expect((await one(sys.db.sql`select count(*)::int as n from projects where tenant_id = ${t.id}`)).n).toBe(0);
    // Creating a tenant on an unknown version is a 400 too.
    expect((await sys.api('POST', '/v1/tenants', { body: { name: 'x', api_version: '1999-01-01' } })).status).toBe(400);
  });

  it('lets an admin move the pin, which takes effect at once; other roles may not', async () => {
    const t = await tenant({ name: 'mover', api_version: FIRST_API_VERSION });
    const moved = await t.api('PATCH', '/v1/tenant', { body: { api_version: CURRENT_API_VERSION } });
    expect(moved.status, JSON.stringify(moved.body)).toBe(200);
    expect(moved.body.tenant.api_version).toBe(CURRENT_API_VERSION);
    const after = await t.api('GET', '/v1/projects');
    expect(after.headers.get('api-version')).toBe(CURRENT_API_VERSION);
    expect(after.body).toHaveProperty('pagination');
    expect((await t.api('PATCH', '/v1/tenant', { body: { api_version: 'soon' } })).status).toBe(400);

    const member = await t.api('POST', '/v1/api-keys', { body: { role: 'member' } });
    const memberApi = createApi(sys.url, member.body.api_key.secret);
    expect((await memberApi('PATCH', '/v1/tenant', { body: { api_version: FIRST_API_VERSION } })).status).toBe(403);
    expect((await one(sys.db.sql`select api_version from tenants where id = ${t.id}`)).apiVersion).toBe(CURRENT_API_VERSION);
  });

  it('publishes the changelog and describes both shapes in the document', async () => {
    const res = await fetch(`${sys.url}/versions`);
    const body = await res.json();
    expect(body.current).toBe(CURRENT_API_VERSION);
    expect(body.data.map((v: any) => v.version)).toEqual(API_VERSIONS.map((v) => v.version));
    expect(body.data[0].changes[0]).toMatch(/pagination/);

    const doc = await (await fetch(`${sys.url}/openapi.json`)).json();
    const list = doc.paths['/v1/projects'].get;
    const schema = list.responses['200'].content['application/json'].schema;
    expect(schema.oneOf).toHaveLength(2);
    expect(schema.oneOf[0].properties).toHaveProperty('pagination');
    expect(schema.oneOf[1].properties).toHaveProperty('next_cursor');
    expect(schema.oneOf[1].description).toContain(FIRST_API_VERSION);
    expect(list.parameters.some((p: any) => p.name === 'API-Version' && p.in === 'header')).toBe(true);
    expect(list.responses['200'].headers).toHaveProperty('API-Version');
    expect(list.responses['200'].headers).toHaveProperty('Deprecation');
    // A response no change concerns keeps its one schema.
    expect(doc.paths['/v1/projects/{id}'].get.responses['200'].content['application/json'].schema.oneOf).toBeUndefined();
    // The dashboard asks for the version its generated types describe.
    expect(DASHBOARD_VERSION).toBe(CURRENT_API_VERSION);
  });
});

describe('HTTP semantics every problem shares', () => {
  it('answers a wrong method on a known path with 405 and Allow, and an unknown path with 404', async () => {
    const t = await tenant({ name: 'methods' });
    const put = await t.api('PUT', '/v1/projects', { body: { name: 'x' } });
    expect(put.status).toBe(405);
    expect(put.headers.get('allow')).toBe('GET, HEAD, POST');
    expect(put.body.allow).toEqual(['GET', 'HEAD', 'POST']);
    const patch = await t.api('PATCH', '/v1/projects/prj_00000000000000000000000000', { body: {} });
    expect(patch.status).toBe(405);
    expect(patch.headers.get('allow')).toBe('DELETE, GET, HEAD');
    expect((await t.api('GET', '/v1/nothing-here')).status).toBe(404);
    expect((await one(sys.db.sql`select count(*)::int as n from projects where tenant_id = ${t.id}`)).n).toBe(0);
  });

  it('names the occurrence in instance (the path, never the query) and challenges every 401', async () => {
    const missing = await sys.api('GET', '/v1/projects/prj_00000000000000000000000000?token=secret-looking');
    expect(missing.body.instance).toBe('/v1/projects/prj_00000000000000000000000000');
    const anon = await sys.api('GET', '/v1/projects', { key: null });
    expect(anon.status).toBe(401);
    expect(anon.headers.get('www-authenticate')).toMatch(/^Bearer /);
    expect(anon.body.instance).toBe('/v1/projects');
  });
});
