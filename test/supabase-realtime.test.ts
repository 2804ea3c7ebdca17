/**
 * Supabase Realtime end to end, offline: the API and runner on a database shaped like a Supabase
 * project's (test/fixtures/supabase-realtime.sql) with our migrations and policies, the Realtime
 * contract fake (test/fakes/supabase-realtime.ts) authorizing against that database, and the real
 * @supabase/supabase-js client (2.109.0, the last on Node 20, with `ws` as its transport).
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createClient, type RealtimeChannel, type SupabaseClient } from '@supabase/supabase-js';
import WebSocket from 'ws';
import { decodeJwt, decodeProtectedHeader, exportJWK, generateKeyPair, SignJWT } from 'jose';
import postgres from 'postgres';
import { startRealtimeFake, type RealtimeFake } from './fakes/supabase-realtime.ts';
import { createTenant, createTestDatabase, startTestSystem, waitFor, type Api, type TestSystem } from './helpers/system.ts';
import { openSse } from './helpers/sse.ts';

const SECRET = 'test-jwt-secret-with-at-least-32-characters!';
const sign = (claims: Record<string, unknown>, expS: number) =>
  new SignJWT(claims).setProtectedHeader({ alg: 'HS256', typ: 'JWT' }).setIssuedAt().setExpirationTime(expS).sign(new TextEncoder().encode(SECRET));

let fake: RealtimeFake;
let databaseUrl: string;
const dbUrlOf = () => databaseUrl;
let sys: TestSystem;
let db: postgres.Sql;
let anonKey: string;
const clients: SupabaseClient[] = [];

beforeAll(async () => {
  const url = (databaseUrl = await createTestDatabase({ supabase: true }));
  db = postgres(url, { max: 2, onnotice: () => {} });
  fake = await startRealtimeFake({ databaseUrl: url, jwtSecret: SECRET, privateOnly: true });
  anonKey = await sign({ role: 'anon', iss: 'supabase' }, Math.floor(Date.now() / 1000) + 3600);
  sys = await startTestSystem({
    DATABASE_URL: url, SUPABASE_URL: fake.url, SUPABASE_ANON_KEY: anonKey, SUPABASE_JWT_SECRET: SECRET, SWITCHYARD_REALTIME_TOKEN_TTL_S: '6',
  });
});

afterAll(async () => {
  for (const c of clients) await c.removeAllChannels();
  await sys?.stop();
  await fake?.close();
  await db?.end();
});

function client(vsn?: '1.0.0' | '2.0.0') {
  const c = createClient(fake.url, anonKey, {
    realtime: { transport: WebSocket as never, heartbeatIntervalMs: 5000, ...(vsn ? { vsn } : {}) },
    auth: { persistSession: false, autoRefreshToken: false },
  });
  clients.push(c);
  return c;
}

async function token(api: Api) {
  const res = await api('POST', '/v1/realtime/token');
  expect(res.status).toBe(201);
  return res.body.access_token as string;
}

interface Sub {
  channel: RealtimeChannel;
  events: { event: string; payload: any }[];
  statuses: string[];
  closed: Promise<string>;
}

/** Joins a private channel; resolves once the join is answered (SUBSCRIBED or the error's text). */
async function join(c: SupabaseClient, topic: string, accessToken: string): Promise<{ outcome: string; sub: Sub }> {
  await c.realtime.setAuth(accessToken);
  const channel = c.channel(topic, { config: { private: true } });
  const events: Sub['events'] = [];
  const statuses: string[] = [];
  for (const event of ['status', 'job', 'log']) channel.on('broadcast', { event }, (m) => events.push({ event, payload: m.payload }));
  let onClosed!: (s: string) => void;
  const closed = new Promise<string>((r) => (onClosed = r));
  channel.on('system', {}, (m: any) => {
    if (m?.status === 'error') onClosed(String(m.message));
  });
  const outcome = await new Promise<string>((resolve) => {
    channel.subscribe((status, err) => {
      statuses.push(status);
      if (status === 'SUBSCRIBED') resolve('SUBSCRIBED');
      else if (status === 'CHANNEL_ERROR' || status === 'TIMED_OUT') resolve(err?.message ?? status);
      if (status === 'CLOSED') onClosed('CLOSED');
    });
  });
  return { outcome, sub: { channel, events, statuses, closed } };
}

