/**
 * The Node backing of the metrics port: a prom-client registry of its own (never the library's
 * global one) with every metric of core/metrics.ts, plus collectors that read state from the
 * database when scraped. Served at `/metrics` (with SWITCHYARD_METRICS_TOKEN) or on a listener of
 * its own (METRICS_PORT); see functions/routes/metrics.
 *
 * Why prom-client: it is the Prometheus client for Node (histogram buckets, label escaping, the
 * exposition format and process metrics are easy to get subtly wrong by hand), and its default
 * metrics give the process figures (CPU, memory, event-loop lag, handles) for free.
 */
import client from 'prom-client';
import { METRICS, type CollectedName, type MetricName, type Metrics, type Sample } from '../../core/metrics.ts';

export interface Prometheus {
  metrics: Metrics;
  /** Adds a scrape-time reader; its samples replace the previous scrape's for the metrics it names. */
  addCollector(names: readonly CollectedName[], read: () => Promise<Sample[]>): void;
  /** The exposition text (runs the collectors; one that fails is logged by the caller and skipped). */
  render(): Promise<string>;
  contentType: string;
}

export function createPrometheus(opts: { onCollectorError?: (err: unknown) => void; defaultLabels?: Record<string, string> } = {}): Prometheus {
  const registry = new client.Registry();
  if (opts.defaultLabels) registry.setDefaultLabels(opts.defaultLabels);
  client.collectDefaultMetrics({ register: registry });
  // Three of prom-client's defaults are gauges named *_total, which promtool's lint rejects (a
  // _total suffix means a counter). Their figures stay, by type, in nodejs_active_handles,
  // nodejs_active_requests and nodejs_active_resources.
  for (const name of ['nodejs_active_handles_total', 'nodejs_active_requests_total', 'nodejs_active_resources_total']) registry.removeSingleMetric(name);
  const instruments = new Map<MetricName, client.Counter | client.Histogram | client.Gauge>();
  for (const [name, def] of Object.entries(METRICS) as Array<[MetricName, (typeof METRICS)[MetricName]]>) {
    const common = { name, help: def.help, labelNames: [...def.labels], registers: [registry] };
    const m = def.type === 'counter' ? new client.Counter(common)
      : def.type === 'histogram' ? new client.Histogram({ ...common, buckets: [...(def as { buckets: readonly number[] }).buckets] })
        : new client.Gauge(common);
    instruments.set(name, m);
  }
  const collectors: Array<{ names: readonly CollectedName[]; read: () => Promise<Sample[]> }> = [];

  // prom-client hashes a label object (sorting its keys) on every call; each label combination's
  // child is looked up here by its values instead, in the catalog's label order.
  const children = new Map<MetricName, Map<string, { inc?(v: number): void; observe?(v: number): void; set?(v: number): void }>>();
  const child = (name: MetricName, labels: Record<string, string>) => {
    const names = METRICS[name].labels as readonly string[];
    if (names.length === 0) return instruments.get(name) as unknown as { inc(v: number): void; observe(v: number): void; set(v: number): void };
    let byKey = children.get(name);
    if (!byKey) children.set(name, (byKey = new Map()));
    let key = '';
    for (const l of names) key += `${labels[l]}\u0001`;
    let c = byKey.get(key);
    if (!c) {
      c = (instruments.get(name) as client.Counter<string>).labels(labels as client.LabelValues<string>) as never;
      byKey.set(key, c!);
    }
    return c as { inc(v: number): void; observe(v: number): void; set(v: number): void };
  };

  const metrics: Metrics = {
    inc(name, labels, by = 1) {
      child(name, labels as Record<string, string>).inc(by);
    },
    observe(name, labels, value) {
      child(name, labels as Record<string, string>).observe(value);
    },
    add(name, labels, delta) {
      child(name, labels as Record<string, string>).inc(delta);
    },
    set(name, labels, value) {
      child(name, labels as Record<string, string>).set(value);
    },
  };

  return {
    metrics,
    addCollector(names, read) {
      collectors.push({ names, read });
    },
    async render() {
      await Promise.all(collectors.map(async (c) => {
        let samples: Sample[];
        try {
          samples = await c.read();
        } catch (err) {
          // A database that is down must not take /metrics down with it: the last values stay.
          opts.onCollectorError?.(err);
          return;
        }
        for (const n of c.names) {
          (instruments.get(n) as client.Gauge).reset();
          children.delete(n);
        }
        for (const s of samples) (instruments.get(s.name) as client.Gauge).set(s.labels as client.LabelValues<string>, s.value);
      }));
      return registry.metrics();
    },
    contentType: registry.contentType,
  };
}
