/**
 * Canary rollouts over HTTP on the real system: policies as versioned YAML, rollouts judged every
 * interval by the `rollout.evaluate` job from telemetry stored in Postgres, decisions with their
 * explanations, published on the rollout's topic.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { readFile } from 'node:fs/promises';
import { randomBytes } from 'node:crypto';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { Webhook } from 'standardwebhooks';
import { parse } from 'yaml';
import { insertDecision } from '../db/rollouts.repo.ts';
import { openSse } from './helpers/sse.ts';
import { createTenant, startTestSystem, waitFor, type Api, type TestSystem } from './helpers/system.ts';

let sys: TestSystem;
let api: Api;
let key: string;
let projectId: string;

const FAST = (extra = '') => `
interval: 1s
window: 4s
confidence: 0.95
min_requests: 40
on_no_data: pause
steps:
  - {weight: 10, min_duration: 2s}
  - {weight: 50, min_duration: 2s}
  - {weight: 100}
metrics:
  - {name: errors, kind: error_rate, max_increase: 10%, slack: 0.5%, on_breach: rollback}
  - {name: p95, kind: latency_quantile, q: 0.95, max: 500ms, on_breach: pause}
${extra}`;

beforeAll(async () => {
  // Notification receivers listen on loopback here; the address guard is tested in hostile-addresses.
  sys = await startTestSystem({ SWITCHYARD_POLL_INTERVAL_MS: '100', LOG_LEVEL: 'error', SWITCHYARD_ALERT_ALLOW_PRIVATE_URLS: 'true', SWITCHYARD_RETRY_BASE_MS: '20', SWITCHYARD_RETRY_MAX_MS: '100' });
  ({ api, key } = await createTenant(sys, 'canary'));
  const p = await api('POST', '/v1/projects', { body: { name: 'canary target' } });
  projectId = p.body.project.id;
  expect((await api('POST', '/v1/canary-policies', { body: { name: 'fast', yaml: FAST() } })).status).toBe(201);
});
afterAll(async () => {
  await sys?.stop();
});

/** Sends a point per track every 250 ms until stopped: `canaryErrors` of every 100 canary requests fail. */
function feed(rolloutId: string, opts: { canaryErrorRate: number; baselineErrorRate?: number; canary?: boolean; latencyMs?: number }) {
  let stopped = false;
  let n = 0;
  const boundaries = [50, 100, 250, 500, 1000];
  const hist = (count: number, ms: number) => {
    const counts = boundaries.map(() => 0).concat(0);
    const i = boundaries.findIndex((b) => ms <= b);
    counts[i < 0 ? boundaries.length : i] = count;
    return { boundaries_ms: boundaries, counts };
  };
  const loop = (async () => {
    while (!stopped) {
      const ts = new Date().toISOString();
      n++;
      const points: unknown[] = [{ ts, track: 'baseline', requests: 90, errors: Math.round(90 * (opts.baselineErrorRate ?? 0.01)) - (n % 2), latency: hist(90, 80) }];
      if (opts.canary !== false) points.push({ ts, track: 'canary', requests: 30, errors: Math.round(30 * opts.canaryErrorRate), latency: hist(30, opts.latencyMs ?? 80) });
      const res = await api('POST', `/v1/rollouts/${rolloutId}/telemetry`, { body: { points } });
      if (res.status === 409) break; // the rollout finished
      if (res.status !== 202) throw new Error(`telemetry: ${res.status} ${JSON.stringify(res.body)}`);
      await new Promise((r) => setTimeout(r, 250));
    }
  })();
  return async () => {
    stopped = true;
    await loop;
  };
}

async function start(policy = 'fast@1') {
  const res = await api('POST', '/v1/rollouts', { body: { project: projectId, service: 'checkout', baseline: { version: 'v1' }, canary: { version: 'v2' }, policy } });
  expect(res.status, JSON.stringify(res.body)).toBe(202);
  return res.body.rollout.id as string;
}
const rolloutOf = async (id: string) => (await api('GET', `/v1/rollouts/${id}`)).body.rollout;
const decisionsOf = async (id: string) => (await api('GET', `/v1/rollouts/${id}/decisions?limit=100`)).body.data as any[];

