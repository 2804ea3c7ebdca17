import { describe, expect, it } from 'vitest';
import { createPrometheus } from './prometheus.ts';
import { parseExposition, valueOf } from '../../test/helpers/prometheus.ts';

describe('the event metrics exposition', () => {
  it('renders cumulative buckets, sums and counts, escapes label values, and shows unlabelled metrics at 0', async () => {
    const p = createPrometheus({ defaultLabels: { instance_role: 'api' } });
    for (const v of [0.003, 0.005, 0.3, 40, Number.NaN]) p.metrics.observe('db_query_duration_seconds', { operation: 'select' }, v);
    p.metrics.inc('http_requests_total', { method: 'GET', route: '/a"b\\c\nd', status_code: '200' }, 2);
    p.metrics.add('http_requests_in_flight', {}, 3);
    p.metrics.add('http_requests_in_flight', {}, -1);
    const text = await p.render();
    const series = parseExposition(text);
    const bucket = (le: string) => valueOf(series, 'db_query_duration_seconds_bucket', { operation: 'select', le });
    expect([bucket('0.005'), bucket('0.25'), bucket('0.5'), bucket('30'), bucket('+Inf')]).toEqual([2, 2, 3, 3, 4]);
    expect(valueOf(series, 'db_query_duration_seconds_count', { operation: 'select' })).toBe(4);
    expect(valueOf(series, 'db_query_duration_seconds_sum', { operation: 'select' })).toBeCloseTo(40.308, 9);
    expect(valueOf(series, 'http_requests_total', { route: '/a"b\\c\nd', instance_role: 'api' })).toBe(2);
    expect(text).toContain('route="/a\\"b\\\\c\\nd"');
    expect(valueOf(series, 'http_requests_in_flight', { instance_role: 'api' })).toBe(2);
    expect(text).toMatch(/^realtime_publish_lag_seconds_count\{instance_role="api"\} 0$/m);
    // Each metric is described once, whichever part (prom-client's or ours) renders it.
    const types = [...text.matchAll(/^# TYPE (\S+)/gm)].map((m) => m[1]);
    expect(new Set(types).size).toBe(types.length);
    expect(types).toContain('process_cpu_seconds_total');
  });
});