describe('discovery and tokens', () => {
  it('offers Supabase Realtime first, and SSE where this process has a hub', async () => {
    const res = await sys.api('GET', '/v1/realtime');
    expect(res.status).toBe(200);
    expect(res.body.transport).toBe('supabase');
    expect(res.body.url).toBe(fake.url);
    expect(res.body.transports).toEqual([
      { transport: 'supabase', url: fake.url, anon_key: anonKey, token_url: '/v1/realtime/token', private: true },
      { transport: 'sse', url: '/v1/events' },
    ]);
    const me = await sys.api('GET', '/v1/me');
    expect(res.body.topics[0]).toBe(`tenant:${me.body.tenant.id}`);
  });

  it('mints a short-lived JWT with the claims Realtime and our policy read', async () => {
    const me = await sys.api('GET', '/v1/me');
    const res = await sys.api('POST', '/v1/realtime/token');
    expect(res.status).toBe(201);
    expect(res.headers.get('cache-control')).toContain('no-store');
    const claims = decodeJwt(res.body.access_token);
    expect(claims.role).toBe('authenticated');
    expect(claims.sub).toBe(me.body.api_key.id);
    expect((claims.app_metadata as any).tenant_id).toBe(me.body.tenant.id);
    expect(Number(claims.exp) - Math.floor(Date.now() / 1000)).toBeGreaterThan(3);
    expect(Number(claims.exp) - Math.floor(Date.now() / 1000)).toBeLessThanOrEqual(6);
    expect(new Date(res.body.expires_at).getTime()).toBe(Number(claims.exp) * 1000);
  });

  it('refuses an event token (read-only) and a revoked key', async () => {
    const { api } = await createTenant(sys, 'tokens');
    const ev = await api('POST', '/v1/events/token');
    const viaEvent = await fetch(`${sys.url}/v1/realtime/token?token=${ev.body.token}`, { method: 'POST' });
    expect([401, 403]).toContain(viaEvent.status);
    const key = await api('POST', '/v1/api-keys', { body: { name: 'short', role: 'viewer' } });
    const other = (await import('./helpers/system.ts')).createApi(sys.url, key.body.api_key.secret);
    expect((await other('POST', '/v1/realtime/token')).status).toBe(201);
    expect((await api('DELETE', `/v1/api-keys/${key.body.api_key.id}`)).status).toBeLessThan(300);
    await waitFor(async () => (await other('POST', '/v1/realtime/token')).status === 401, 15_000, 'revoked key refused');
  });

  it('is a 404 problem where Supabase Realtime is not configured', async () => {
    const plain = await startTestSystem();
    try {
      const res = await plain.api('POST', '/v1/realtime/token');
      expect(res.status).toBe(404);
      expect(res.headers.get('content-type')).toContain('application/problem+json');
      expect(res.body.detail).toContain('not configured');
      const d = await plain.api('GET', '/v1/realtime');
      expect(d.body).toMatchObject({ transport: 'sse', url: '/v1/events', transports: [{ transport: 'sse', url: '/v1/events' }] });
    } finally {
      await plain.stop();
    }
  });
});

