/**
 * The edge backing of the metrics port: the same catalog (core/metrics.ts) as Node's /metrics,
 * pushed as OTLP/HTTP JSON to `<OTEL_EXPORTER_OTLP_ENDPOINT>/v1/metrics`, because a pull endpoint
 * per isolate means nothing on Workers or Deno. Web APIs only (the exporter's fetch transport).
 *
 * OpenTelemetry's SDK aggregates (sdk-metrics) and encodes (exporter-metrics-otlp-http): one
 * MeterProvider per isolate, read only when asked: `flush()` runs at the end of an invocation, in
 * `waitUntil`, after the invocation's background work, so nothing waits on a timer an isolate
 * may never get to run.
 *
 * Names, label sets and histogram buckets are the catalog's, without units, so a collector's
 * Prometheus translation gives the same series the Node scrape does. Each isolate is a
 * `service.instance.id` of its own, which keeps cumulative series (the default, what Prometheus
 * accepts) apart; OTEL_EXPORTER_OTLP_METRICS_TEMPORALITY_PREFERENCE=delta suits backends that
 * prefer deltas from short-lived processes.
 *
 * Collected gauges (jobs by status, projects by plan…) are readings of the database, not events:
 * the scheduled sweeper takes them once a minute (`record`), and they go out with its flush.
 */
import { OTLPMetricExporter, AggregationTemporalityPreference } from '@opentelemetry/exporter-metrics-otlp-http';
import { MeterProvider, MetricReader, type PushMetricExporter } from '@opentelemetry/sdk-metrics';
import { resourceFromAttributes } from '@opentelemetry/resources';
import type { Attributes, Counter, Gauge, Histogram, ObservableResult, UpDownCounter } from '@opentelemetry/api';
import { METRICS, type CollectedName, type Metrics, type Sample } from '../../core/metrics.ts';

/** Collects and exports only when flushed. */
class OnDemandReader extends MetricReader {
  constructor(private readonly exporter: PushMetricExporter) {
    super({ aggregationTemporalitySelector: (type) => exporter.selectAggregationTemporality!(type) });
  }

  protected async onForceFlush(): Promise<void> {
    const { resourceMetrics } = await this.collect();
    if (!resourceMetrics.scopeMetrics.some((s) => s.metrics.some((m) => m.dataPoints.length))) return;
    await new Promise<void>((resolve, reject) => this.exporter.export(resourceMetrics, (r) => (r.error ? reject(r.error) : resolve())));
  }

  protected async onShutdown(): Promise<void> {
    await this.onForceFlush();
    await this.exporter.shutdown();
  }
}

export interface OtlpMetrics {
  metrics: Metrics;
  /** Stores scrape-time readings (from db/metrics.repo.ts); they are exported with the next flush, once. */
  record(samples: Sample[]): void;
  /** Exports what was recorded since the last flush. Never throws: a failed export is reported to `onError`. */
  flush(): Promise<void>;
}

export interface OtlpMetricsOptions {
  endpoint?: string;
  /** The whole URL, when it isn't `<endpoint>/v1/metrics` (OTEL_EXPORTER_OTLP_METRICS_ENDPOINT). */
  metricsEndpoint?: string;
  headers?: Record<string, string>;
  temporality?: 'cumulative' | 'delta' | 'lowmemory';
  serviceName: string;
  release: string;
  role: string;
  instanceId: string;
  runtime: string;
  onError?: (err: unknown) => void;
}

/** Null when there is nowhere to push to (no endpoint): nothing is recorded then. */
export function createOtlpMetrics(opts: OtlpMetricsOptions): OtlpMetrics | null {
  const url = opts.metricsEndpoint ?? (opts.endpoint ? `${opts.endpoint.replace(/\/+$/, '')}/v1/metrics` : undefined);
  if (!url) return null;
  const exporter = new OTLPMetricExporter({
    url,
    ...(opts.headers ? { headers: opts.headers } : {}),
    temporalityPreference: opts.temporality === 'delta' ? AggregationTemporalityPreference.DELTA
      : opts.temporality === 'lowmemory' ? AggregationTemporalityPreference.LOWMEMORY : AggregationTemporalityPreference.CUMULATIVE,
  });
  const reader = new OnDemandReader(exporter);
  const provider = new MeterProvider({
    resource: resourceFromAttributes({
      'service.name': opts.serviceName, 'service.version': opts.release, 'service.instance.id': opts.instanceId,
      'switchyard.role': opts.role, 'switchyard.runtime': opts.runtime,
    }),
    readers: [reader],
  });
  const meter = provider.getMeter('switchyard');

  const counters = new Map<string, Counter>();
  const histograms = new Map<string, Histogram>();
  const upDowns = new Map<string, UpDownCounter>();
  const gauges = new Map<string, Gauge>();
  const help = (name: string) => (METRICS as Record<string, { help: string; buckets?: readonly number[] }>)[name]!;

  const metrics: Metrics = {
    inc(name, labels, by = 1) {
      let c = counters.get(name);
      if (!c) counters.set(name, (c = meter.createCounter(name, { description: help(name).help })));
      c.add(by, labels as Attributes);
    },
    observe(name, labels, value) {
      let h = histograms.get(name);
      if (!h) {
        const def = help(name);
        h = meter.createHistogram(name, { description: def.help, ...(def.buckets ? { advice: { explicitBucketBoundaries: [...def.buckets] } } : {}) });
        histograms.set(name, h);
      }
      h.record(value, labels as Attributes);
    },
    add(name, labels, delta) {
      let u = upDowns.get(name);
      if (!u) upDowns.set(name, (u = meter.createUpDownCounter(name, { description: help(name).help })));
      u.add(delta, labels as Attributes);
    },
    set(name, labels, value) {
      let g = gauges.get(name);
      if (!g) gauges.set(name, (g = meter.createGauge(name, { description: help(name).help })));
      g.record(value, labels as Attributes);
    },
  };

  // Collected gauges: observed from the last readings, which are then dropped (a reading goes out once).
  let readings: Sample[] = [];
  const names = Object.entries(METRICS).filter(([, d]) => 'collected' in d).map(([n]) => n as CollectedName);
  for (const name of names) {
    meter.createObservableGauge(name, { description: help(name).help }).addCallback((result: ObservableResult) => {
      for (const s of readings) if (s.name === name) result.observe(s.value, s.labels as Attributes);
    });
  }

  return {
    metrics,
    record(samples) {
      readings = samples;
    },
    async flush() {
      try {
        await reader.forceFlush();
      } catch (err) {
        opts.onError?.(err);
      } finally {
        readings = [];
      }
    },
  };
}