describe('canary policies over HTTP', () => {
  it('versions by content: the same document again is the same version, a change is the next', async () => {
    const again = await api('POST', '/v1/canary-policies', { body: { name: 'fast', yaml: `# a comment\n${FAST()}` } });
    expect(again.status).toBe(200);
    expect(again.body.policy.version).toBe(1);
    const changed = await api('POST', '/v1/canary-policies', { body: { name: 'fast', yaml: FAST().replace('min_requests: 40', 'min_requests: 41') } });
    expect(changed.status).toBe(201);
    expect(changed.body.policy.version).toBe(2);
    const got = await api('GET', '/v1/canary-policies/fast');
    expect(got.body.versions.map((v: any) => v.version)).toEqual([2, 1]);
    // put it back so the rest of the file runs on version 3 with the original numbers
    expect((await api('POST', '/v1/canary-policies', { body: { name: 'fast', yaml: FAST().replace('interval: 1s', 'interval: 1000ms') } })).body.policy.version).toBe(1);
  });

  it('refuses on_no_data: promote and unknown keys with the YAML path, line and column, storing nothing', async () => {
    const bad = await api('POST', '/v1/canary-policies', { body: { name: 'reckless', yaml: FAST().replace('on_no_data: pause', 'on_no_data: promote').replace('confidence: 0.95', 'confidence: 0.95\nconfidnce: 0.9') } });
    expect(bad.status).toBe(400);
    expect(bad.headers.get('content-type')).toContain('application/problem+json');
    expect(bad.body.errors).toEqual(expect.arrayContaining([
      expect.objectContaining({ field: 'yaml.on_no_data', line: 7, column: 13 }),
      expect.objectContaining({ field: 'yaml.(document)', message: expect.stringContaining('confidnce') }),
    ]));
    expect((await api('GET', '/v1/canary-policies/reckless')).status).toBe(404);
  });
});