describe('the real client', () => {
  it('sees provisioning → active for a project created through the API, with the SSE payloads (vsn 2.0.0 and 1.0.0)', async () => {
    const { api, tenantId } = await createTenant(sys, 'watcher');
    const v2 = await join(client(), `tenant:${tenantId}`, await token(api));
    const v1 = await join(client('1.0.0'), `tenant:${tenantId}`, await token(api));
    expect(v2.outcome).toBe('SUBSCRIBED');
    expect(v1.outcome).toBe('SUBSCRIBED');
    const sse = openSse(`${sys.url}/v1/events?topic=tenant:${tenantId}&token=${(await api('POST', '/v1/events/token')).body.token}`);
    await sse.ready;
    try {
      const created = await api('POST', '/v1/projects', { body: { name: 'live one' } });
      expect(created.status).toBe(202);
      const id = created.body.project.id;
      const statuses = (s: Sub) => s.events.filter((e) => e.event === 'status' && e.payload.resource.id === id).map((e) => e.payload.resource.status);
      await waitFor(async () => statuses(v2.sub).includes('active') && statuses(v1.sub).includes('active'), 20_000, 'active over Realtime');
      expect(statuses(v2.sub)).toEqual(['provisioning', 'active']);
      expect(statuses(v1.sub)).toEqual(['provisioning', 'active']);
      // The same payloads as SSE, but for the message id Realtime's send adds where a payload has none.
      const sseEvents = await waitFor(async () => {
        const evs = sse.events.filter((e) => e.event === 'status' && e.data.resource.id === id);
        return evs.length >= 2 ? evs : null;
      }, 10_000, 'SSE events');
      const overRealtime = v2.sub.events.filter((e) => e.event === 'status' && e.payload.resource.id === id).map(({ payload }) => {
        const { id: messageId, ...rest } = payload;
        expect(messageId).toMatch(/^[0-9a-f-]{36}$/);
        return rest;
      });
      expect(overRealtime).toEqual(sseEvents.map((e) => e.data));
      // job events keep the job's own id, as on SSE
      const jobEvent = v2.sub.events.find((e) => e.event === 'job' && e.payload.subject_id === id);
      expect(jobEvent?.payload.id).toBe(created.body.job.id);
    } finally {
      sse.close();
    }
  });

  it('refuses another tenant\'s token on all four kinds of topics, and never delivers their events to it', async () => {
    const a = await createTenant(sys, 'owner');
    const b = await createTenant(sys, 'intruder');
    const project = (await a.api('POST', '/v1/projects', { body: { name: 'private one' } })).body;
    const store = (await a.api('POST', '/v1/stores', { body: { name: 'shop-a', engine: 'woocommerce' } })).body;
    expect(store.store?.id).toBeTruthy();
    const bToken = await token(b.api);
    const c = client();
    for (const topic of [`tenant:${a.tenantId}`, `project:${project.project.id}`, `store:${store.store.id}`, `job:${project.job.id}`]) {
      const r = await join(c, topic, bToken);
      expect(r.outcome).toContain(`Unauthorized: You do not have permissions to read from this Channel topic: ${topic}`);
      await c.removeChannel(r.sub.channel);
    }
    for (const topic of ['tenant:ten_00000000000000000000000000', 'nonsense', 'project:../etc']) {
      const r = await join(c, topic, bToken);
      expect(r.outcome).toContain('Unauthorized');
      await c.removeChannel(r.sub.channel);
    }
    // Its own topic works, and carries none of the other tenant's events.
    const own = await join(c, `tenant:${b.tenantId}`, bToken);
    expect(own.outcome).toBe('SUBSCRIBED');
    const mine = await join(client(), `tenant:${a.tenantId}`, await token(a.api));
    await a.api('POST', `/v1/projects/${project.project.id}/suspend`).catch(() => {});
    await waitFor(async () => mine.sub.events.length > 0, 20_000, 'owner sees events');
    expect(own.sub.events).toEqual([]);
  });

  it('drops a broadcast a client sends on our topics (only the publisher writes them)', async () => {
    const { api, tenantId } = await createTenant(sys, 'writer');
    const listener = await join(client(), `tenant:${tenantId}`, await token(api));
    const sender = await join(client(), `tenant:${tenantId}`, await token(api));
    expect(listener.outcome).toBe('SUBSCRIBED');
    await sender.sub.channel.send({ type: 'broadcast', event: 'status', payload: { forged: true } });
    await new Promise((r) => setTimeout(r, 500));
    expect(listener.sub.events.filter((e) => e.payload?.forged)).toEqual([]);
  });

  it('closes a channel whose token expires, and a revoked key\'s token joins nothing and ends at its expiry', async () => {
    const { api, tenantId } = await createTenant(sys, 'expiry');
    const expired = await sign({ role: 'authenticated', sub: 'key_x', app_metadata: { tenant_id: tenantId } }, Math.floor(Date.now() / 1000) - 5);
    const r0 = await join(client(), `tenant:${tenantId}`, expired);
    expect(r0.outcome).toContain('Token has expired');

    const key = await api('POST', '/v1/api-keys', { body: { name: 'soon revoked', role: 'viewer' } });
    const { createApi } = await import('./helpers/system.ts');
    const doomed = createApi(sys.url, key.body.api_key.secret);
    const t = await token(doomed);
    const exp = Number(decodeJwt(t).exp) * 1000;
    const live = await join(client(), `tenant:${tenantId}`, t);
    expect(live.outcome).toBe('SUBSCRIBED');
    expect((await api('DELETE', `/v1/api-keys/${key.body.api_key.id}`)).status).toBeLessThan(300);
    // New joins with it are refused at once (the policy checks the key)…
    const again = await join(client(), `tenant:${tenantId}`, t);
    expect(again.outcome).toContain('Unauthorized');
    // …and the channel already open ends when the token does.
    const why = await Promise.race([live.sub.closed, new Promise<string>((r) => setTimeout(() => r('still open'), 12_000))]);
    expect(why).toMatch(/Token has expired|CLOSED/);
    expect(Date.now()).toBeGreaterThanOrEqual(exp - 50);
  });
});

