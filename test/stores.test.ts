/**
 * Stores on the `postgres` runtime, end to end over HTTP: create → `ready` over SSE → the store
 * database has the engine's schema and a hashed admin → credentials revealed once → delete →
 * gone. Plus the per-tenant create rate limit, the plan cap under racing creates, and bad input.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { pbkdf2Sync, timingSafeEqual } from 'node:crypto';
import postgres from 'postgres';
import { CORE_TABLES } from '../workers/providers/store/templates.ts';
import { openSse } from './helpers/sse.ts';
import { databaseExists, createApi, createTenant, serverUrl, startTestSystem, waitFor, type Api, type TestSystem } from './helpers/system.ts';

let sys: TestSystem;
beforeAll(async () => {
  sys = await startTestSystem({ SWITCHYARD_STORE_CAP_FREE: '2', SWITCHYARD_STORE_CAP_PRO: '8' });
});
afterAll(async () => {
  await sys?.stop();
});

function adminDb(database: string) {
  const u = new URL(serverUrl());
  u.pathname = `/${database}`;
  return postgres(u.toString(), { max: 1, onnotice: () => {} });
}


const storeOf = async (api: Api, id: string) => (await api('GET', `/v1/stores/${id}`)).body.store;

describe('stores on the postgres runtime', () => {
  it('provisions a store, streams it to ready, reveals credentials once, and deletes it', async () => {
    const { key, api } = await createTenant(sys, 'shopkeeper');
    const created = await api('POST', '/v1/stores', { body: { name: 'acme-shop', engine: 'woocommerce' } });
    expect(created.status, JSON.stringify(created.body)).toBe(202);
    expect(created.headers.get('location')).toBe(`/v1/stores/${created.body.store.id}`);
    expect(created.body.store).toMatchObject({ name: 'acme-shop', engine: 'woocommerce', runtime: 'postgres', plan: 'pro', status: 'provisioning' });
    expect(created.body.job).toMatchObject({ kind: 'store.provision', status: 'queued' });
    // The plan's policy and the stricter class of store creates, both taken.
    expect(created.headers.get('ratelimit-policy')).toBe('"pro";q=1000000;w=60, "stores-create";q=5;w=60');
    expect(created.headers.get('ratelimit')).toMatch(/^"pro";r=\d+;t=\d+, "stores-create";r=4;t=\d+$/);
    const id: string = created.body.store.id;

    // Watch it over SSE on its own topic (from the start: the stream's backlog covers a fast worker).
    const stream = openSse(`${sys.url}/v1/events?topic=store:${id}&last_event_id=0`, { Authorization: `Bearer ${key}` });
    await stream.ready;
    await stream.waitFor((e) => e.event === 'status' && e.data.resource.id === id && e.data.resource.status === 'ready', 20_000);
    expect(JSON.stringify(stream.events)).not.toMatch(/initial_credentials|password/);
    stream.close();

    const store = await storeOf(api, id);
    expect(store).toMatchObject({ status: 'ready', credentials_available: true, runtime_details: { database: id, engine: 'woocommerce' } });

    // The store database has the template, owned by the store's role.
    const db = adminDb(id);
    try {
      const tables = (await db<{ tablename: string; tableowner: string }[]>`
        select tablename, tableowner from pg_tables where schemaname = 'public'`);
      for (const t of CORE_TABLES) expect(tables.map((r) => r.tablename)).toContain(t);
      expect(new Set(tables.map((r) => r.tableowner))).toEqual(new Set([id]));
      const fks = await db`select conname from pg_constraint where contype = 'f' and conrelid = 'order_lines'::regclass`;
      expect(fks.length).toBe(2);

      // Credentials: once, and the password matches the stored hash (which is not the password).
      const creds = await api('GET', `/v1/stores/${id}/credentials`);
      expect(creds.status).toBe(200);
      expect(creds.headers.get('cache-control')).toBe('no-store');
      const [adminRow] = await db<{ email: string; passwordHash: string }[]>`select email, password_hash as "passwordHash" from admin_users`;
      expect(adminRow!.email).toBe(creds.body.admin_email);
      expect(adminRow!.passwordHash).not.toContain(creds.body.admin_password);
      const [, iter, salt, hash] = adminRow!.passwordHash.split('$') as [string, string, string, string];
      const derived = pbkdf2Sync(creds.body.admin_password, Buffer.from(salt, 'base64url'), Number(iter), 32, 'sha256');
      expect(timingSafeEqual(derived, Buffer.from(hash, 'base64url'))).toBe(true);
      // The database URL connects as the store's role.
      const asStore = postgres(creds.body.database_url, { max: 1, onnotice: () => {} });
      expect((await asStore`select current_user as u`)[0]!.u).toBe(id);
      await asStore.end();
    } finally {
      await db.end();
    }
    const again = await api('GET', `/v1/stores/${id}/credentials`);
    expect(again.status).toBe(410);
    expect((await storeOf(api, id)).credentials_available).toBe(false);

    // The timeline.
    const timeline = await api('GET', `/v1/stores/${id}/events`);
    expect(timeline.body.data.map((e: { type: string }) => e.type)).toEqual(['created', 'started', 'succeeded']);

    const del = await api('DELETE', `/v1/stores/${id}`);
    expect(del.status).toBe(202);
    expect(del.body.store.status).toBe('deleting');
    await waitFor(async () => (await storeOf(api, id)).status === 'deleted', 20_000, 'store deleted');
    expect(await databaseExists(id)).toBe(false);
    // Deleted stores leave lists, and the name is free again.
    expect((await api('GET', '/v1/stores')).body.data.map((s: { id: string }) => s.id)).not.toContain(id);
    expect((await api('GET', '/v1/stores?status=deleted')).body.data.map((s: { id: string }) => s.id)).toContain(id);
  });

  it('limits creates per tenant: the 6th in a minute is 429 with RateLimit headers and writes nothing', async () => {
    const { tenantId, api } = await createTenant(sys, 'burst');
    const other = await createTenant(sys, 'bystander');
    for (let i = 1; i <= 5; i++) {
      const res = await api('POST', '/v1/stores', { body: { name: `burst-${i}`, engine: 'medusa' } });
      expect(res.status, JSON.stringify(res.body)).toBe(202);
      expect(res.headers.get('ratelimit')).toMatch(new RegExp(`, "stores-create";r=${5 - i};t=\\d+$`));
    }
    const before = await sys.db.sql`select (select count(*)::int from stores where tenant_id = ${tenantId}) as stores,
                                          (select count(*)::int from jobs where tenant_id = ${tenantId}) as jobs`;
    const sixth = await api('POST', '/v1/stores', { body: { name: 'burst-6', engine: 'medusa' } });
    expect(sixth.status).toBe(429);
    expect(sixth.headers.get('content-type')).toContain('application/problem+json');
    const retryAfter = Number(sixth.headers.get('retry-after'));
    expect(retryAfter).toBeGreaterThanOrEqual(1);
    expect(retryAfter).toBeLessThanOrEqual(12);
    expect(sixth.headers.get('ratelimit-policy')).toBe('"pro";q=1000000;w=60, "stores-create";q=5;w=60');
    expect(sixth.headers.get('ratelimit')).toMatch(/^"pro";r=\d+;t=\d+, "stores-create";r=0;t=\d+$/);
    expect(sixth.body).toMatchObject({ policy: 'stores-create', retry_after: retryAfter });
    const after = await sys.db.sql`select (select count(*)::int from stores where tenant_id = ${tenantId}) as stores,
                                         (select count(*)::int from jobs where tenant_id = ${tenantId}) as jobs`;
    expect(after).toEqual(before);
    // Another tenant's bucket is its own.
    expect((await other.api('POST', '/v1/stores', { body: { name: 'unaffected', engine: 'medusa' } })).status).toBe(202);
  });

  it('holds the plan cap when creates race: exactly the cap succeeds, the rest are 409', async () => {
    const res = await sys.api('POST', '/v1/tenants', { body: { name: 'free-racer', plan: 'free' } });
    const api = createApi(sys.url, res.body.api_key.secret);
    await sys.db.sql`update tenants set plan = 'free' where id = ${res.body.tenant.id}`;
    // More tokens than the cap, so only the cap decides.
    await sys.db.sql`insert into rate_limits (tenant_id, bucket, tokens) values (${res.body.tenant.id}, 'stores-create', 5)`;
    const results = await Promise.all(Array.from({ length: 5 }, (_, i) =>
      api('POST', '/v1/stores', { body: { name: `racer-${i}`, engine: 'woocommerce' } })));
    const statuses = results.map((r) => r.status).sort();
    expect(statuses).toEqual([202, 202, 409, 409, 409]);
    const conflictBody = results.find((r) => r.status === 409)!.body;
    expect(conflictBody).toMatchObject({ limit: 2, current: 2 });
    const [{ n }] = await sys.db.sql`select count(*)::int as n from stores where tenant_id = ${res.body.tenant.id}` as unknown as [{ n: number }];
    expect(n).toBe(2);
  });

  it('refuses bad input with problem+json and writes nothing', async () => {
    const { tenantId, api } = await createTenant(sys, 'careless');
    const bad = [
      { name: 'X', engine: 'woocommerce' },
      { name: '9lives', engine: 'woocommerce' },
      { name: 'ok-name', engine: 'shopify' },
      { name: 'ok-name', engine: 'medusa', extra: true },
      { name: 'a'.repeat(41), engine: 'medusa' },
    ];
    for (const body of bad) {
      const res = await api('POST', '/v1/stores', { body });
      expect(res.status, JSON.stringify(body)).toBe(400);
      expect(res.body.errors.length).toBeGreaterThan(0);
    }
    // Every request counts against the create class, valid or not: five refused bodies spent five tokens.
    expect((await api('POST', '/v1/stores', { body: bad[0] })).status).toBe(429);
    await sys.db.sql`delete from rate_limits where tenant_id = ${tenantId}`;
    const k8s = await api('POST', '/v1/stores', { body: { name: 'on-k8s', engine: 'medusa', runtime: 'kubernetes' } });
    expect(k8s.status).toBe(422);
    expect(k8s.body.detail).toContain('kubernetes runtime is not configured');
    expect((await api('POST', '/v1/stores', { body: { name: 'twin', engine: 'medusa' } })).status).toBe(202);
    const twin = await api('POST', '/v1/stores', { body: { name: 'twin', engine: 'woocommerce' } });
    expect(twin.status).toBe(409);
    expect(twin.body.errors).toEqual([{ field: 'name', message: 'already in use' }]);
    const [{ n }] = await sys.db.sql`select count(*)::int as n from stores where tenant_id = ${tenantId}` as unknown as [{ n: number }];
    expect(n).toBe(1);
    // Another tenant's store is a 404.
    const mine = (await api('GET', '/v1/stores')).body.data[0].id;
    const stranger = await createTenant(sys, 'stranger');
    for (const [method, path] of [['GET', `/v1/stores/${mine}`], ['GET', `/v1/stores/${mine}/events`], ['GET', `/v1/stores/${mine}/credentials`], ['DELETE', `/v1/stores/${mine}`]] as const) {
      expect((await stranger.api(method, path)).status, `${method} ${path}`).toBe(404);
    }
  });
});