describe('rollouts judged live', () => {
  it('promotes a healthy canary step by step to all traffic, explaining each decision, and publishes them', async () => {
    const id = await start();
    const sse = openSse(`${sys.url}/v1/events?topic=rollout:${id}`, { authorization: `Bearer ${key}` });
    const stop = feed(id, { canaryErrorRate: 0.01 });
    try {
      await waitFor(async () => (await rolloutOf(id)).status === 'promoted', 40_000, 'promoted').catch(async (e) => {
        console.error(JSON.stringify((await decisionsOf(id)).slice(-2).map((d) => [d.verdict, d.sentence, d.window, d.explanation.metrics[0].window])));
        console.error(JSON.stringify(await sys.db.sql`select track, ts, requests from rollout_points where rollout_id = ${id} order by ts limit 4`));
        throw e;
      });
    } finally {
      await stop();
    }
    const r = await rolloutOf(id);
    expect(r.step.weight).toBe(100);
    const ds = await decisionsOf(id);
    const promotes = ds.filter((d) => d.verdict === 'promote');
    expect(promotes.map((d) => d.step_index).sort()).toEqual([0, 1]);
    const last = promotes.find((d) => d.step_index === 1)!;
    expect(last.sentence).toMatch(/^promoted: the canary takes all traffic; canary error rate/);
    expect(last.explanation.policy).toMatchObject({ name: 'fast', version: 1, hash: expect.stringMatching(/^[0-9a-f]{64}$/) });
    expect(last.explanation.metrics.map((m: any) => [m.name, m.outcome])).toEqual([['errors', 'ok'], ['p95', 'ok']]);
    expect(last.explanation.window.end).toBe(last.window.end);
    // windows are unique and each one was decided once
    expect(new Set(ds.map((d) => d.window.end)).size).toBe(ds.length);
    await waitFor(async () => sse.events.filter((e) => e.event === 'decision').length >= ds.length, 10_000, 'decision events');
    sse.close();

    // Backtests: the same policy replays the same promotions; a stricter one would have waited
    // where the real one promoted; the same request gives the same answer.
    const same = await api('POST', `/v1/rollouts/${id}/backtest`, { body: { policy: 'fast@1' } });
    expect(same.status).toBe(200);
    expect(same.body.backtest.filter((d: any) => d.verdict === 'promote').map((d: any) => d.step_index)).toEqual([0, 1]);
    expect(same.body.actual).toHaveLength(ds.length);
    const strict = { yaml: FAST().replace('min_requests: 40', 'min_requests: 100000') };
    const a = await api('POST', `/v1/rollouts/${id}/backtest`, { body: strict });
    const b = await api('POST', `/v1/rollouts/${id}/backtest`, { body: strict });
    expect(a.body).toEqual(b.body);
    expect(a.body.policy).toMatchObject({ name: null, version: null, hash: expect.stringMatching(/^[0-9a-f]{64}$/) });
    expect(a.body.backtest.some((d: any) => d.verdict === 'promote')).toBe(false);
    expect(a.body.first_difference).not.toBeNull();
    const firstPromote = ds.slice().reverse().findIndex((d) => d.verdict === 'promote');
    expect(a.body.first_difference.index).toBeLessThanOrEqual(firstPromote);
  }, 60_000);

  it('judges shadow policies beside its own without acting on them, and sends each decision, signed, to notify', async () => {
    // The shadow would roll this canary back (an absolute 0.1% error ceiling); the real policy promotes it.
    const strict = `
interval: 1s
window: 4s
min_requests: 40
steps:
  - {weight: 10}
  - {weight: 100}
metrics:
  - {name: errors, kind: error_rate, max: 0.1%, on_breach: rollback}
`;
    const shadow = (await api('POST', '/v1/canary-policies', { body: { name: 'strict-shadow', yaml: strict } })).body.policy;
    const received: Array<{ headers: Record<string, string>; body: string }> = [];
    const receiver = createServer((req, res) => {
      let body = '';
      req.on('data', (d) => (body += d));
      req.on('end', () => {
        received.push({ headers: req.headers as Record<string, string>, body });
        res.writeHead(204).end();
      });
    });
    await new Promise<void>((r) => receiver.listen(0, '127.0.0.1', r));
    const secret = `whsec_${Buffer.from(randomBytes(32)).toString('base64')}`;
    const hook = `http://127.0.0.1:${(receiver.address() as AddressInfo).port}/hooks/canary`;
    try {
      const res = await api('POST', '/v1/rollouts', { body: {
        project: projectId, service: 'checkout', baseline: { version: 'v1' }, canary: { version: 'v2' }, policy: 'fast@1',
        shadow_policies: ['strict-shadow'], notify: { url: hook, secret },
      } });
      expect(res.status, JSON.stringify(res.body)).toBe(202);
      const id = res.body.rollout.id as string;
      expect(res.body.rollout.shadow_policies).toEqual([{ id: shadow.id, name: 'strict-shadow', version: 1 }]);
      expect(JSON.stringify(res.body)).not.toContain(secret);
      expect(JSON.stringify(res.body)).not.toContain('/hooks/canary');
      // A canary at 3.3% errors against a baseline at 5%: fine by the real policy, far over the shadow's 0.1%.
      const stop = feed(id, { canaryErrorRate: 1 / 30, baselineErrorRate: 0.05 });
      try {
        await waitFor(async () => ((await rolloutOf(id)).status === 'promoted' ? true : null), 30_000, 'promoted');
      } finally {
        await stop();
      }
      const ds = await decisionsOf(id);
      const real = ds.filter((d) => !d.shadow);
      const shadows = ds.filter((d) => d.shadow);
      expect(real.every((d) => d.policy_id !== shadow.id)).toBe(true);
      expect(shadows.length).toBeGreaterThan(0);
      expect(shadows.every((d) => d.policy_id === shadow.id && d.explanation.policy.name === 'strict-shadow')).toBe(true);
      // Every shadow decision shares a window with a real one, and the shadow wanted a rollback.
      expect(shadows.every((d) => real.some((r) => r.window.end === d.window.end))).toBe(true);
      expect(shadows.some((d) => d.verdict === 'rollback')).toBe(true);

      // One signed notification per real decision (none for shadows), verifiable with the secret.
      await waitFor(async () => received.length >= real.length, 15_000, 'a notification per decision');
      const wh = new Webhook(secret);
      const sent = received.map((r) => wh.verify(r.body, r.headers) as { type: string; data: { decision: { id: string; verdict: string } } });
      expect(sent.every((m) => m.type === 'rollout.decision')).toBe(true);
      expect(sent.map((m) => m.data.decision.id).sort()).toEqual(real.map((d) => d.id).sort());
      expect(received.every((r) => r.headers['webhook-id'] === `decision_${JSON.parse(r.body).data.decision.id}`)).toBe(true);
      const after = await rolloutOf(id);
      expect(after.notify).toMatchObject({ host: new URL(hook).host, failures: 0, last_error: null, last_success_at: expect.any(String) });
      // What realtime published about the rollout carries neither the sealed URL nor the secret.
      const published = await sys.db.sql`select payload::text as p from realtime_events where ${`rollout:${id}`} = any(topics) and event = 'status'`;
      expect(published.length).toBeGreaterThan(0);
      expect(published.every((e) => !e.p.includes('notify_url') && !e.p.includes('notify_secret') && e.p.includes('notify_host'))).toBe(true);
      const listed = (await api('GET', '/v1/rollouts?limit=100')).body.data.find((r: any) => r.id === id);
      expect(listed.shadow_policies).toEqual([{ id: shadow.id, name: 'strict-shadow', version: 1 }]);
    } finally {
      receiver.close();
    }
  }, 60_000);

  it('shows a notify channel that keeps failing on the rollout, and refuses private or unknown targets', async () => {
    const receiver = createServer((_req, res) => res.writeHead(503).end());
    await new Promise<void>((r) => receiver.listen(0, '127.0.0.1', r));
    const secret = `whsec_${Buffer.from(randomBytes(24)).toString('base64')}`;
    try {
      const id = (await api('POST', '/v1/rollouts', { body: {
        project: projectId, service: 'checkout', baseline: { version: 'v1' }, canary: { version: 'v2' }, policy: 'fast@1',
        notify: { url: `http://127.0.0.1:${(receiver.address() as AddressInfo).port}/`, secret },
      } })).body.rollout.id as string;
      const r = await waitFor(async () => {
        const x = await rolloutOf(id);
        return x.notify?.failures >= 2 ? x : null;
      }, 20_000, 'failures recorded on the rollout');
      expect(r.notify.last_error).toContain('503');
      expect(r.notify.last_success_at).toBeNull();
      await api('POST', `/v1/rollouts/${id}/abort`);
    } finally {
      receiver.close();
    }
    const bad = await api('POST', '/v1/rollouts', { body: {
      project: projectId, service: 'checkout', baseline: { version: 'v1' }, canary: { version: 'v2' }, policy: 'fast@1', shadow_policies: ['no-such-policy'],
    } });
    expect(bad.status).toBe(422);
    expect(bad.body.errors).toEqual([{ field: 'shadow_policies[0]', message: 'unknown policy or version' }]);
    const weak = await api('POST', '/v1/rollouts', { body: {
      project: projectId, service: 'checkout', baseline: { version: 'v1' }, canary: { version: 'v2' }, policy: 'fast@1', notify: { url: 'https://example.com/', secret: 'hunter2' },
    } });
    expect(weak.status).toBe(400);
    expect(weak.body.errors[0].field).toBe('notify.secret');
  });

  it('never promotes without telemetry: it pauses, saying why', async () => {
    const id = await start();
    await waitFor(async () => (await rolloutOf(id)).status === 'paused', 20_000, 'paused');
    const [d] = await decisionsOf(id);
    expect(d.verdict).toBe('pause');
    expect(d.sentence).toContain('no traffic on either track');
    expect((await decisionsOf(id)).some((x) => x.verdict === 'promote')).toBe(false);
  });

  it('never promotes when only the baseline gets traffic', async () => {
    const id = await start();
    const stop = feed(id, { canaryErrorRate: 0, canary: false });
    try {
      await waitFor(async () => (await rolloutOf(id)).status === 'paused', 20_000, 'paused');
    } finally {
      await stop();
    }
    const ds = await decisionsOf(id);
    expect(ds.some((x) => x.verdict === 'promote')).toBe(false);
    expect(ds[0].sentence).toContain('no canary traffic');
  });

  it('rolls back a canary whose errors are significantly higher', async () => {
    const id = await start();
    const stop = feed(id, { canaryErrorRate: 0.3 });
    try {
      await waitFor(async () => (await rolloutOf(id)).status === 'rolled_back', 30_000, 'rolled back');
    } finally {
      await stop();
    }
    const [d] = await decisionsOf(id);
    expect(d.verdict).toBe('rollback');
    expect(d.sentence).toMatch(/^rolled back: canary error rate [\d.]+% vs baseline [\d.]+% over [\d,]+ requests; the increase is significant at 95%$/);
    // no more telemetry for a finished rollout
    const late = await api('POST', `/v1/rollouts/${id}/telemetry`, { body: { points: [{ ts: new Date().toISOString(), track: 'canary', requests: 1, errors: 0 }] } });
    expect(late.status).toBe(409);
  });

  it('counts a repeated point once, and refuses histograms it can\'t merge', async () => {
    const id = await start();
    const ts = new Date().toISOString();
    const point = { ts, track: 'canary', requests: 10, errors: 1, latency: { boundaries_ms: [100, 200], counts: [5, 4, 1] } };
    expect((await api('POST', `/v1/rollouts/${id}/telemetry`, { body: { points: [point] } })).body).toEqual({ accepted: 1, duplicates: 0 });
    expect((await api('POST', `/v1/rollouts/${id}/telemetry`, { body: { points: [point] } })).body).toEqual({ accepted: 0, duplicates: 1 });
    const other = await api('POST', `/v1/rollouts/${id}/telemetry`, { body: { points: [{ ...point, ts: new Date(Date.now() - 1000).toISOString(), latency: { boundaries_ms: [100, 300], counts: [1, 1, 1] } }] } });
    expect(other.status).toBe(422);
    const bad = await api('POST', `/v1/rollouts/${id}/telemetry`, { body: { points: [{ ...point, errors: 11 }] } });
    expect(bad.status).toBe(400);
    const [{ n }] = (await sys.db.sql<{ n: number }[]>`select sum(requests)::int as n from rollout_points where rollout_id = ${id}`) as unknown as [{ n: number }];
    expect(n).toBe(10);
    await api('POST', `/v1/rollouts/${id}/abort`);
  });

  it('lets a person pause, resume, promote a step and abort, and refuses what the status doesn\'t allow', async () => {
    const id = await start();
    await waitFor(async () => ['running', 'paused'].includes((await rolloutOf(id)).status), 10_000, 'started');
    expect((await api('POST', `/v1/rollouts/${id}/pause`)).status).toBeLessThan(500);
    expect((await api('POST', `/v1/rollouts/${id}/resume`)).body.rollout.status).toBe('running');
    const promoted = await api('POST', `/v1/rollouts/${id}/promote`);
    expect(promoted.body.rollout.step).toMatchObject({ index: 1, weight: 50 });
    expect((await api('POST', `/v1/rollouts/${id}/abort`)).body.rollout.status).toBe('aborted');
    const again = await api('POST', `/v1/rollouts/${id}/resume`);
    expect(again.status).toBe(409);
    expect(again.body.detail).toContain('aborted');
  });

  it('keeps one decision per window however many writers race for it', async () => {
    const id = await start();
    const rollout = (await sys.db.sql`select tenant_id, policy_id from rollouts where id = ${id}`)[0]!;
    const windowEnd = new Date(Math.floor(Date.now() / 1000) * 1000 + 3_600_000).toISOString();
    const results = await Promise.all(Array.from({ length: 5 }, (_, k) => sys.db.sql.begin((tx) => insertDecision(tx, {
      rolloutId: id, tenantId: rollout.tenantId, policyId: rollout.policyId, windowStart: windowEnd, windowEnd,
      stepIndex: 0, verdict: 'wait', sentence: `writer ${k}`, explanation: {}, shadow: false,
    }))));
    expect(results.filter(Boolean)).toHaveLength(1);
    const [{ n }] = (await sys.db.sql<{ n: number }[]>`select count(*)::int as n from rollout_decisions where rollout_id = ${id} and window_end = ${windowEnd}`) as unknown as [{ n: number }];
    expect(n).toBe(1);
    await api('POST', `/v1/rollouts/${id}/abort`);
  });

  it('keeps other tenants out', async () => {
    const id = await start();
    const other = await createTenant(sys, 'outsider');
    for (const path of [`/v1/rollouts/${id}`, `/v1/rollouts/${id}/decisions`]) expect((await other.api('GET', path)).status).toBe(404);
    expect((await other.api('POST', `/v1/rollouts/${id}/telemetry`, { body: { points: [{ ts: new Date().toISOString(), track: 'canary', requests: 1, errors: 0 }] } })).status).toBe(404);
    expect((await other.api('POST', '/v1/rollouts', { body: { project: projectId, service: 's', baseline: { version: 'a' }, canary: { version: 'b' }, policy: 'fast' } })).status).toBe(422);
    await api('POST', `/v1/rollouts/${id}/abort`);
  });
});

