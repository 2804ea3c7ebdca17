/**
 * The Node backing of the metrics port, served at `/metrics` (with SWITCHYARD_METRICS_TOKEN) or on
 * a listener of its own (METRICS_PORT); see functions/routes/metrics. Two parts:
 *
 * - The catalog's event metrics (core/metrics.ts: counters, histograms and up-down gauges moved
 *   where something happens) are kept here, each label combination a cell found by its values,
 *   and rendered in the text format at scrape time. A request moves about twenty of them (its
 *   own, and four or five per query); prom-client validates and hashes a label object and
 *   allocates on every one of those calls, which the observability bench measured at ~10 µs a
 *   request (BENCH_ONLY=observability; README, "Observability's cost").
 * - prom-client keeps what is read at scrape time: its default process metrics (CPU, memory,
 *   event-loop lag, handles: easy to get subtly wrong by hand) and the collected gauges, which
 *   collectors read from the database when scraped.
 *
 * One exposition holds both, each metric once; `promtool check metrics` checks it in the tests.
 */
import client from 'prom-client';
import { METRICS, type MetricDef as Def, type CollectedName, type MetricName, type Metrics, type Sample } from '../../core/metrics.ts';

export interface Prometheus {
  metrics: Metrics;
  /** Adds a scrape-time reader; its samples replace the previous scrape's for the metrics it names. */
  addCollector(names: readonly CollectedName[], read: () => Promise<Sample[]>): void;
  /** The exposition text (runs the collectors; one that fails is logged by the caller and skipped). */
  render(): Promise<string>;
  contentType: string;
}

/** One label combination of an event metric: a value, or a histogram's buckets (not cumulative), sum and count. */
interface Cell {
  labels: string;
  value: number;
  buckets: Float64Array | null;
}

const escapeLabel = (v: string) => v.replace(/\\/g, '\\\\').replace(/\n/g, '\\n').replace(/"/g, '\\"');
const escapeHelp = (v: string) => v.replace(/\\/g, '\\\\').replace(/\n/g, '\\n');
const num = (v: number) => (v === Infinity ? '+Inf' : v === -Infinity ? '-Inf' : Number.isNaN(v) ? 'NaN' : String(v));

class EventMetric {
  /** Every cell, in the order first moved. */
  readonly cells: Cell[] = [];
  /** Cells found by their label values, one Map level per label in the catalog's order (no key to build). */
  private readonly index = new Map<unknown, unknown>();
  readonly bounds: readonly number[];
  /** The cell of a metric without labels (always shown, as 0 until moved). */
  readonly only: Cell | null;

  constructor(readonly name: string, readonly def: Def, private readonly constLabels: string) {
    this.bounds = def.buckets ?? [];
    this.only = def.labels.length === 0 ? this.newCell({}) : null;
  }

  private newCell(labels: Record<string, string>): Cell {
    let text = this.constLabels;
    for (const l of this.def.labels) text += `${text ? ',' : ''}${l}="${escapeLabel(String(labels[l] ?? ''))}"`;
    const cell = { labels: text, value: 0, buckets: this.def.type === 'histogram' ? new Float64Array(this.bounds.length + 1) : null };
    this.cells.push(cell);
    return cell;
  }

  cellOf(labels: Record<string, string>): Cell {
    if (this.only) return this.only;
    const names = this.def.labels;
    let level = this.index;
    const last = names.length - 1;
    for (let i = 0; i < last; i++) {
      const v = labels[names[i]!];
      let next = level.get(v) as Map<unknown, unknown> | undefined;
      if (!next) level.set(v, (next = new Map()));
      level = next;
    }
    let cell = level.get(labels[names[last]!]) as Cell | undefined;
    if (!cell) level.set(labels[names[last]!], (cell = this.newCell(labels)));
    return cell;
  }

  observe(cell: Cell, v: number): void {
    if (!Number.isFinite(v)) return;
    const b = this.bounds;
    let i = 0;
    while (i < b.length && v > b[i]!) i++;
    cell.buckets![i]!++;
    cell.value += v;
  }

  render(): string {
    const kind = this.def.type;
    let out = `# HELP ${this.name} ${escapeHelp(this.def.help)}\n# TYPE ${this.name} ${kind}\n`;
    const cells = this.only ? [this.only] : this.cells;
    for (const c of cells) {
      if (!c.buckets) {
        out += `${this.name}${c.labels ? `{${c.labels}}` : ''} ${num(c.value)}\n`;
        continue;
      }
      const sep = c.labels ? ',' : '';
      let cumulative = 0;
      for (let i = 0; i <= this.bounds.length; i++) {
        cumulative += c.buckets[i]!;
        out += `${this.name}_bucket{${c.labels}${sep}le="${i < this.bounds.length ? num(this.bounds[i]!) : '+Inf'}"} ${cumulative}\n`;
      }
      const labels = c.labels ? `{${c.labels}}` : '';
      out += `${this.name}_sum${labels} ${num(c.value)}\n${this.name}_count${labels} ${cumulative}\n`;
    }
    return out;
  }
}

export function createPrometheus(opts: { onCollectorError?: (err: unknown) => void; defaultLabels?: Record<string, string> } = {}): Prometheus {
  const registry = new client.Registry();
  if (opts.defaultLabels) registry.setDefaultLabels(opts.defaultLabels);
  client.collectDefaultMetrics({ register: registry });
  // Three of prom-client's defaults are gauges named *_total, which promtool's lint rejects (a
  // _total suffix means a counter). Their figures stay, by type, in nodejs_active_handles,
  // nodejs_active_requests and nodejs_active_resources.
  for (const name of ['nodejs_active_handles_total', 'nodejs_active_requests_total', 'nodejs_active_resources_total']) registry.removeSingleMetric(name);

  const constLabels = Object.entries(opts.defaultLabels ?? {}).map(([k, v]) => `${k}="${escapeLabel(v)}"`).join(',');
  const events = new Map<MetricName, EventMetric>();
  const collected = new Map<MetricName, client.Gauge>();
  for (const [name, def] of Object.entries(METRICS) as Array<[MetricName, Def]>) {
    if (def.collected) collected.set(name, new client.Gauge({ name, help: def.help, labelNames: [...def.labels], registers: [registry] }));
    else events.set(name, new EventMetric(name, def, constLabels));
  }
  const event = (name: MetricName) => events.get(name)!;

  const metrics: Metrics = {
    inc(name, labels, by = 1) {
      const m = event(name);
      m.cellOf(labels as Record<string, string>).value += by;
    },
    observe(name, labels, value) {
      const m = event(name);
      m.observe(m.cellOf(labels as Record<string, string>), value);
    },
    add(name, labels, delta) {
      event(name).cellOf(labels as Record<string, string>).value += delta;
    },
    set(name, labels, value) {
      event(name).cellOf(labels as Record<string, string>).value = value;
    },
  };

  const collectors: Array<{ names: readonly CollectedName[]; read: () => Promise<Sample[]> }> = [];
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
        for (const n of c.names) collected.get(n)!.reset();
        for (const s of samples) collected.get(s.name)!.set(s.labels as client.LabelValues<string>, s.value);
      }));
      let text = await registry.metrics();
      if (text && !text.endsWith('\n')) text += '\n';
      for (const m of events.values()) text += m.render();
      return text;
    },
    contentType: registry.contentType,
  };
}
