/**
 * Tenant and role matrices generated from the OpenAPI document: for every operation whose path
 * takes an id, another tenant's admin key, given this tenant's real ids, gets a 404 with none of
 * the resource's data; for every mutation, a viewer of the owning tenant gets 403 and nothing
 * changes. A new operation joins both matrices by being in the document; one whose body isn't in
 * VALID_BODIES fails here until it is added.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createHmac } from 'node:crypto';
import { createTenant, startTestSystem, waitFor, type Api, type TestSystem } from './helpers/system.ts';

let sys: TestSystem;
let doc: Record<string, any>;
let owner: { api: Api; key: string; tenantId: string };
let other: { api: Api; key: string; tenantId: string };
let viewerKey: string;
const ids: Record<string, string> = {};
/** Text that would betray the owner's resources in another tenant's answer. */
const secrets: string[] = [];

/** A body each mutation accepts when the caller may act (so a 404 or 403 can't hide behind a 400). */
const VALID_BODIES: Record<string, unknown> = {
  'POST /v1/projects': { name: 'matrix project' },
  'POST /v1/projects/import': { name: 'matrix import', provider: 'postgres', connection_string: 'postgresql://matrix:x@db.example.com:5432/matrix' },
  'POST /v1/stores': { name: 'matrixshop', engine: 'medusa' },
  'POST /v1/tenants': { name: 'matrix tenant' },
  'POST /v1/api-keys': { name: 'matrix key', role: 'viewer' },
  'PATCH /v1/tenant': { api_version: '2026-06-01' },
  'POST /v1/alert-rules': { project: '{prj}', name: 'matrix rule', threshold: 1, window: '1m', channel: { type: 'webhook', url: 'https://hooks.example.com/x' } },
  'POST /v1/projects/{id}/log-sources': { provider: 'sentry', config: { organization: 'acme', project: 'web' }, credentials: { webhook_secret: 'matrix-secret-1' } },
  'POST /v1/canary-policies': { name: 'matrix-policy', yaml: 'interval: 1h\nwindow: 1h\nsteps: [{weight: 10}, {weight: 100}]\nmetrics: [{name: errors, kind: error_rate, max: 1%}]\n' },
  'POST /v1/rollouts': { project: '{prj}', service: 'matrix', baseline: { version: 'a' }, canary: { version: 'b' }, policy: 'owner-policy' },
  'POST /v1/rollouts/{id}/telemetry': { points: [{ ts: '2026-01-01T00:00:00Z', track: 'canary', requests: 1, errors: 0 }] },
  'POST /v1/otlp/v1/metrics': { resourceMetrics: [] },
  'POST /v1/rollouts/{id}/analysis': { weight: 10 },
  'POST /v1/rollouts/{id}/backtest': { policy: 'owner-policy' },
  'POST /v1/rollouts/{id}/flagger/{type}': { name: 'checkout', namespace: 'shop', phase: 'Progressing', checksum: 'matrix-rev', metadata: {} },
};