describe('wired to Argo Rollouts and Flagger (the shipped manifests, the exact requests they send)', () => {

  /** Argo's Web provider: the template's method, URL, headers and jsonBody with the args substituted. */
  async function argoMeasure(args: Record<string, string>) {
    const template = parse(await readFile('infra/argo/analysis-template.yaml', 'utf8'));
    const metric = template.spec.metrics[0];
    const web = metric.provider.web;
    const sub = (v: string) => v.replace(/\{\{args\.([\w-]+)\}\}/g, (_, k: string) => args[k] ?? '');
    const headers: Record<string, string> = { 'Content-Type': 'application/json' }; // set by jsonBody
    for (const h of web.headers) headers[h.key] = sub(h.value);
    const body = JSON.parse(sub(JSON.stringify(web.jsonBody)));
    const res = await fetch(sub(web.url), { method: web.method, headers, body: JSON.stringify(body), signal: AbortSignal.timeout(web.timeoutSeconds * 1000) });
    const result = await res.json();
    // expr-lang conditions of the form result.decision == "X"
    const holds = (cond: string) => result.decision === /result\.decision == "(\w+)"/.exec(cond)![1];
    const phase = res.status >= 300 ? 'Error' : holds(metric.failureCondition) ? 'Failed' : holds(metric.successCondition) ? 'Successful' : 'Inconclusive';
    return { status: res.status, result, phase };
  }

  it('Argo: Inconclusive while the judge waits, Successful once it has moved past the asked weight, Failed on a rollback', async () => {
    const healthy = await start();
    const args = (id: string) => ({ 'switchyard-url': sys.url, 'rollout-id': id, weight: '10', token: key });
    const first = await argoMeasure(args(healthy));
    expect(first).toMatchObject({ status: 200, phase: 'Inconclusive' });
    const stop = feed(healthy, { canaryErrorRate: 0.01 });
    try {
      await waitFor(async () => (await argoMeasure(args(healthy))).phase === 'Successful', 40_000, 'PROMOTE');
    } finally {
      await stop();
    }
    const bad = await start();
    const stopBad = feed(bad, { canaryErrorRate: 0.3 });
    try {
      await waitFor(async () => (await argoMeasure(args(bad))).phase === 'Failed', 30_000, 'ROLLBACK');
    } finally {
      await stopBad();
    }
    expect((await argoMeasure(args(bad))).result).toMatchObject({ decision: 'ROLLBACK', status: 'rolled_back', sentence: expect.stringMatching(/^rolled back: /) });
  }, 90_000);

  it('Flagger: each webhook type answers in Flagger\'s semantics, keyed by the revision checksum', async () => {
    const canary = parse(await readFile('infra/flagger/canary.yaml', 'utf8'));
    const id = await start();
    const hook = (type: string) => canary.spec.analysis.webhooks.find((w: { type: string }) => w.type === type);
    const call = async (type: string, checksum = 'rev-7f3a') => {
      const url = new URL(hook(type).url);
      // Flagger: POST, JSON, the CanaryWebhookPayload; the key is added in front of Switchyard.
      const res = await fetch(`${sys.url}${url.pathname.replace(/rol_[0-9a-z]{26}/, id)}`, {
        method: 'POST', headers: { 'Content-Type': 'application/json', Authorization: `Bearer ${key}` },
        body: JSON.stringify({ name: canary.metadata.name, namespace: canary.metadata.namespace, phase: 'Progressing', checksum, metadata: {} }),
      });
      return res.status;
    };
    const passes = (s: number) => s <= 202; // Flagger: StatusCode > 202 is a failure
    expect(passes(await call('rollout'))).toBe(true);
    expect(passes(await call('confirm-traffic-increase'))).toBe(false);
    expect(passes(await call('confirm-promotion'))).toBe(false);
    expect(passes(await call('rollback'))).toBe(false); // inverted: no rollback
    expect(await call('rollout', 'another-revision')).toBe(409);
    const stop = feed(id, { canaryErrorRate: 0.3 });
    try {
      await waitFor(async () => (await rolloutOf(id)).status === 'rolled_back', 30_000, 'rolled back');
    } finally {
      await stop();
    }
    expect(passes(await call('rollback'))).toBe(true); // roll back now
    expect(passes(await call('rollout'))).toBe(false);
  }, 60_000);
});
