/**
 * Traces through the queue: a request's traceparent is continued by its span, the job it creates
 * stores the trace, and the job's step and its provider call are spans of the same trace, each
 * parented by the one before. Exported as OTLP/HTTP JSON by the OpenTelemetry SDK to a contract
 * fake of a collector. The trace id is in the request's log lines, the job's, and its problems.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startOtlpCollector, type CollectedSpan } from './fakes/otlp-collector.ts';
import { startTestSystem, waitFor, type TestSystem } from './helpers/system.ts';
import { createLogger } from '../core/log.ts';

const hex = (n: number) => Array.from(crypto.getRandomValues(new Uint8Array(n / 2)), (b) => b.toString(16).padStart(2, '0')).join('');

let collector: Awaited<ReturnType<typeof startOtlpCollector>>;
let sys: TestSystem;
const lines: Array<Record<string, unknown>> = [];
beforeAll(async () => {
  collector = await startOtlpCollector();
  sys = await startTestSystem({ OTEL_EXPORTER_OTLP_ENDPOINT: collector.url, OTEL_SERVICE_NAME: 'switchyard-test' }, {
    log: createLogger('debug', {}, (line) => lines.push(JSON.parse(line))),
  });
});
afterAll(async () => {
  await sys?.stop();
  await collector?.close();
});

describe('traces', () => {
  it('continue a request into its job, the job\'s step and the provider call, parented in order', async () => {
    const traceId = hex(32);
    const callerSpan = hex(16);
    const res = await sys.api('POST', '/v1/projects', { body: { name: 'traced' }, headers: { traceparent: `00-${traceId}-${callerSpan}-01` } });
    expect(res.status).toBe(202);
    const id = res.body.project.id as string;
    await waitFor(async () => (await sys.api('GET', `/v1/projects/${id}`)).body.project.status === 'active', 20_000, 'active');
    // The job row carries the trace.
    const [job] = await sys.db.sql<{ traceparent: string | null }[]>`select traceparent from jobs where subject_id = ${id}`;
    expect(job!.traceparent).toMatch(new RegExp(`^00-${traceId}-[0-9a-f]{16}-01$`));

    const spans = await waitFor(async () => {
      await sys.flushTraces();
      const mine = collector.spans.filter((s) => s.traceId === traceId);
      return mine.some((s) => s.name === 'provider.project.provision') && mine.some((s) => s.name === 'job project.provision') ? mine : null;
    }, 10_000, 'the spans to be exported');
    const one = (name: string): CollectedSpan => {
      const hits = spans.filter((s) => s.name === name);
      expect(hits, name).toHaveLength(1);
      return hits[0]!;
    };
    const server = one('POST /v1/projects');
    const step = one('job project.provision');
    const provider = one('provider.project.provision');
    expect(server.parentSpanId).toBe(callerSpan);
    expect(server.kind).toBe(2); // SERVER
    expect(server.attributes['http.route']).toBe('/v1/projects');
    expect(server.attributes['http.response.status_code']).toBe(202);
    expect(step.parentSpanId).toBe(server.spanId);
    expect(step.kind).toBe(5); // CONSUMER
    expect(step.attributes['switchyard.job.outcome']).toBe('succeeded');
    expect(provider.parentSpanId).toBe(step.spanId);
    expect(provider.kind).toBe(3); // CLIENT
    expect(job!.traceparent!.slice(36, 52)).toBe(server.spanId);
    expect(server.service).toBe('switchyard-test');

    // The trace id is in the request's access log line and in the job's log lines.
    expect(lines.some((l) => l.msg === 'request' && l.path === '/v1/projects' && l.trace_id === traceId)).toBe(true);
    expect(lines.some((l) => l.msg === 'job succeeded' && l.job_id && l.trace_id === traceId)).toBe(true);
  });

  it('puts the trace id in problem documents, and starts a trace for a missing or malformed traceparent', async () => {
    const traceId = hex(32);
    const res = await sys.api('GET', '/v1/projects/prj_00000000000000000000000000', { headers: { traceparent: `00-${traceId}-${hex(16)}-01` } });
    expect(res.status).toBe(404);
    expect(res.body.trace_id).toBe(traceId);
    for (const bad of [undefined, 'garbage', `00-${'0'.repeat(32)}-${hex(16)}-01`, `ff-${hex(32)}-${hex(16)}-01`]) {
      const r = await sys.api('GET', '/v1/projects/prj_00000000000000000000000000', { headers: bad ? { traceparent: bad } : {} });
      expect(r.body.trace_id).toMatch(/^[0-9a-f]{32}$/);
      expect(r.body.trace_id).not.toBe('0'.repeat(32));
    }
  });
});