describe('token refresh (access_token)', () => {
  it('keeps a channel past its first token\'s expiry when the client refreshes it, and closes it on a token that may not read', async () => {
    const { api, tenantId } = await createTenant(sys, 'refresher');
    const other = await createTenant(sys, 'elsewhere');
    let next: () => Promise<string> = () => token(api);
    const c = createClient(fake.url, anonKey, {
      accessToken: async () => next(),
      realtime: { transport: WebSocket as never, heartbeatIntervalMs: 1000 },
    });
    clients.push(c);
    await c.realtime.setAuth();
    const first = c.realtime.accessTokenValue!;
    const firstExp = Number(decodeJwt(first).exp) * 1000;
    const events: string[] = [];
    let closedWith = '';
    const channel = c.channel(`tenant:${tenantId}`, { config: { private: true } })
      .on('broadcast', { event: 'status' }, (m) => events.push(m.payload.resource.status))
      .on('system', {}, (m: any) => { if (m?.status === 'error') closedWith = String(m.message); });
    await new Promise<void>((resolve) => channel.subscribe((st) => st === 'SUBSCRIBED' && resolve()));
    // Each heartbeat asks for a token; ours mints a new one, which the client sends as access_token.
    await waitFor(async () => Date.now() > firstExp + 1500, 15_000, 'past the first token');
    expect(c.realtime.accessTokenValue).not.toBe(first);
    expect(closedWith).toBe('');
    await api('POST', '/v1/projects', { body: { name: 'after refresh' } });
    await waitFor(async () => events.includes('provisioning'), 15_000, 'events after the first token expired');
    // A refresh to a token that may not read this topic ends the channel, in Realtime's words.
    const foreign = await token(other.api);
    next = async () => foreign;
    await waitFor(async () => closedWith !== '', 15_000, 'channel closed');
    expect(closedWith).toBe(`You no longer have permission to read from this Channel topic: tenant:${tenantId}`);
  });
});

describe('an imported signing key (ES256)', () => {
  it('mints tokens with its kid that Realtime verifies against the project\'s JWKS', async () => {
    const { publicKey, privateKey } = await generateKeyPair('ES256', { extractable: true });
    const kid = 'switchyard-test-key-1';
    const privateJwk = { ...(await exportJWK(privateKey)), kid, alg: 'ES256' };
    const publicJwk = { ...(await exportJWK(publicKey)), kid, alg: 'ES256', use: 'sig' };
    const fake2 = await startRealtimeFake({ databaseUrl: dbUrlOf(), jwks: { keys: [publicJwk] }, privateOnly: true, createPartitions: false });
    const anon = await new SignJWT({ role: 'anon' }).setProtectedHeader({ alg: 'ES256', kid, typ: 'JWT' }).setExpirationTime('1h').sign(privateKey);
    const sys2 = await startTestSystem({ DATABASE_URL: dbUrlOf(), SUPABASE_URL: fake2.url, SUPABASE_ANON_KEY: anon, SUPABASE_JWT_PRIVATE_KEY: JSON.stringify(privateJwk) });
    try {
      const { key, tenantId } = await createTenant(sys, 'es256');
      const { createApi } = await import('./helpers/system.ts');
      const api2 = createApi(sys2.url, key);
      const t = await token(api2);
      expect(decodeProtectedHeader(t)).toMatchObject({ alg: 'ES256', kid });
      const es256Client = () => {
        const c = createClient(fake2.url, anon, { realtime: { transport: WebSocket as never }, auth: { persistSession: false, autoRefreshToken: false } });
        clients.push(c);
        return c;
      };
      expect((await join(es256Client(), `tenant:${tenantId}`, t)).outcome).toBe('SUBSCRIBED');
      // A token signed by the HS256 secret this project doesn't have is refused.
      expect((await join(es256Client(), `tenant:${tenantId}`, await token(createApi(sys.url, key)))).outcome).toContain('JwtSignatureError');
    } finally {
      await sys2.stop();
      await fake2.close();
    }
  });
});

