/**
 * Alerts end to end: a rule over a project's events fires once when its threshold is crossed —
 * one `alert` event, one realtime `log` event on project:<id>, one notification signed with
 * Standard Webhooks (verified here with the reference library), retried by the queue under the
 * same webhook-id after a failure — and not again while it cools down, even with evaluations
 * racing. Channel URLs that point inside the network are refused.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createServer, type Server } from 'node:http';
import { Webhook } from 'standardwebhooks';
import { insertEvents } from '../db/events.repo.ts';
import { insertJobs } from '../db/jobs.repo.ts';
import { newId } from '../core/ids.ts';
import { openSse } from './helpers/sse.ts';
import { createTenant, one, startTestSystem, waitFor, type TestSystem } from './helpers/system.ts';

let sys: TestSystem;
let receiver: Server;
let receiverUrl: string;
const received: { headers: Record<string, string>; body: string; status: number }[] = [];
let failNext = 0;

beforeAll(async () => {
  receiver = createServer((req, res) => {
    let body = '';
    req.on('data', (d) => (body += d));
    req.on('end', () => {
      const status = failNext-- > 0 ? 503 : 204;
      received.push({ headers: req.headers as Record<string, string>, body, status });
      res.writeHead(status).end();
    });
  });
  await new Promise<void>((r) => receiver.listen(0, '127.0.0.1', r));
  receiverUrl = `http://127.0.0.1:${(receiver.address() as { port: number }).port}/hooks/alerts`;
  sys = await startTestSystem({ SWITCHYARD_ALERT_ALLOW_PRIVATE_URLS: 'true', SWITCHYARD_ALERT_EVAL_INTERVAL_S: '1' });
});
afterAll(async () => {
  await sys?.stop();
  receiver?.closeAllConnections();
  await new Promise((r) => receiver?.close(r));
});

async function projectWithSource(name: string) {
  const tenant = await createTenant(sys, name);
  const project = (await tenant.api('POST', '/v1/projects', { body: { name } })).body.project.id as string;
  const source = (await tenant.api('POST', `/v1/projects/${project}/log-sources`, {
    body: { provider: 'sentry', config: { organization: 'acme', project: 'web' }, credentials: { webhook_secret: 'client-secret-123' } },
  })).body.log_source.id as string;
  return { ...tenant, project, source };
}

function errors(t: { tenantId: string; project: string; source: string }, n: number, message = 'TypeError: x is undefined') {
  return insertEvents(sys.db.sql, Array.from({ length: n }, (_, i) => ({
    ts: new Date(Date.now() - i * 100).toISOString(), tenantId: t.tenantId, projectId: t.project, sourceId: t.source, provider: 'sentry',
    service: 'web', environment: 'production', level: 'error' as const, kind: 'error' as const, message, fingerprint: null, attrs: {},
    sourceEventId: newId('evt'),
  })));
}

describe('alerts', () => {
  it('fires once past the threshold: an alert event, a realtime log event, one signed notification retried under one id', async () => {
    const t = await projectWithSource('alerting');
    const created = await t.api('POST', '/v1/alert-rules', {
      body: { project: t.project, name: 'TypeErrors', filter: { level: 'error', q: 'TypeError' }, threshold: 5, window: '5m', cooldown: '1h', channel: { type: 'webhook', url: receiverUrl } },
    });
    expect(created.status, JSON.stringify(created.body)).toBe(201);
    const rule = created.body.alert_rule;
    const secret = created.body.signing_secret as string;
    expect(secret).toMatch(/^whsec_/);
    expect(rule).toMatchObject({ window_s: 300, cooldown_s: 3600, channel: { type: 'webhook', host: new URL(receiverUrl).host } });
    expect(JSON.stringify((await t.api('GET', `/v1/alert-rules/${rule.id}`)).body)).not.toContain(secret);
    expect(JSON.stringify((await t.api('GET', `/v1/alert-rules/${rule.id}`)).body)).not.toContain('/hooks/alerts');

    const token = (await t.api('POST', '/v1/events/token', { body: { topics: [`project:${t.project}`] } })).body.token;
    const stream = openSse(`${sys.url}/v1/events?topic=project:${t.project}&token=${token}`);
    await stream.ready;

    // Below the threshold (and a non-matching error): evaluations run, nothing fires.
    await errors(t, 4);
    await errors(t, 3, 'ReferenceError: y');
    await waitFor(async () => (await one(sys.db.sql`select count(*)::int as n from jobs where subject_id = ${rule.id} and status = 'succeeded'`)).n >= 2, 15_000, 'two evaluations');
    expect((await t.api('GET', `/v1/alert-rules/${rule.id}`)).body.alert_rule.firings).toBe(0);

    failNext = 1; // the receiver's first answer is a 503: the queue retries
    await errors(t, 2);
    const log = await stream.waitFor((e) => e.event === 'log', 15_000);
    expect(log.data.alert).toMatchObject({ rule_id: rule.id, firing: 1, count: 6, threshold: 5 });

    await waitFor(async () => received.some((r) => r.status === 204), 15_000, 'the notification to be delivered');
    // Several more evaluations inside the cooldown: no second firing.
    const evals = (await one(sys.db.sql`select count(*)::int as n from jobs where kind = 'alerts.evaluate' and subject_id = ${rule.id}`)).n;
    await waitFor(async () => (await one(sys.db.sql`select count(*)::int as n from jobs where kind = 'alerts.evaluate' and subject_id = ${rule.id} and status = 'succeeded'`)).n >= evals + 3, 15_000, 'three more evaluations');

    expect(received.map((r) => r.status)).toEqual([503, 204]);
    expect(received[0]!.headers['webhook-id']).toBe(received[1]!.headers['webhook-id']);
    const payload = new Webhook(secret).verify(received[1]!.body, received[1]!.headers) as any;
    expect(payload).toMatchObject({ type: 'alert.fired', data: { rule_id: rule.id, project_id: t.project, count: 6, firing: 1 } });
    const alerts = await t.api('GET', `/v1/logs?project=${t.project}&kind=alert&level=error`);
    expect(alerts.body.data).toHaveLength(1);
    expect(alerts.body.data[0]).toMatchObject({ provider: 'switchyard', level: 'error', kind: 'alert' });
    // The failed first attempt is on record, and the rule says its channel works again.
    const warned = await t.api('GET', `/v1/logs?project=${t.project}&kind=alert&level=warn`);
    expect(warned.body.data).toHaveLength(1);
    expect(warned.body.data[0].message).toMatch(/notification to .* failed \(attempt 1, 1 failures in a row\): .*503/);
    const after = (await t.api('GET', `/v1/alert-rules/${rule.id}`)).body.alert_rule;
    expect(after.firings).toBe(1);
    expect(after.channel).toMatchObject({ healthy: true, consecutive_failures: 0, last_error: expect.stringMatching(/503/) });
    expect(Date.parse(after.channel.last_success_at)).toBeGreaterThan(Date.parse(after.channel.last_failure_at));
    expect(stream.events.filter((e) => e.event === 'log')).toHaveLength(1);
    stream.close();
    await t.api('DELETE', `/v1/alert-rules/${rule.id}`);
  });

  it('fires once when many evaluations race past the threshold', async () => {
    const t = await projectWithSource('racing');
    const before = received.length;
    const rule = (await t.api('POST', '/v1/alert-rules', {
      body: { project: t.project, name: 'Any error', threshold: 1, window: '1m', channel: { type: 'webhook', url: receiverUrl } },
    })).body.alert_rule;
    await errors(t, 3);
    // Eight evaluations with no concurrency key, so they really run at once on the runner.
    const jobs = Array.from({ length: 8 }, () => ({
      id: newId('job'), tenantId: t.tenantId, kind: 'alerts.evaluate', subjectType: 'alert_rule', subjectId: rule.id,
      payload: { rule_id: rule.id }, maxAttempts: 3,
    }));
    await insertJobs(sys.db.sql, jobs);
    await sys.runnerDeps.queue.dispatch(jobs.map((j) => ({ id: j.id, tenantId: j.tenantId, runAt: '', steps: 0, attempts: 0 })));
    await waitFor(async () => (await one(sys.db.sql`select count(*)::int as n from jobs where id = any(${jobs.map((j) => j.id)}) and status = 'succeeded'`)).n === 8, 20_000, 'the racing evaluations');
    await waitFor(async () => received.length > before, 15_000, 'a notification');
    await new Promise((r) => setTimeout(r, 1500));
    expect((await t.api('GET', `/v1/alert-rules/${rule.id}`)).body.alert_rule.firings).toBe(1);
    expect(received.length - before).toBe(1);
    expect((await t.api('GET', `/v1/logs?project=${t.project}&kind=alert`)).body.data).toHaveLength(1);
  });

  it('refuses bad rules with field errors, and hides rules across tenants', async () => {
    const t = await projectWithSource('alert-refusals');
    const bad = await t.api('POST', '/v1/alert-rules', {
      body: { project: t.project, name: 'x', threshold: 0, window: '5 minutes', channel: { type: 'pager', url: 'nope' } },
    });
    expect(bad.status).toBe(400);
    expect(bad.body.errors.map((e: any) => e.field).sort()).toEqual(['channel.type', 'threshold', 'window']);
    const fields = async (body: Record<string, unknown>) => {
      const r = await t.api('POST', '/v1/alert-rules', { body: { project: t.project, name: 'x', window: '1m', ...body } });
      expect(r.status).toBe(400);
      return r.body.errors.map((e: any) => e.field).sort();
    };
    expect(await fields({ threshold: 1, channel: { type: 'webhook', url: 'nope' } })).toEqual(['channel.url']);
    expect(await fields({ threshold: 1, channel: { type: 'pagerduty', routing_key: 'short' } })).toEqual(['channel.routing_key']);
    expect(await fields({ channel: { type: 'webhook', url: receiverUrl } })).toEqual(['threshold']);
    expect(await fields({ threshold: 1, metric: { name: 'connections', above: 5 }, channel: { type: 'webhook', url: receiverUrl } })).toEqual(['metric']);
    expect(await fields({ metric: { name: 'connections', above: 5, below: 1 }, channel: { type: 'webhook', url: receiverUrl } })).toEqual(['metric']);
    expect(await fields({ metric: { name: 'heap', above: 5 }, channel: { type: 'webhook', url: receiverUrl } })).toEqual(['metric.name']);
    expect(await fields({ metric: { name: 'connections', above: 5 }, filter: { level: 'error' }, channel: { type: 'webhook', url: receiverUrl } })).toEqual(['filter']);
    expect((await t.api('GET', `/v1/alert-rules?project=${t.project}`)).body.data).toEqual([]);
    const other = await createTenant(sys, 'alert-intruder');
    const foreign = await other.api('POST', '/v1/alert-rules', {
      body: { project: t.project, name: 'x', threshold: 1, window: '1m', channel: { type: 'webhook', url: receiverUrl } },
    });
    expect(foreign.status).toBe(404);
    const mine = (await t.api('POST', '/v1/alert-rules', {
      body: { project: t.project, name: 'x', threshold: 100, window: '1m', channel: { type: 'slack', url: receiverUrl } },
    })).body.alert_rule;
    expect((await other.api('GET', `/v1/alert-rules/${mine.id}`)).status).toBe(404);
    expect((await other.api('DELETE', `/v1/alert-rules/${mine.id}`)).status).toBe(404);
    expect((await other.api('GET', '/v1/alert-rules')).body.data).toEqual([]);
  });
});

describe('alert channels in production mode', () => {
  let strict: TestSystem;
  beforeAll(async () => {
    strict = await startTestSystem({ SWITCHYARD_ALERT_EVAL_INTERVAL_S: '1' });
  });
  afterAll(async () => {
    await strict?.stop();
  });

  it('refuses loopback, private and plain-http URLs', async () => {
    const t = await createTenant(strict, 'strict');
    const project = (await t.api('POST', '/v1/projects', { body: { name: 'strict' } })).body.project.id;
    for (const url of [receiverUrl, 'https://127.0.0.1/x', 'https://10.0.0.8/x', 'https://[::1]/x', 'https://localhost/x', 'https://169.254.169.254/latest']) {
      const res = await t.api('POST', '/v1/alert-rules', { body: { project, name: 'x', threshold: 1, window: '1m', channel: { type: 'webhook', url } } });
      expect(res.status, url).toBe(400);
      expect(res.body.errors[0].field).toBe('channel.url');
    }
    expect(await one(strict.db.sql`select count(*)::int as n from alert_rules`)).toEqual({ n: 0 });
  });
});

describe('a channel that keeps failing', () => {
  let fast: TestSystem;
  beforeAll(async () => {
    fast = await startTestSystem({ SWITCHYARD_ALERT_ALLOW_PRIVATE_URLS: 'true', SWITCHYARD_ALERT_EVAL_INTERVAL_S: '3600', SWITCHYARD_RETRY_BASE_MS: '20', SWITCHYARD_RETRY_MAX_MS: '100' });
  });
  afterAll(async () => {
    await fast?.stop();
  });

  it('is marked broken on its rule, with each failure and the abandonment in the monitoring store', async () => {
    const t = await createTenant(fast, 'broken-channel');
    const project = (await t.api('POST', '/v1/projects', { body: { name: 'broken' } })).body.project.id as string;
    const source = (await t.api('POST', `/v1/projects/${project}/log-sources`, {
      body: { provider: 'sentry', config: { organization: 'acme', project: 'web' }, credentials: { webhook_secret: 'client-secret-123' } },
    })).body.log_source.id as string;
    failNext = 1_000; // every answer is a 503
    const before = received.length;
    const rule = (await t.api('POST', '/v1/alert-rules', {
      body: { project, name: 'Anything', threshold: 1, window: '1h', channel: { type: 'webhook', url: receiverUrl } },
    })).body.alert_rule;
    await insertEvents(fast.db.sql, [{
      ts: new Date().toISOString(), tenantId: t.tenantId, projectId: project, sourceId: source, provider: 'sentry', service: 'web',
      environment: null, level: 'error', kind: 'error', message: 'boom', fingerprint: null, attrs: {}, sourceEventId: newId('evt'),
    }]);
    const dead = await waitFor(async () => {
      const [job] = await fast.db.sql`select status, attempts from jobs where kind = 'alerts.notify' and subject_id = ${rule.id}`;
      return job?.status === 'dead' ? job : null;
    }, 30_000, 'the notification job to die');
    failNext = 0;
    expect(dead.attempts).toBe(8);
    expect(received.length - before).toBe(8);
    const broken = (await t.api('GET', `/v1/alert-rules/${rule.id}`)).body.alert_rule;
    expect(broken.firings).toBe(1);
    expect(broken.channel).toMatchObject({ healthy: false, consecutive_failures: 8, last_error: expect.stringMatching(/HTTP 503/), last_success_at: null });
    const listed = (await t.api('GET', '/v1/alert-rules')).body.data.find((r: { id: string }) => r.id === rule.id);
    expect(listed.channel.healthy).toBe(false);
    const warn = await t.api('GET', `/v1/logs?project=${project}&kind=alert&level=warn&limit=50`);
    expect(warn.body.data).toHaveLength(8);
    const abandoned = (await t.api('GET', `/v1/logs?project=${project}&kind=alert&level=error&q=abandoned`)).body.data;
    expect(abandoned).toHaveLength(1);
    expect(abandoned[0].message).toMatch(/abandoned after 8 attempts/);
  });
});
