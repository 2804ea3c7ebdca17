/**
 * The Management API contract fake keeps the documented contract (../shared/reference/
 * supabase-realtime.md §4), so the supabase project provider is tested against the real shapes:
 * auth, the refused create bodies, the status progressions, the pause and restore refusals,
 * health, keys, the pooler's connection string and the rate-limit headers.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startSupabaseManagementFake, type FakeManagement } from './fakes/supabase-management.ts';
import { waitFor } from './helpers/system.ts';

let api: FakeManagement;
let paid: FakeManagement;
beforeAll(async () => {
  api = await startSupabaseManagementFake({ comingUpMs: 50, pausingMs: 50, restoringMs: 50, rateLimitPerMinute: 30 });
  paid = await startSupabaseManagementFake({ organizations: [{ slug: 'big-co', name: 'Big', plan: 'pro' }], comingUpMs: 10 });
});
afterAll(async () => {
  await api?.close();
  await paid?.close();
});

const call = async (fake: FakeManagement, method: string, path: string, body?: unknown, token = fake.token) => {
  const res = await fetch(`${fake.url}${path}`, {
    method, headers: { Authorization: `Bearer ${token}`, ...(body === undefined ? {} : { 'Content-Type': 'application/json' }) },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  const text = await res.text();
  return { status: res.status, headers: res.headers, body: text ? JSON.parse(text) : null };
};
const create = (fake: FakeManagement, extra: Record<string, unknown> = {}, org = 'acme-org') =>
  call(fake, 'POST', '/v1/projects', { name: 'p', organization_slug: org, db_pass: 'pw-0123456789', ...extra });
const statusOf = async (fake: FakeManagement, ref: string) => (await call(fake, 'GET', `/v1/projects/${ref}`)).body.status as string;

describe('the Management API fake', () => {
  it('wants the bearer token, and refuses create bodies the real schema refuses', async () => {
    expect((await call(api, 'GET', '/v1/projects', undefined, 'sbp_wrong')).status).toBe(401);
    expect((await create(api, { unknown_field: 1 })).status).toBe(400);
    expect((await call(api, 'POST', '/v1/projects', { name: 'p', organization_slug: 'acme-org' })).status).toBe(400);
    expect((await create(api, { region: 'us-east-1', region_selection: { type: 'specific', code: 'us-east-1' } })).status).toBe(400);
    expect((await create(api, { desired_instance_size: 'huge' })).status).toBe(400);
    expect((await create(api, {}, 'no-such-org')).status).toBe(404);
  });

  it('brings a project up, pauses it and restores it, with health following the status', async () => {
    const made = await create(api, { region_selection: { type: 'specific', code: 'eu-west-1' }, desired_instance_size: 'micro' });
    expect(made.status).toBe(201);
    expect(made.body).toMatchObject({ ref: expect.stringMatching(/^[a-z]{20}$/), status: 'COMING_UP', region: 'eu-west-1', organization_slug: 'acme-org' });
    const ref = made.body.ref as string;
    expect((await call(api, 'GET', `/v1/projects/${ref}/health?services=db&services=rest`)).body).toEqual([
      { name: 'db', healthy: false, status: 'COMING_UP' }, { name: 'rest', healthy: false, status: 'COMING_UP' },
    ]);
    expect((await call(api, 'GET', `/v1/projects/${ref}/health`)).status).toBe(400);
    await waitFor(async () => (await statusOf(api, ref)) === 'ACTIVE_HEALTHY', 5000, 'active');
    expect((await call(api, 'GET', `/v1/projects/${ref}/health?services=db`)).body[0].status).toBe('ACTIVE_HEALTHY');

    expect((await call(api, 'POST', `/v1/projects/${ref}/pause`)).status).toBe(200);
    expect(await statusOf(api, ref)).toBe('PAUSING');
    const early = await call(api, 'POST', `/v1/projects/${ref}/restore`);
    expect(early.status).toBe(400);
    expect(early.body.error.message).toBe('This project is no longer in a paused state, it is PAUSING');
    await waitFor(async () => (await statusOf(api, ref)) === 'INACTIVE', 5000, 'paused');
    expect((await call(api, 'POST', `/v1/projects/${ref}/restore`)).status).toBe(200);
    expect(await statusOf(api, ref)).toBe('RESTORING');
    await waitFor(async () => (await statusOf(api, ref)) === 'ACTIVE_HEALTHY', 5000, 'restored');

    const keys = await call(api, 'GET', `/v1/projects/${ref}/api-keys`);
    expect(keys.body.find((k: { type: string }) => k.type === 'secret').api_key).toBeNull();
    expect((await call(api, 'GET', `/v1/projects/${ref}/api-keys?reveal=true`)).body.find((k: { type: string }) => k.type === 'secret').api_key).toMatch(/^sb_secret_/);
    const pooler = await call(api, 'GET', `/v1/projects/${ref}/config/database/pooler`);
    expect(pooler.body[0]).toMatchObject({ database_type: 'PRIMARY', pool_mode: 'transaction', db_user: `postgres.${ref}` });
    expect(pooler.body[0].connection_string).toContain('[YOUR-PASSWORD]');

    expect((await call(api, 'DELETE', `/v1/projects/${ref}`)).body).toEqual({ id: ref, ref, name: 'p' });
    expect((await call(api, 'GET', `/v1/projects/${ref}`)).status).toBe(404);
  });

  it('sticks, fails terminally on demand, refuses to pause a paid project and to restore one paused 90 days', async () => {
    const stuck = (await create(api)).body.ref as string;
    await waitFor(async () => (await statusOf(api, stuck)) === 'ACTIVE_HEALTHY', 5000, 'active');
    api.stick(stuck, 'PAUSING');
    await new Promise((r) => setTimeout(r, 120));
    expect(await statusOf(api, stuck)).toBe('PAUSING');

    api.failNext('create');
    const broken = (await create(api)).body.ref as string;
    await waitFor(async () => (await statusOf(api, broken)) === 'INIT_FAILED', 5000, 'init failed');

    const old = (await create(api)).body.ref as string;
    await waitFor(async () => (await statusOf(api, old)) === 'ACTIVE_HEALTHY', 5000, 'active');
    await call(api, 'POST', `/v1/projects/${old}/pause`);
    await waitFor(async () => (await statusOf(api, old)) === 'INACTIVE', 5000, 'paused');
    api.pausedDaysAgo(old, 91);
    expect((await call(api, 'POST', `/v1/projects/${old}/restore`)).body.message).toMatch(/more than 90 days/);

    const big = (await create(paid, {}, 'big-co')).body.ref as string;
    await waitFor(async () => (await statusOf(paid, big)) === 'ACTIVE_HEALTHY', 5000, 'active');
    const refused = await call(paid, 'POST', `/v1/projects/${big}/pause`);
    expect(refused.status).toBe(400);
    expect(refused.body.message).toMatch(/paid plan/);
  });

  it('limits each endpoint per scope per minute, with the documented headers', async () => {
    const fake = await startSupabaseManagementFake({ rateLimitPerMinute: 3 });
    try {
      const seen = [];
      for (let i = 0; i < 4; i++) seen.push(await call(fake, 'GET', '/v1/organizations'));
      expect(seen.map((r) => r.status)).toEqual([200, 200, 200, 429]);
      expect(seen.map((r) => r.headers.get('x-ratelimit-remaining'))).toEqual(['2', '1', '0', '0']);
      expect(Number(seen[3]!.headers.get('x-ratelimit-reset'))).toBeGreaterThan(0);
      expect(seen[3]!.headers.get('x-ratelimit-limit')).toBe('3');
      // Another endpoint has a budget of its own.
      expect((await call(fake, 'GET', '/v1/projects')).status).toBe(200);
    } finally {
      await fake.close();
    }
  });
});
