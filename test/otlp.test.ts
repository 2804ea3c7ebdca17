/**
 * OTLP/HTTP metrics as canary telemetry, with the real OpenTelemetry JS SDK exporting to the real
 * server (cumulative temporality, the SDK's default): the rollout is judged from what the SDK
 * recorded, every request counted exactly once; repeats, protobuf and unknown services refused
 * or ignored as the contract says.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { metrics } from '@opentelemetry/api';
import { OTLPMetricExporter } from '@opentelemetry/exporter-metrics-otlp-http';
import { resourceFromAttributes } from '@opentelemetry/resources';
import { AggregationTemporality, MeterProvider, PeriodicExportingMetricReader } from '@opentelemetry/sdk-metrics';
import { createTenant, startTestSystem, waitFor, type Api, type TestSystem } from './helpers/system.ts';

let sys: TestSystem;
let api: Api;
let key: string;
let projectId: string;

const POLICY = `
interval: 1s
window: 4s
min_requests: 40
steps:
  - {weight: 20, min_duration: 2s}
  - {weight: 100}
metrics:
  - {name: errors, kind: error_rate, max_increase: 10%, slack: 1%, on_breach: rollback}
  - {name: p95, kind: latency_quantile, q: 0.95, max: 300ms, on_breach: pause}
`;

beforeAll(async () => {
  sys = await startTestSystem({ SWITCHYARD_POLL_INTERVAL_MS: '100', LOG_LEVEL: 'error' });
  ({ api, key } = await createTenant(sys, 'otel'));
  projectId = (await api('POST', '/v1/projects', { body: { name: 'otel target' } })).body.project.id;
  expect((await api('POST', '/v1/canary-policies', { body: { name: 'otel', yaml: POLICY } })).status).toBe(201);
});
afterAll(async () => {
  metrics.disable();
  await sys?.stop();
});

const startRollout = async (service: string) => {
  const res = await api('POST', '/v1/rollouts', { body: { project: projectId, service, baseline: { version: '1.4.0' }, canary: { version: '1.5.0' }, policy: 'otel' } });
  expect(res.status, JSON.stringify(res.body)).toBe(202);
  return res.body.rollout.id as string;
};

/** A service version instrumented as an app would be: the SDK, a periodic reader, the OTLP/HTTP exporter. */
function instrumented(service: string, version: string, temporality?: AggregationTemporality) {
  const exporter = new OTLPMetricExporter({
    url: `${sys.url}/v1/otlp/v1/metrics`,
    headers: { Authorization: `Bearer ${key}` },
    ...(temporality !== undefined ? { temporalityPreference: temporality } : {}),
  });
  const provider = new MeterProvider({
    resource: resourceFromAttributes({ 'service.name': service, 'service.version': version }),
    readers: [new PeriodicExportingMetricReader({ exporter, exportIntervalMillis: 300 })],
  });
  const histogram = provider.getMeter('http').createHistogram('http.server.request.duration', {
    unit: 's', advice: { explicitBucketBoundaries: [0.025, 0.05, 0.1, 0.25, 0.5, 1] },
  });
  let requests = 0;
  let errors = 0;
  return {
    record(n: number, opts: { errorEvery?: number; seconds: number }) {
      for (let i = 0; i < n; i++) {
        requests++;
        const failed = opts.errorEvery !== undefined && requests % opts.errorEvery === 0;
        if (failed) errors++;
        histogram.record(opts.seconds, { 'http.request.method': 'GET', 'http.route': '/cart', 'http.response.status_code': failed ? 503 : 200 });
      }
    },
    totals: () => ({ requests, errors }),
    flush: () => provider.forceFlush(),
    shutdown: () => provider.shutdown(),
  };
}

const stored = async (rolloutId: string, track: string) => {
  const [row] = await sys.db.sql<{ requests: number; errors: number }[]>`
    select coalesce(sum(requests), 0)::int as requests, coalesce(sum(errors), 0)::int as errors from rollout_points where rollout_id = ${rolloutId} and track = ${track}`;
  return row!;
};

