/**
 * Realtime: SSE resumption from Last-Event-ID misses nothing — including an event whose
 * transaction took a smaller id but committed later — and browser tokens are scoped and short-lived.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { openSse, type SseClient } from './helpers/sse.ts';
import { createSignaler, EVENTS_CHANNEL, JOBS_CHANNEL, sendSignals } from '../db/notify.repo.ts';
import { createRealtimeHub } from '../functions/lib/realtime-hub.ts';
import { createLogger } from '../core/log.ts';
import type { RealtimeEvent } from '../db/realtime.repo.ts';
import { createDb } from '../db/client.ts';
import { createTenant, createTestDatabase, startTestSystem, waitFor, type TestSystem } from './helpers/system.ts';

let sys: TestSystem;
let tenantId: string;
let databaseUrl: string;
beforeAll(async () => {
  // API only: this file drives status changes itself, in SQL, so it controls commit order.
  databaseUrl = await createTestDatabase();
  sys = await startTestSystem({ SWITCHYARD_ROLE: 'api', DATABASE_URL: databaseUrl });
  tenantId = (await sys.api('GET', '/v1/tenants')).body.data[0].id;
});
afterAll(async () => {
  await sys?.stop();
});

const auth = () => ({ Authorization: `Bearer ${sys.adminKey}` });
const stream = (lastEventId?: string): SseClient =>
  openSse(`${sys.url}/v1/events?topic=tenant:${tenantId}`, lastEventId ? { ...auth(), 'Last-Event-ID': lastEventId } : auth());

async function newProject(name: string): Promise<string> {
  const res = await sys.api('POST', '/v1/projects', { body: { name } });
  return res.body.project.id;
}

describe('realtime', () => {
  it('resumes from Last-Event-ID with every event committed since, in order', async () => {
    const first = stream();
    await first.ready;
    const a = await newProject('resume a');
    const seen = await first.waitFor((e) => e.event === 'job' && e.data.subject_id === a);
    first.close();

    // While disconnected: more transitions.
    const b = await newProject('resume b');
    await sys.db.sql`update projects set status = 'active' where id = ${a}`;

    const second = stream(seen.id!);
    await second.ready;
    await second.waitFor((e) => e.event === 'status' && e.data.resource.id === a && e.data.resource.status === 'active');
    const ids = second.events.map((e) => Number(e.id));
    expect(ids).toEqual([...ids].sort((x, y) => x - y));
    expect(ids.every((id) => id > Number(seen.id))).toBe(true);
    const statuses = second.events.filter((e) => e.event === 'status').map((e) => [e.data.resource.id, e.data.resource.status]);
    expect(statuses).toEqual([[b, 'provisioning'], [a, 'active']]);
    // And it stays live after the backlog.
    await sys.db.sql`update projects set status = 'active' where id = ${b}`;
    await second.waitFor((e) => e.event === 'status' && e.data.resource.id === b && e.data.resource.status === 'active');
    second.close();
  });

  it('delivers an event whose transaction took a smaller id but committed after the one the client last saw', async () => {
    const p1 = await newProject('slow tx');
    const p2 = await newProject('fast tx');
    const live = stream();
    await live.ready;

    // T1 writes first (smaller event id) and holds its transaction open.
    let releaseT1!: () => void;
    const t1Written = new Promise<void>((written) => {
      void sys.db.sql.begin(async (tx) => {
        await tx`update projects set status = 'active' where id = ${p1}`;
        written();
        await new Promise<void>((r) => (releaseT1 = r));
      });
    });
    await t1Written;
    // T2 writes later (larger id) and commits at once; the client sees it and disconnects.
    await sys.db.sql`update projects set status = 'active' where id = ${p2}`;
    const fast = await live.waitFor((e) => e.event === 'status' && e.data.resource.id === p2 && e.data.resource.status === 'active');
    live.close();

    releaseT1();
    await waitFor(async () => (await sys.db.sql`select 1 from projects where id = ${p1} and status = 'active'`).length > 0, 5000, 'T1 commit');
    const [slowEvent] = await sys.db.sql`select id::text from realtime_events where payload->'resource'->>'id' = ${p1} and event = 'status' order by realtime_events.id desc limit 1`;
    expect(Number(slowEvent!.id)).toBeLessThan(Number(fast.id)); // the case under test really happened

    const resumed = stream(fast.id!);
    await resumed.ready;
    const got = await resumed.waitFor((e) => e.event === 'status' && e.data.resource.id === p1 && e.data.resource.status === 'active', 5000);
    expect(got.id).toBe(slowEvent!.id);
    resumed.close();
  });

  it('opens a stream with a short-lived token in the URL instead of a header', async () => {
    const token = await sys.api('POST', '/v1/events/token');
    expect(token.status).toBe(201);
    expect(Date.parse(token.body.expires_at)).toBeGreaterThan(Date.now());
    const viaToken = openSse(`${sys.url}/v1/events?topic=tenant:${tenantId}&token=${encodeURIComponent(token.body.token)}`);
    await viaToken.ready;
    const id = await newProject('token stream');
    await viaToken.waitFor((e) => e.event === 'status' && e.data.resource.id === id);
    viaToken.close();

    // The token only reads: it can't be used as a bearer key for anything else.
    const misuse = await sys.api('GET', `/v1/projects?token=${encodeURIComponent(token.body.token)}`, { key: null });
    expect(misuse.status).toBe(401);
    // A tampered token is refused.
    // Flip a character of the MAC that carries data (the last one of 43 holds padding bits).
    const [body, mac] = token.body.token.split('.');
    const tampered = `${body}.${mac[0] === 'A' ? 'B' : 'A'}${mac.slice(1)}`;
    const bad = await fetch(`${sys.url}/v1/events?topic=tenant:${tenantId}&token=${encodeURIComponent(tampered)}`);
    expect(bad.status).toBe(401);
    // Another tenant's token sees nothing of this tenant.
    const other = await createTenant(sys, 'token-other');
    const otherToken = (await other.api('POST', '/v1/events/token')).body.token;
    const cross = await fetch(`${sys.url}/v1/events?topic=tenant:${tenantId}&token=${encodeURIComponent(otherToken)}`);
    expect(cross.status).toBe(404);
  });

  it('gives a subscriber an event committed after it subscribed, though the idle hub read in flight already saw it', async () => {
    // With nobody subscribed the hub only moves its horizon, on its poll. Here that read is held
    // behind a sleeping query on the hub's one connection, so its snapshot is taken after the event
    // below commits. Its horizon then lies past the event, and the hub must not move to it.
    const hubDb = createDb(databaseUrl, { max: 1 });
    const hubSql = hubDb.sql;
    const hub = await createRealtimeHub(hubSql, createLogger('silent'), { pollMs: 50 });
    try {
      const sleeping = hubSql`select pg_sleep(0.4)`.execute();
      await new Promise((r) => setTimeout(r, 120)); // a poll is now queued behind the sleep
      const got: RealtimeEvent[] = [];
      hub.subscribe({ tenantId, topics: new Set(['hubrace:1']), deliver: (e) => void got.push(e) });
      await sys.db.sql`select switchyard_publish(${tenantId}, ${['hubrace:1']}, 'status', '{}'::jsonb)`;
      await sendSignals(sys.db.sql, [EVENTS_CHANNEL]);
      await sleeping;
      await waitFor(async () => got.length > 0, 3000, 'the event delivered');
      expect(got.map((e) => e.topics)).toEqual([['hubrace:1']]);
    } finally {
      await hub.close();
      await hubDb.close();
    }
  });

  it('coalesces signals: one NOTIFY for a burst, at most one per interval under a steady stream', async () => {
    const received: number[] = [];
    const listener = await sys.db.sql.listen(JOBS_CHANNEL, () => void received.push(Date.now()));
    const signals = createSignaler(sys.db.sql, { minIntervalMs: 20 });
    try {
      await Promise.all(Array.from({ length: 50 }, () => signals.signal(JOBS_CHANNEL)));
      await waitFor(async () => received.length >= 1, 3000, 'the burst NOTIFY');
      await new Promise((r) => setTimeout(r, 100));
      expect(received).toHaveLength(1);

      received.length = 0;
      const started = Date.now();
      const pending: Promise<void>[] = [];
      for (let i = 0; i < 30; i++) {
        pending.push(signals.signal(JOBS_CHANNEL));
        await new Promise((r) => setTimeout(r, 2));
      }
      await Promise.all(pending); // every signal is covered by a NOTIFY that was sent
      const span = Date.now() - started;
      await new Promise((r) => setTimeout(r, 100));
      expect(received.length).toBeGreaterThanOrEqual(2);
      expect(received.length).toBeLessThanOrEqual(Math.ceil(span / 20) + 1);
      expect(received.length).toBeLessThan(30);
    } finally {
      await listener.unlisten();
    }
  });
});
