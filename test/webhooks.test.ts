/**
 * Render and Sentry webhooks into the event store, over HTTP: signed senders built the way each
 * provider signs (Standard Webhooks via the `standardwebhooks` library; Sentry's HMAC-SHA256 hex
 * of the body, computed here with node:crypto), forged, stale, tampered and replayed deliveries,
 * normalization by the worker, masking, the search API and tenant isolation.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createHmac, randomBytes } from 'node:crypto';
import { Webhook } from 'standardwebhooks';
import { createTenant, startTestSystem, waitFor, type Api, type TestSystem } from './helpers/system.ts';
import { openSse } from './helpers/sse.ts';

let sys: TestSystem;
beforeAll(async () => {
  sys = await startTestSystem();
});
afterAll(async () => {
  await sys?.stop();
});

const RENDER_SECRET = `whsec_${randomBytes(32).toString('base64')}`;
const SENTRY_SECRET = randomBytes(32).toString('hex');

function renderDelivery(url: string, body: unknown, opts: { id?: string; secret?: string; at?: Date; tamper?: boolean } = {}) {
  const raw = JSON.stringify(body);
  const id = opts.id ?? `msg_${randomBytes(8).toString('hex')}`;
  const at = opts.at ?? new Date();
  const signature = new Webhook(opts.secret ?? RENDER_SECRET).sign(id, at, raw);
  return fetch(url, {
    method: 'POST',
    headers: { 'content-type': 'application/json', 'webhook-id': id, 'webhook-timestamp': String(Math.floor(at.getTime() / 1000)), 'webhook-signature': signature },
    body: opts.tamper ? raw.replace('deploy', 'deplox') : raw,
  });
}

function sentryDelivery(url: string, resource: string, body: unknown, opts: { requestId?: string; secret?: string; at?: number } = {}) {
  const raw = JSON.stringify(body);
  return fetch(url, {
    method: 'POST',
    headers: {
      'content-type': 'application/json',
      'request-id': opts.requestId ?? randomBytes(16).toString('hex'),
      'sentry-hook-resource': resource,
      'sentry-hook-timestamp': String(Math.floor((opts.at ?? Date.now()) / 1000)),
      'sentry-hook-signature': createHmac('sha256', opts.secret ?? SENTRY_SECRET).update(raw).digest('hex'),
    },
    body: raw,
  });
}

async function setup(api: Api) {
  const project = (await api('POST', '/v1/projects', { body: { name: 'Watched' } })).body.project;
  const render = await api('POST', `/v1/projects/${project.id}/log-sources`, {
    body: { provider: 'render', config: { owner_id: 'tea-123', resources: ['srv-abc'] }, credentials: { api_key: 'rnd_apikey123456', webhook_secret: RENDER_SECRET } },
  });
  const sentry = await api('POST', `/v1/projects/${project.id}/log-sources`, {
    body: { provider: 'sentry', config: { organization: 'acme', project: 'web' }, credentials: { webhook_secret: SENTRY_SECRET } },
  });
  return { project, render, sentry };
}

const deliveries = async (sourceId: string) =>
  (await sys.db.sql`select count(*)::int as n from webhook_deliveries where source_id = ${sourceId}`)[0]!.n as number;

describe('monitoring webhooks', () => {
  it('creates sources whose secrets never come back, and refuses bad ones', async () => {
    const { api } = await createTenant(sys, 'watcher-a');
    const { project, render, sentry } = await setup(api);
    expect(render.status, JSON.stringify(render.body)).toBe(201);
    expect(render.body.log_source).toMatchObject({
      provider: 'render', credentials: { api_key: true, webhook_secret: true },
      webhook_url: `${sys.url}/v1/webhooks/render/${render.body.log_source.id}`,
    });
    expect(sentry.body.log_source.credentials).toEqual({ api_key: false, webhook_secret: true });
    const listed = await api('GET', `/v1/projects/${project.id}/log-sources`);
    for (const text of [JSON.stringify(render.body), JSON.stringify(sentry.body), JSON.stringify(listed.body)]) {
      expect(text).not.toContain(RENDER_SECRET);
      expect(text).not.toContain(SENTRY_SECRET);
      expect(text).not.toContain('rnd_apikey123456');
    }
    // Stored sealed, not in the clear.
    const [row] = await sys.db.sql`select credentials from log_sources where id = ${render.body.log_source.id}`;
    expect(row!.credentials).not.toContain('whsec_');

    const bad = await api('POST', `/v1/projects/${project.id}/log-sources`, {
      body: { provider: 'render', config: { owner_id: 'tea-1', resources: ['srv-1'] }, credentials: { webhook_secret: 'not-a-standard-secret' } },
    });
    expect(bad.status).toBe(400);
    expect(bad.body.errors).toEqual([{ field: 'credentials.webhook_secret', message: 'must be a whsec_… secret' }]);
    expect((await api('POST', `/v1/projects/${project.id}/log-sources`, { body: { provider: 'datadog', config: {} } })).status).toBe(400);
    expect((await api('GET', `/v1/projects/${project.id}/log-sources`)).body.data).toHaveLength(2);
  });

  it('accepts a signed Render delivery once, refuses forged, stale and tampered ones, and normalizes it', async () => {
    const { api } = await createTenant(sys, 'watcher-b');
    const { project, render } = await setup(api);
    const url = render.body.log_source.webhook_url as string;
    const body = { type: 'deploy_ended', timestamp: new Date().toISOString(), data: { id: 'evj-42', serviceId: 'srv-abc', serviceName: 'api', status: 'build_failed' } };

    const first = await renderDelivery(url, body, { id: 'msg_one' });
    expect(first.status).toBe(202);
    expect(await first.json()).toMatchObject({ status: 'accepted', delivery_id: 'msg_one' });
    const again = await renderDelivery(url, body, { id: 'msg_one' });
    expect(again.status).toBe(200);
    expect(await again.json()).toEqual({ status: 'duplicate', delivery_id: 'msg_one' });

    const refusals = [
      await renderDelivery(url, body, { secret: `whsec_${randomBytes(32).toString('base64')}` }), // forged
      await renderDelivery(url, body, { at: new Date(Date.now() - 10 * 60_000) }), // stale
      await renderDelivery(url, body, { tamper: true }), // body changed after signing
      await fetch(url, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) }), // unsigned
    ];
    for (const r of refusals) {
      expect(r.status).toBe(401);
      expect(r.headers.get('content-type')).toContain('application/problem+json');
    }
    expect((await fetch(`${sys.url}/v1/webhooks/render/src_00000000000000000000000000`, { method: 'POST', body: '{}' })).status).toBe(404);
    expect(await deliveries(render.body.log_source.id)).toBe(1);

    // Signatures cover the raw bytes. A body with an invalid UTF-8 byte, signed over its bytes,
    // verifies (and is refused as unstorable, 400); the same body with that byte decoded to U+FFFD
    // does not verify against the original bytes' signature.
    const prefix = Buffer.from('{"type":"deploy_ended","data":{"id":"evj-43","serviceName":"ap');
    const bytes = Buffer.concat([prefix, Buffer.from([0xff]), Buffer.from('i"}}')]);
    const key = Buffer.from(RENDER_SECRET.slice('whsec_'.length), 'base64');
    const ts = String(Math.floor(Date.now() / 1000));
    const sig = (id: string, body: Buffer) => `v1,${createHmac('sha256', key).update(Buffer.concat([Buffer.from(`${id}.${ts}.`), body])).digest('base64')}`;
    const send = (id: string, body: Buffer, signature: string) => fetch(url, {
      method: "POST", headers: { "content-type": "application/json", "webhook-id": id, "webhook-timestamp": ts, "webhook-signature": signature }, body: new Uint8Array(body),
    });
    const genuine = await send('msg_raw', bytes, sig('msg_raw', bytes));
    expect(genuine.status).toBe(400);
    expect((await genuine.json() as { detail: string }).detail).toMatch(/UTF-8/);
    const decoded = Buffer.from(bytes.toString('utf8')); // 0xff became EF BF BD
    expect((await send('msg_raw2', decoded, sig('msg_raw2', bytes))).status).toBe(401);
    expect((await send('msg_raw3', bytes, sig('msg_raw3', decoded))).status).toBe(401);
    expect(await deliveries(render.body.log_source.id)).toBe(1);

    const logs = await waitFor(async () => {
      const res = await api('GET', `/v1/logs?project=${project.id}&provider=render`);
      return res.body.data.length ? res.body.data : null;
    }, 15_000, 'render event ingested');
    expect(logs).toHaveLength(1);
    expect(logs[0]).toMatchObject({ kind: 'deploy', level: 'error', service: 'api', message: 'api: deploy ended (build_failed)', provider: 'render' });
  });

  it('announces each stored batch once on the live stream (a `log` event), not a replayed one', async () => {
    const { api, key } = await createTenant(sys, 'watcher-live');
    const { project, render } = await setup(api);
    const url = render.body.log_source.webhook_url as string;
    const stream = openSse(`${sys.url}/v1/events?topic=project:${project.id}`, { Authorization: `Bearer ${key}` });
    try {
      await stream.ready;
      const at = new Date().toISOString();
      const body = { type: 'deploy_ended', timestamp: at, data: { id: 'evj-live', serviceId: 'srv-abc', serviceName: 'api', status: 'build_failed' } };
      expect((await renderDelivery(url, body, { id: 'msg_live' })).status).toBe(202);
      const e = await stream.waitFor((x) => x.event === 'log' && x.data.type === 'events', 15_000);
      expect(e.data).toMatchObject({
        type: 'events', project_id: project.id, source_id: render.body.log_source.id, provider: 'render', count: 1, levels: { error: 1 },
      });
      expect(Date.parse(e.data.newest_ts)).toBe(Date.parse(at));
      // A replay of the same delivery stores nothing new, so it announces nothing.
      const [delivery] = (await api('GET', `/v1/projects/${project.id}/log-sources/${render.body.log_source.id}/deliveries`)).body.data;
      const replay = await api('POST', `/v1/projects/${project.id}/log-sources/${render.body.log_source.id}/deliveries/${delivery.id}/replay`);
      expect(replay.status).toBe(202);
      await waitFor(async () => (await api('GET', `/v1/jobs/${replay.body.job.id}`)).body.job.status === 'succeeded' || null, 15_000, 'replay done');
      await new Promise((r) => setTimeout(r, 300));
      expect(stream.events.filter((x) => x.event === 'log')).toHaveLength(1);
    } finally {
      stream.close();
    }
  });

  it('accepts signed Sentry deliveries, masks what they carry, and keeps tenants apart', async () => {
    const { api } = await createTenant(sys, 'watcher-c');
    const { project, sentry } = await setup(api);
    const url = sentry.body.log_source.webhook_url as string;
    const issue = {
      action: 'created',
      data: { issue: { id: '1001', shortId: 'WEB-1', title: 'TypeError for jane@example.com with card 4242424242424242', level: 'error', status: 'unresolved', project: { slug: 'web' }, web_url: 'https://sentry.io/issues/1001' } },
      installation: { uuid: 'inst-1' }, actor: { type: 'application', id: 'sentry', name: 'Sentry' },
    };
    expect((await sentryDelivery(url, 'issue', issue, { requestId: 'req-1' })).status).toBe(202);
    expect((await sentryDelivery(url, 'issue', issue, { requestId: 'req-1' })).status).toBe(200);
    expect((await sentryDelivery(url, 'issue', issue, { secret: 'wrong-secret-000' })).status).toBe(401);
    const alert = { action: 'critical', data: { description_title: 'Error rate above 5%', description_text: 'p95', web_url: 'https://sentry.io/alerts/1', metric_alert: { alert_rule: { id: 7 } } } };
    expect((await sentryDelivery(url, 'metric_alert', alert)).status).toBe(202);
    expect(await deliveries(sentry.body.log_source.id)).toBe(2);
    // Sentry signs only the body: the same body again under a new Request-ID is the same delivery,
    // and a timestamp outside ±5 minutes is refused, fresh signature or not.
    const replay = await sentryDelivery(url, 'issue', issue, { requestId: 'req-replayed' });
    expect(replay.status).toBe(200);
    expect((await replay.json() as { status: string }).status).toBe('duplicate');
    const changed = { ...issue, action: 'resolved' };
    expect((await sentryDelivery(url, 'issue', changed, { at: Date.now() - 10 * 60_000 })).status).toBe(401);
    expect((await sentryDelivery(url, 'issue', changed, { at: Date.now() + 10 * 60_000 })).status).toBe(401);
    expect(await deliveries(sentry.body.log_source.id)).toBe(2);

    const events = await waitFor(async () => {
      const res = await api('GET', `/v1/logs?project=${project.id}`);
      return res.body.data.length === 2 ? res.body.data : null;
    }, 15_000, 'sentry events ingested');
    const error = events.find((e: { kind: string }) => e.kind === 'error');
    expect(error).toMatchObject({ level: 'error', service: 'web', fingerprint: 'sentry:issue:1001' });
    expect(error.message).toBe('WEB-1 TypeError for ****@**** with card ****4242 (created)');
    expect(JSON.stringify(events)).not.toContain('jane@example.com');
    expect(events.find((e: { kind: string }) => e.kind === 'alert')).toMatchObject({ level: 'error', message: 'Error rate above 5% (critical)' });

    // Filters and search.
    expect((await api('GET', `/v1/logs?project=${project.id}&kind=alert`)).body.data).toHaveLength(1);
    expect((await api('GET', `/v1/logs?project=${project.id}&q=typeerror`)).body.data).toHaveLength(1);
    const page = await api('GET', `/v1/logs?project=${project.id}&limit=1`);
    expect(page.body.pagination.next_cursor).toBeTruthy();
    const rest = await api('GET', `/v1/logs?project=${project.id}&limit=1&cursor=${page.body.pagination.next_cursor}`);
    expect(rest.body.data[0].id).not.toBe(page.body.data[0].id);
    expect((await api('GET', '/v1/logs?cursor=garbage')).status).toBe(400);

    // Another tenant sees none of it.
    const other = await createTenant(sys, 'watcher-other');
    expect((await other.api('GET', '/v1/logs')).body.data).toEqual([]);
    expect((await other.api('GET', `/v1/projects/${project.id}/log-sources`)).status).toBe(404); // not an empty list
    expect((await other.api('GET', `/v1/projects/${project.id}/log-sources/${sentry.body.log_source.id}`)).status).toBe(404);

    // A deleted source's webhook is gone.
    expect((await api('DELETE', `/v1/projects/${project.id}/log-sources/${sentry.body.log_source.id}`)).status).toBe(204);
    expect((await sentryDelivery(url, 'issue', issue)).status).toBe(404);
  });
});