beforeAll(async () => {
  // Alert rules evaluate once at create and then not again during the test.
  sys = await startTestSystem({ SWITCHYARD_ALERT_ALLOW_PRIVATE_URLS: 'true', SWITCHYARD_STORE_CREATES_PER_MIN: '1000', SWITCHYARD_ALERT_EVAL_INTERVAL_S: '3600' });
  doc = await (await fetch(`${sys.url}/openapi.json`)).json();
  owner = await createTenant(sys, 'matrix-owner');
  other = await createTenant(sys, 'matrix-other');
  viewerKey = (await owner.api('POST', '/v1/api-keys', { body: { name: 'matrix viewer', role: 'viewer' } })).body.api_key.secret;
  const project = (await owner.api('POST', '/v1/projects', { body: { name: 'Owner secret project' } })).body;
  const store = (await owner.api('POST', '/v1/stores', { body: { name: 'ownershop', engine: 'medusa' } })).body;
  const source = (await owner.api('POST', `/v1/projects/${project.project.id}/log-sources`, {
    body: { provider: 'sentry', config: { organization: 'ownerorg', project: 'web' }, credentials: { webhook_secret: 'owner-secret-123' } }, // no api_key: no scheduled pulls mid-matrix
  })).body.log_source;
  const rule = (await owner.api('POST', '/v1/alert-rules', {
    body: { project: project.project.id, name: 'Owner rule', threshold: 1, window: '1m', channel: { type: 'webhook', url: 'https://hooks.example.com/owner' } },
  })).body.alert_rule;
  const key = (await owner.api('POST', '/v1/api-keys', { body: { name: 'owner laptop', role: 'member' } })).body.api_key;
  // A canary policy judged hourly, so its rollout makes no decision while the matrix runs.
  expect((await owner.api('POST', '/v1/canary-policies', { body: { name: 'owner-policy', yaml: 'interval: 1h\nwindow: 1h\nsteps: [{weight: 10}, {weight: 100}]\nmetrics: [{name: errors, kind: error_rate, max: 1%}]\n' } })).status).toBe(201);
  const rollout = (await owner.api('POST', '/v1/rollouts', { body: { project: project.project.id, service: 'owner-checkout', baseline: { version: 'v1' }, canary: { version: 'v2' }, policy: 'owner-policy' } })).body.rollout;
  // A webhook delivery, signed as Sentry signs.
  const raw = JSON.stringify({ action: 'created', data: { issue: { id: '77', title: 'Owner issue' } } });
  const delivered = await fetch(source.webhook_url, {
    method: 'POST', body: raw,
    headers: {
      'content-type': 'application/json', 'request-id': 'matrix-1', 'sentry-hook-resource': 'issue',
      'sentry-hook-timestamp': String(Math.floor(Date.now() / 1000)), 'sentry-hook-signature': createHmac('sha256', 'owner-secret-123').update(raw).digest('hex'),
    },
  });
  expect(delivered.status).toBe(202);
  const delivery = await waitFor(async () => (await owner.api('GET', `/v1/projects/${project.project.id}/log-sources/${source.id}/deliveries`)).body.data[0], 10_000, 'delivery');
  Object.assign(ids, { id_rol: rollout.id, name: 'owner-policy', action: 'pause', type: 'rollout', id_prj: project.project.id, id_job: project.job.id, id_sto: store.store.id, id_alr: rule.id, id_key: key.id, sid: source.id, did: delivery.id, prj: project.project.id });
  // Settle: the runner finishes what the setup queued, so the snapshots below see only the matrix.
  // (The rollout's evaluation job stays queued for its next hourly window.)
  await waitFor(async () => (await sys.db.sql`select count(*)::int as n from jobs where status in ('queued', 'running') and kind <> 'rollout.evaluate'`)[0]!.n === 0, 30_000, 'setup jobs done');
  await waitFor(async () => (await sys.db.sql`select status from rollouts where id = ${rollout.id}`)[0]!.status === 'running', 30_000, 'rollout started');
  secrets.push(rollout.id, 'owner-checkout', 'owner-policy', project.project.id, 'Owner secret project', store.store.id, 'ownershop', source.id, 'ownerorg', rule.id, 'Owner rule', key.id, 'owner laptop', delivery.id);
});

afterAll(async () => {
  await sys?.stop();
});

interface Op {
  method: string;
  path: string;
  op: Record<string, any>;
}

function operations(): Op[] {
  const out: Op[] = [];
  for (const [path, item] of Object.entries(doc.paths as Record<string, any>)) {
    for (const method of ['get', 'post', 'put', 'patch', 'delete']) if (item[method]) out.push({ method: method.toUpperCase(), path, op: item[method] });
  }
  return out.filter((o) => !o.path.startsWith('/v1/webhooks/') && !o.path.startsWith('/workers/'));
}

/** The owner's real id for each path parameter, chosen by the id prefix its pattern names. */
function fill(o: Op): string {
  let path = o.path;
  for (const p of (o.op.parameters ?? []).filter((x: any) => x.in === 'path')) {
    const prefix = /\^(\w{3})_/.exec(String(p.schema?.pattern ?? ''))?.[1];
    const value = ['sid', 'did', 'name', 'action', 'type'].includes(p.name) ? ids[p.name] : ids[`id_${prefix}`];
    expect(value, `an id of the owner for ${o.path} {${p.name}}`).toBeDefined();
    path = path.replace(`{${p.name}}`, value!);
  }
  return path;
}

