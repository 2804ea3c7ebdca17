/**
 * OpenTelemetry metrics (OTLP/HTTP, JSON encoding) read as canary telemetry. Pure: parsing and
 * the arithmetic of temporality; storage is db/rollouts.repo.ts.
 *
 * What is read: the stable HTTP server histogram `http.server.request.duration` (unit `s`; `ms`
 * is accepted too), one series per attribute set, its `http.response.status_code` attribute (5xx
 * is an error), on resources whose `service.name` and `service.version` name a live rollout's
 * service and one of its two versions. Everything else in an export is ignored, as OTLP
 * receivers must ignore what they don't use.
 *
 * Temporality. A DELTA point is the requests since the previous point. A CUMULATIVE point (the
 * JS, Java and Go SDKs' default) is the total since the series' start time, so the count of a
 * window is the difference between two points of the same series: the stored state per series
 * is the last total seen. A new start time is a new series (the process restarted). The first
 * point of a cumulative series only sets the baseline unless the series started after the
 * rollout was created (then all of it is the rollout's traffic). A point not newer than the
 * series' last one is a repeat or arrived out of order, and counts nothing: a retried export
 * can't count twice.
 */
import { z } from 'zod';

export const DURATION_METRIC = 'http.server.request.duration';

const AnyValue = z.looseObject({
  stringValue: z.string().optional(),
  intValue: z.union([z.string(), z.number()]).optional(),
  doubleValue: z.number().optional(),
  boolValue: z.boolean().optional(),
});
const KeyValue = z.looseObject({ key: z.string(), value: AnyValue.optional() });
/** int64 fields arrive as decimal strings (JSON encoding) or numbers. */
const Int64 = z.union([z.string().regex(/^\d{1,20}$/), z.number().int().nonnegative()]);

const HistogramPoint = z.looseObject({
  attributes: z.array(KeyValue).optional(),
  startTimeUnixNano: Int64.optional(),
  timeUnixNano: Int64,
  count: Int64.optional(),
  bucketCounts: z.array(Int64).optional(),
  explicitBounds: z.array(z.number()).optional(),
});

const Metric = z.looseObject({
  name: z.string(),
  unit: z.string().optional(),
  histogram: z.looseObject({
    dataPoints: z.array(HistogramPoint).optional(),
    aggregationTemporality: z.union([z.number().int(), z.string()]).optional(),
  }).optional(),
});

export const ExportMetricsRequest = z.looseObject({
  resourceMetrics: z.array(z.looseObject({
    resource: z.looseObject({ attributes: z.array(KeyValue).optional() }).optional(),
    scopeMetrics: z.array(z.looseObject({ metrics: z.array(Metric).optional() })).optional(),
  })).optional(),
});
export type ExportMetricsRequest = z.infer<typeof ExportMetricsRequest>;

/** One data point of the duration histogram, as this module reads it. */
export interface OtlpPoint {
  service: string;
  version: string;
  /** Identifies the series: resource and point attributes, start time and temporality. */
  series: string;
  cumulative: boolean;
  startNs: bigint | null;
  timeNs: bigint;
  count: number;
  /** Per bucket, one more than the boundaries (OpenTelemetry's explicit-bucket convention). */
  bucketCounts: number[] | null;
  boundariesMs: number[] | null;
  error: boolean;
}

const text = (v: z.infer<typeof AnyValue> | undefined): string | null => {
  if (!v) return null;
  if (v.stringValue !== undefined) return v.stringValue;
  if (v.intValue !== undefined) return String(v.intValue);
  if (v.doubleValue !== undefined) return String(v.doubleValue);
  if (v.boolValue !== undefined) return String(v.boolValue);
  return null;
};
const attr = (kvs: z.infer<typeof KeyValue>[] | undefined, key: string) => text(kvs?.find((k) => k.key === key)?.value);
const canonical = (kvs: z.infer<typeof KeyValue>[] | undefined) =>
  (kvs ?? []).map((k) => `${k.key}=${text(k.value) ?? ''}`).sort().join('\u0000');