describe('the publisher never drops a broadcast in silence', () => {
  const today = () => `messages_${new Date().toISOString().slice(0, 10).replace(/-/g, '_')}`;

  it('broadcasts whatever role makes the change (the publisher runs as service_role)', async () => {
    const [row] = await db<{ owner: string }[]>`select r.rolname as owner from pg_proc p join pg_roles r on r.oid = p.proowner where p.proname = 'switchyard_realtime_send'`;
    expect(row?.owner).toBe('service_role');
    const { tenantId } = await createTenant(sys, 'roles');
    await db.unsafe(`do $$ begin if not exists (select 1 from pg_roles where rolname = 'sy_restricted') then create role sy_restricted nologin nobypassrls; end if; end $$`);
    await db.unsafe('grant insert, select, update on all tables in schema public to sy_restricted; grant usage, select on all sequences in schema public to sy_restricted');
    await db.unsafe('grant execute on function switchyard_realtime_send(text[], text, jsonb) to sy_restricted');
    const before = await db`select count(*)::int as n from realtime.messages where topic = ${`tenant:${tenantId}`}`;
    await db.begin(async (tx) => {
      await tx.unsafe('set local role sy_restricted');
      await tx`select switchyard_publish(${tenantId}, ${[`tenant:${tenantId}`]}::text[], 'status', '{"probe":true}'::jsonb)`;
    });
    const after = await db`select count(*)::int as n from realtime.messages where topic = ${`tenant:${tenantId}`}`;
    expect(after[0]!.n).toBe(before[0]!.n + 1);
  });

  it('records and logs a drop when today has no partition, and when the publisher loses its grant', async () => {
    const { tenantId } = await createTenant(sys, 'drops');
    const publish = () => db`select switchyard_publish(${tenantId}, ${[`tenant:${tenantId}`, `job:job_00000000000000000000000000`]}::text[], 'status', '{"probe":true}'::jsonb)`;
    await db.unsafe(`alter table realtime.messages detach partition realtime.${today()}`);
    try {
      await publish();
    } finally {
      await db.unsafe(`alter table realtime.messages attach partition realtime.${today()} for values from ('${new Date().toISOString().slice(0, 10)}') to ('${new Date(Date.now() + 86_400_000).toISOString().slice(0, 10)}')`);
    }
    await db.unsafe('revoke insert on realtime.messages from service_role');
    try {
      await publish();
    } finally {
      await db.unsafe('grant insert on realtime.messages to service_role');
    }
    await publish(); // and with everything back, nothing is recorded
    const failures = await db`select sent, topics, reason from realtime_send_failures where tenant_id = ${tenantId} order by id`;
    expect(failures.map((f) => f.sent)).toEqual([0, 0]);
    expect(failures[0]!.reason).toContain('no realtime.messages partition for today');
    expect(failures[1]!.reason).toContain('service_role may not insert');
    // The sweeper reports them once (and marks them reported).
    await waitFor(async () => (await db`select count(*)::int as n from realtime_send_failures where tenant_id = ${tenantId} and reported_at is null`)[0]!.n === 0, 10_000, 'failures reported');
  });
});