function bodyFor(o: Op): unknown {
  if (!o.op.requestBody) return undefined;
  const key = `${o.method} ${o.path}`;
  expect(key in VALID_BODIES, `a valid body for ${key} in VALID_BODIES`).toBe(true);
  return JSON.parse(JSON.stringify(VALID_BODIES[key]).replaceAll('{prj}', ids.prj!));
}

/**
 * Jobs the scheduler creates on its own clock (a source's pulls, a rule's evaluations) are not the
 * request's doing: counting them made the snapshot flaky on a slow machine (seen on Node 22 in CI).
 * Alert notifications follow from those evaluations, so they are left out too.
 */
const SCHEDULED = ['logs.pull', 'alerts.evaluate', 'alerts.notify'];

async function snapshot(): Promise<string> {
  const [row] = await sys.db.sql`
    select (select count(*) from tenants) t, (select count(*) from api_keys) k, (select count(*) from api_keys where revoked_at is not null) kr,
           (select json_agg(json_build_object('id', id, 's', status) order by id) from projects) p, (select count(*) from jobs where kind not in ${sys.db.sql(SCHEDULED)}) j,
           (select json_agg(json_build_object('id', id, 's', status) order by id) from stores) s, (select count(*) from idempotency_keys) i,
           (select count(*) from log_sources) l, (select count(*) from alert_rules where deleted_at is null) a,
           (select count(*) from canary_policies) cp, (select json_agg(json_build_object('id', id, 's', status, 'st', step_index) order by id) from rollouts) r,
           (select count(*) from rollout_points) rp, (select count(*) from rollout_decisions) rd`;
  return JSON.stringify(row);
}

const sendAs = (key: string, o: Op) => fetch(`${sys.url}${fill(o)}`, {
  method: o.method,
  headers: { Authorization: `Bearer ${key}`, ...(o.op.requestBody ? { 'Content-Type': 'application/json' } : {}) },
  ...(o.op.requestBody ? { body: JSON.stringify(bodyFor(o)) } : {}),
});

describe('tenant matrix', () => {
  it('gives another tenant 404 with none of the resource’s data, on every operation that takes an id', async () => {
    const withIds = operations().filter((o) => o.path.includes('{'));
    expect(withIds.length).toBeGreaterThan(15);
    for (const o of withIds) {
      const before = await snapshot();
      const res = await sendAs(other.key, o);
      const text = await res.text();
      expect(res.status, `${o.method} ${o.path}: ${text}`).toBe(404);
      expect(res.headers.get('content-type')).toContain('application/problem+json');
      // An id the caller sent may come back in the error; nothing else of the owner's may.
      const sent = fill(o);
      for (const s of secrets.filter((x) => !sent.includes(x))) expect(text, `${o.method} ${o.path} shows ${s}`).not.toContain(s);
      expect(await snapshot(), `${o.method} ${o.path} changed something`).toBe(before);
    }
  });
});

describe('role matrix', () => {
  it('gives a viewer 403 and changes nothing, on every mutation', async () => {
    // Read-only by nature: a viewer may mint the read-only event token it uses for SSE.
    // Token mints change nothing and any role may subscribe.
    const readOnly = new Set(['POST /v1/events/token', 'POST /v1/realtime/token']);
    const mutations = operations().filter((o) => o.method !== 'GET' && !readOnly.has(`${o.method} ${o.path}`));
    expect(mutations.length).toBeGreaterThan(12);
    for (const o of mutations) {
      const before = await snapshot();
      const res = await sendAs(viewerKey, o);
      const text = await res.text();
      // Tenant management is for the operator: a viewer of another tenant doesn't learn it exists.
      const expected = o.path.startsWith('/v1/tenants') ? 404 : 403;
      expect(res.status, `${o.method} ${o.path}: ${text}`).toBe(expected);
      expect(res.headers.get('content-type')).toContain('application/problem+json');
      expect(await snapshot(), `${o.method} ${o.path} changed something`).toBe(before);
    }
  });
});