/** AGGREGATION_TEMPORALITY_CUMULATIVE is 2 (its enum name is accepted too). */
const isCumulative = (t: number | string | undefined) => t === 2 || t === 'AGGREGATION_TEMPORALITY_CUMULATIVE';

/**
 * The duration histogram's points, and the resources that had the metric but no service name or
 * version (they can't be matched to a track).
 */
export function readDurationPoints(req: ExportMetricsRequest): { points: OtlpPoint[]; unnamed: number } {
  const points: OtlpPoint[] = [];
  let unnamed = 0;
  for (const rm of req.resourceMetrics ?? []) {
    const service = attr(rm.resource?.attributes, 'service.name');
    const version = attr(rm.resource?.attributes, 'service.version');
    const resourceKey = canonical(rm.resource?.attributes);
    for (const sm of rm.scopeMetrics ?? []) {
      for (const m of sm.metrics ?? []) {
        if (m.name !== DURATION_METRIC || !m.histogram) continue;
        const scale = m.unit === 'ms' ? 1 : 1000;
        const cumulative = isCumulative(m.histogram.aggregationTemporality);
        for (const dp of m.histogram.dataPoints ?? []) {
          if (!service || !version) {
            unnamed++;
            continue;
          }
          const status = Number(attr(dp.attributes, 'http.response.status_code') ?? 0);
          const bounds = dp.explicitBounds ?? [];
          const counts = dp.bucketCounts?.map(Number) ?? null;
          points.push({
            service, version, cumulative,
            series: `${resourceKey}\u0001${canonical(dp.attributes)}\u0001${dp.startTimeUnixNano ?? ''}\u0001${cumulative ? 'c' : 'd'}`,
            startNs: dp.startTimeUnixNano !== undefined ? BigInt(dp.startTimeUnixNano) : null,
            timeNs: BigInt(dp.timeUnixNano),
            count: Number(dp.count ?? counts?.reduce((a, b) => a + b, 0) ?? 0),
            bucketCounts: counts && counts.length === bounds.length + 1 ? counts : null,
            boundariesMs: counts && counts.length === bounds.length + 1 ? bounds.map((b) => round6(b * scale)) : null,
            error: status >= 500,
          });
        }
      }
    }
  }
  return { points, unnamed };
}

const round6 = (x: number) => Math.round(x * 1e6) / 1e6;

/** The last total of a cumulative series (or the last time of a delta one). */
export interface SeriesState {
  lastTimeNs: bigint;
  count: number;
  bucketCounts: number[] | null;
}

/**
 * What one point adds to its series' window counts, and the series' state after it. `null`
 * when it adds nothing (a repeat, out of order, or the first point of a cumulative series that
 * began before the rollout).
 */
export function deltaOf(p: OtlpPoint, prev: SeriesState | null, rolloutCreatedNs: bigint): { add: { count: number; bucketCounts: number[] | null } | null; next: SeriesState } {
  const next: SeriesState = { lastTimeNs: p.timeNs, count: p.count, bucketCounts: p.bucketCounts };
  if (prev && p.timeNs <= prev.lastTimeNs) return { add: null, next: prev };
  if (!p.cumulative) return { add: { count: p.count, bucketCounts: p.bucketCounts }, next };
  if (!prev) {
    const fresh = p.startNs !== null && p.startNs >= rolloutCreatedNs;
    return { add: fresh ? { count: p.count, bucketCounts: p.bucketCounts } : null, next };
  }
  // A total that went down means the series was reset without a new start time: start over.
  if (p.count < prev.count) return { add: { count: p.count, bucketCounts: p.bucketCounts }, next };
  const buckets = p.bucketCounts && prev.bucketCounts && p.bucketCounts.length === prev.bucketCounts.length
    ? p.bucketCounts.map((c, i) => Math.max(0, c - prev.bucketCounts![i]!))
    : null;
  return { add: { count: p.count - prev.count, bucketCounts: buckets }, next };
}