describe('OTLP/HTTP metrics from the OpenTelemetry SDK', () => {
  it('judges a rollout from the SDK\'s cumulative histograms, counting every request exactly once', async () => {
    const id = await startRollout('cart');
    const baseline = instrumented('cart', '1.4.0');
    const canary = instrumented('cart', '1.5.0');
    // While the rollout is live: every recorded request and error stored once (cumulative totals
    // differenced per series), and a flush with nothing new (the same totals again) adds nothing.
    for (let k = 0; k < 3; k++) {
      baseline.record(40, { errorEvery: 50, seconds: 0.04 });
      canary.record(12, { errorEvery: 30, seconds: 0.045 });
      await Promise.all([baseline.flush(), canary.flush()]);
    }
    expect(await stored(id, 'baseline')).toEqual(baseline.totals());
    expect(await stored(id, 'canary')).toEqual(canary.totals());
    await Promise.all([baseline.flush(), canary.flush()]);
    expect(await stored(id, 'canary')).toEqual(canary.totals());
    expect((await api('GET', `/v1/rollouts/${id}`)).body.rollout.status).not.toBe('promoted');
    let finished = false;
    const traffic = (async () => {
      while (!finished) {
        baseline.record(40, { errorEvery: 50, seconds: 0.04 });
        canary.record(12, { errorEvery: 60, seconds: 0.045 });
        await new Promise((r) => setTimeout(r, 200));
      }
    })();
    try {
      await waitFor(async () => ((await api('GET', `/v1/rollouts/${id}`)).body.rollout.status === 'promoted' ? true : null), 30_000, 'promoted from OTLP telemetry');
    } finally {
      finished = true;
      await traffic;
    }
    // Once promoted, the rollout takes no more telemetry: what the SDK sends after is refused.
    const before = await stored(id, 'canary');
    canary.record(100, { seconds: 0.01 });
    await canary.flush().catch(() => {});
    expect(await stored(id, 'canary')).toEqual(before);
    const ds = (await api('GET', `/v1/rollouts/${id}/decisions?limit=100`)).body.data as any[];
    const promote = ds.find((d) => d.verdict === 'promote');
    // Latency came through as histograms in milliseconds.
    const [r] = await sys.db.sql`select latency_boundaries::text as b from rollouts where id = ${id}`;
    expect(r!.b).toBe('{25,50,100,250,500,1000}');
    expect(JSON.stringify(promote.explanation)).toContain('p95');
    await Promise.all([baseline.shutdown(), canary.shutdown()]);
  }, 60_000);

  it('takes delta temporality too, and ignores a repeated export', async () => {
    const id = await startRollout('search');
    const canary = instrumented('search', '1.5.0', AggregationTemporality.DELTA);
    canary.record(30, { errorEvery: 10, seconds: 0.02 });
    await canary.flush();
    canary.record(20, { seconds: 0.02 });
    await canary.flush();
    await waitFor(async () => ((await stored(id, 'canary')).requests === 50 ? true : null), 5000, 'delta points stored');
    expect(await stored(id, 'canary')).toEqual({ requests: 50, errors: 3 });
    await canary.shutdown();

    // The same export twice (a retried request): the second counts nothing.
    const now = BigInt(Date.now()) * 1_000_000n;
    const body = JSON.stringify({ resourceMetrics: [{
      resource: { attributes: [{ key: 'service.name', value: { stringValue: 'search' } }, { key: 'service.version', value: { stringValue: '1.4.0' } }] },
      scopeMetrics: [{ scope: { name: 'http' }, metrics: [{ name: 'http.server.request.duration', unit: 's', histogram: { aggregationTemporality: 1, dataPoints: [
        { attributes: [{ key: 'http.response.status_code', value: { intValue: 200 } }], startTimeUnixNano: String(now - 1_000_000_000n), timeUnixNano: String(now), count: '7', bucketCounts: ['7', '0', '0', '0', '0', '0', '0'], explicitBounds: [0.025, 0.05, 0.1, 0.25, 0.5, 1] },
      ] } }] }],
    }] });
    for (let i = 0; i < 2; i++) {
      const res = await api('POST', '/v1/otlp/v1/metrics', { raw: body });
      expect(res.status).toBe(200);
      expect(res.body).toEqual({});
    }
    expect(await stored(id, 'baseline')).toEqual({ requests: 7, errors: 0 });
    await api('POST', `/v1/rollouts/${id}/abort`);
  });

  it('refuses protobuf with the setting to change, and names a service with no live rollout', async () => {
    const proto = await api('POST', '/v1/otlp/v1/metrics', { raw: '\x0a\x00', headers: { 'Content-Type': 'application/x-protobuf' } });
    expect(proto.status).toBe(415);
    expect(proto.headers.get('content-type')).toContain('application/problem+json');
    expect(proto.body.detail).toContain('OTEL_EXPORTER_OTLP_METRICS_PROTOCOL=http/json');
    const stranger = instrumented('billing', '9.9.9');
    stranger.record(5, { seconds: 0.01 });
    // The SDK's export fails (a 422 is not retryable); the problem says why.
    await stranger.flush().catch(() => {});
    await stranger.shutdown().catch(() => {});
    const body = { resourceMetrics: [{ resource: { attributes: [{ key: 'service.name', value: { stringValue: 'billing' } }, { key: 'service.version', value: { stringValue: '9.9.9' } }] },
      scopeMetrics: [{ metrics: [{ name: 'http.server.request.duration', histogram: { aggregationTemporality: 1, dataPoints: [{ timeUnixNano: String(Date.now() * 1e6), count: '1' }] } }] }] }] };
    const res = await api('POST', '/v1/otlp/v1/metrics', { body });
    expect(res.status).toBe(422);
    expect(res.body.detail).toContain('service billing version 9.9.9');
    expect(await sys.db.sql`select 1 from rollout_otlp_series s join rollouts r on r.id = s.rollout_id where r.service = 'billing'`).toHaveLength(0);
  });
});
