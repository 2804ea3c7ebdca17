/**
 * /metrics: never public by accident, every figure moved by the event it counts (known traffic in,
 * exact deltas out), labels bounded, and an exposition promtool accepts.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { execFile } from 'node:child_process';
import { request } from 'node:http';
import { startTestSystem, waitFor, type TestSystem } from './helpers/system.ts';
import { debianTool, parseExposition, valueOf, type Series } from './helpers/prometheus.ts';

const TOKEN = 'scrape-token-0123456789abcdef';

let sys: TestSystem;
let plain: TestSystem;
beforeAll(async () => {
  [sys, plain] = await Promise.all([
    startTestSystem({ SWITCHYARD_METRICS_TOKEN: TOKEN, METRICS_PORT: '0', DATABASE_POOL_MAX: '7' }),
    startTestSystem(),
  ]);
});
afterAll(async () => {
  await Promise.all([sys?.stop(), plain?.stop()]);
});

async function scrape(): Promise<{ text: string; series: Series[] }> {
  const res = await fetch(`${sys.url}/metrics`, { headers: { authorization: `Bearer ${TOKEN}` } });
  expect(res.status).toBe(200);
  expect(res.headers.get('content-type')).toMatch(/^text\/plain; version=0\.0\.4/);
  const text = await res.text();
  return { text, series: parseExposition(text) };
}

describe('GET /metrics', () => {
  it('exists only where a token or a metrics port is configured, and wants the token on the API', async () => {
    expect((await fetch(`${plain.url}/metrics`)).status).toBe(404);
    const none = await fetch(`${sys.url}/metrics`);
    expect(none.status).toBe(401);
    expect(none.headers.get('content-type')).toBe('application/problem+json');
    expect(none.headers.get('www-authenticate')).toMatch(/^Bearer/);
    expect((await fetch(`${sys.url}/metrics`, { headers: { authorization: `Bearer ${TOKEN}x` } })).status).toBe(401);
    expect((await fetch(`${sys.url}/metrics`, { headers: { authorization: `Bearer ${TOKEN}` } })).status).toBe(200);
    // The metrics port serves the same text without a token, and nothing else.
    expect(sys.metricsUrl).toMatch(/^http:\/\/127\.0\.0\.1:\d+\/metrics$/);
    const side = await fetch(sys.metricsUrl!);
    expect(side.status).toBe(200);
    expect(await side.text()).toContain('# TYPE http_requests_total counter');
    expect((await fetch(sys.metricsUrl!.replace('/metrics', '/v1/projects'))).status).toBe(404);
  });

  it('counts known traffic exactly, by route template and status, with matching histograms', async () => {
    const before = (await scrape()).series;
    const created: string[] = [];
    for (let i = 0; i < 3; i++) {
      const r = await sys.api('POST', '/v1/projects', { body: { name: `metrics ${i}` } });
      expect(r.status).toBe(202);
      created.push(r.body.project.id);
    }
    for (const id of created.slice(0, 2)) expect((await sys.api('GET', `/v1/projects/${id}`)).status).toBe(200);
    expect((await sys.api('GET', '/v1/projects/prj_00000000000000000000000000')).status).toBe(404);
    expect((await sys.api('POST', '/v1/projects', { body: { name: '' } })).status).toBe(400);
    expect((await sys.api('GET', '/v1/projects', { key: null })).status).toBe(401);
    expect((await sys.api('GET', '/no/such/route')).status).toBe(404);

    const after = (await scrape()).series;
    const delta = (labels: Record<string, string>) => valueOf(after, 'http_requests_total', labels) - valueOf(before, 'http_requests_total', labels);
    expect(delta({ method: 'POST', route: '/v1/projects', status_code: '202' })).toBe(3);
    expect(delta({ method: 'POST', route: '/v1/projects', status_code: '400' })).toBe(1);
    expect(delta({ method: 'GET', route: '/v1/projects/:id', status_code: '200' })).toBe(2);
    expect(delta({ method: 'GET', route: '/v1/projects/:id', status_code: '404' })).toBe(1);
    expect(delta({ method: 'GET', route: '/v1/projects', status_code: '401' })).toBe(1);
    expect(delta({ method: 'GET', route: 'unmatched', status_code: '404' })).toBe(1);
    // The duration histogram saw the same requests; request sizes were recorded for the bodies.
    const histDelta = valueOf(after, 'http_request_duration_seconds_count', { method: 'POST', route: '/v1/projects', status_code: '202' })
      - valueOf(before, 'http_request_duration_seconds_count', { method: 'POST', route: '/v1/projects', status_code: '202' });
    expect(histDelta).toBe(3);
    expect(valueOf(after, 'http_request_size_bytes_count', { method: 'POST', route: '/v1/projects' })
      - valueOf(before, 'http_request_size_bytes_count', { method: 'POST', route: '/v1/projects' })).toBe(4);
    expect(valueOf(after, 'http_response_size_bytes_count', { method: 'GET', route: '/v1/projects/:id' })
      - valueOf(before, 'http_response_size_bytes_count', { method: 'GET', route: '/v1/projects/:id' })).toBe(3);
    // Bounded labels: no id and no raw path anywhere.
    for (const s of after) for (const v of Object.values(s.labels)) expect(v).not.toMatch(/prj_|ten_|\/no\/such/);
    // The one in flight is the scrape itself.
    expect(valueOf(after, 'http_requests_in_flight')).toBe(1);

    // The jobs those creates made: enqueued, picked up, stepped to done; the platform gauge follows.
    for (const id of created) await waitFor(async () => (await sys.api('GET', `/v1/projects/${id}`)).body.project.status === 'active', 20_000, 'active');
    const settled = await waitFor(async () => {
      const s = (await scrape()).series;
      const done = valueOf(s, 'job_step_duration_seconds_count', { kind: 'project.provision', outcome: 'done' }) - valueOf(before, 'job_step_duration_seconds_count', { kind: 'project.provision', outcome: 'done' });
      return done >= 3 ? s : null;
    }, 10_000, 'provision steps counted');
    const d = (name: string, labels: Record<string, string>) => valueOf(settled, name, labels) - valueOf(before, name, labels);
    expect(d('job_step_duration_seconds_count', { kind: 'project.provision', outcome: 'done' })).toBe(3);
    expect(d('job_pickup_latency_seconds_count', { kind: 'project.provision' })).toBe(3);
    expect(d('jobs_enqueued_total', { queue: 'local' })).toBeGreaterThanOrEqual(3);
    const rows = await sys.db.sql<{ plan: string; region: string; n: number }[]>`select plan, region, count(*)::int as n from projects where status = 'active' group by 1, 2`;
    for (const r of rows) expect(valueOf(settled, 'projects', { status: 'active', plan: r.plan, region: r.region })).toBe(r.n);
    expect(rows.reduce((a, r) => a + r.n, 0)).toBeGreaterThanOrEqual(3);
    const tenants = await sys.db.sql<{ plan: string; n: number }[]>`select plan, count(*)::int as n from tenants group by 1`;
    for (const t of tenants) expect(valueOf(settled, 'tenants', { plan: t.plan })).toBe(t.n);
    expect(valueOf(settled, 'jobs', { kind: 'project.provision', status: 'queued' })).toBe(0);
    expect(valueOf(settled, 'jobs_oldest_due_age_seconds', { kind: 'project.provision' })).toBe(0);
  });

  it('shows the pool as Postgres sees it, query durations by command, and errors by SQLSTATE class', async () => {
    const before = (await scrape()).series;
    await expect(sys.db.sql`select 1 / 0`).rejects.toMatchObject({ code: '22012' });
    await expect(sys.db.sql`select * from no_such_table`).rejects.toMatchObject({ code: '42P01' });
    await expect(sys.db.sql.begin(async (tx) => {
      await tx`select 1`;
      await tx`select 1 / 0`;
    })).rejects.toMatchObject({ code: '22012' });
    const after = (await scrape()).series;
    const d = (cls: string) => valueOf(after, 'db_query_errors_total', { sqlstate_class: cls }) - valueOf(before, 'db_query_errors_total', { sqlstate_class: cls });
    // Division by zero twice (once inside a transaction, counted once), an undefined table once.
    expect(d('22')).toBe(2);
    expect(d('42')).toBe(1);
    expect(valueOf(after, 'db_query_duration_seconds_count', { operation: 'select' })).toBeGreaterThan(valueOf(before, 'db_query_duration_seconds_count', { operation: 'select' }));
    expect(valueOf(after, 'db_query_duration_seconds_count', { operation: 'transaction' }) - valueOf(before, 'db_query_duration_seconds_count', { operation: 'transaction' })).toBeGreaterThanOrEqual(1);
    expect(valueOf(after, 'db_pool_size')).toBe(7);
    const open = ['active', 'idle', 'idle_in_transaction'].map((state) => valueOf(after, 'db_pool_connections', { state }));
    // The scrape's own query is running on one of them.
    expect(open[0]).toBeGreaterThanOrEqual(1);
    // The pool's 7, plus the LISTEN connections postgres.js opens beside it under the same name
    // (the realtime hub's and the runner's), which don't count against the pool.
    expect(open.reduce((a, b) => a + b, 0)).toBeLessThanOrEqual(7 + 2);
    // Each process's pool has a name of its own (the two systems here share a process).
    const names = await sys.db.sql<{ name: string }[]>`select distinct application_name as name from pg_stat_activity where application_name like 'switchyard all %'`;
    expect(names.length).toBeGreaterThanOrEqual(2);
  });

  it('counts SSE subscribers while their streams are open, and webhook verdicts', async () => {
    const req = request(`${sys.url}/v1/events?topic=tenant:${(await sys.api('GET', '/v1/me')).body.tenant.id}`, { headers: { authorization: `Bearer ${sys.adminKey}` } });
    await new Promise<void>((resolve) => {
      req.on('response', (res) => res.once('data', () => resolve()));
      req.end();
    });
    expect(valueOf((await scrape()).series, 'sse_subscribers')).toBe(1);
    req.destroy();
    await waitFor(async () => valueOf((await scrape()).series, 'sse_subscribers') === 0, 5000, 'the stream to be counted closed');

    const before = (await scrape()).series;
    const r = await fetch(`${sys.url}/v1/webhooks/render/src_00000000000000000000000000`, { method: 'POST', body: '{}', headers: { 'content-type': 'application/json' } });
    expect(r.status).toBe(404);
    const after = (await scrape()).series;
    expect(valueOf(after, 'webhook_deliveries_total', { provider: 'render', verdict: 'unknown_source' })
      - valueOf(before, 'webhook_deliveries_total', { provider: 'render', verdict: 'unknown_source' })).toBe(1);
  });

  it('is an exposition promtool accepts', async () => {
    const { text } = await scrape();
    const promtool = debianTool('promtool');
    const child = execFile(promtool, ['check', 'metrics']);
    const result = new Promise<{ code: number; out: string }>((resolve) => {
      let out = '';
      child.stdout!.on('data', (d) => (out += d));
      child.stderr!.on('data', (d) => (out += d));
      child.on('exit', (code) => resolve({ code: code ?? -1, out }));
    });
    child.stdin!.end(text);
    const { code, out } = await result;
    expect(out).toBe('');
    expect(code).toBe(0);
  });
});
