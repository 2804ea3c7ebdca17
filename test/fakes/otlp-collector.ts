/**
 * A contract fake of an OpenTelemetry collector's OTLP/HTTP receiver, JSON encoding:
 * `POST /v1/traces` (ExportTraceServiceRequest: resourceSpans → scopeSpans → spans, ids as hex)
 * and `POST /v1/metrics` (ExportMetricsServiceRequest: resourceMetrics → scopeMetrics → metrics,
 * each a sum, gauge or histogram of data points), answered `200 {"partialSuccess":{}}`. Protobuf
 * is refused with 415, as a JSON-only receiver does. Request headers are kept (auth headers).
 */
import { createServer, type IncomingHttpHeaders } from 'node:http';

export interface CollectedSpan {
  traceId: string;
  spanId: string;
  parentSpanId?: string;
  name: string;
  kind: number;
  attributes: Record<string, unknown>;
  status?: { code?: number; message?: string };
  service: string;
  resource: Record<string, unknown>;
}

/** One data point as received, with its metric and resource. */
export interface CollectedPoint {
  metric: string;
  type: 'sum' | 'gauge' | 'histogram';
  /** 1 delta, 2 cumulative (sums and histograms). */
  temporality?: number;
  attributes: Record<string, unknown>;
  resource: Record<string, unknown>;
  /** Sums and gauges. */
  value?: number;
  /** Histograms. */
  count?: number;
  sum?: number;
  bucketCounts?: number[];
  explicitBounds?: number[];
  timeUnixNano: string;
}

function attrs(list: any[] | undefined): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const a of list ?? []) {
    const v = a.value ?? {};
    out[a.key] = v.stringValue ?? (v.intValue !== undefined ? Number(v.intValue) : undefined) ?? v.boolValue ?? v.doubleValue;
  }
  return out;
}

export async function startOtlpCollector() {
  const spans: CollectedSpan[] = [];
  const points: CollectedPoint[] = [];
  const requests: { path: string; headers: IncomingHttpHeaders }[] = [];
  const server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      if (req.method !== 'POST' || (req.url !== '/v1/traces' && req.url !== '/v1/metrics')) return void res.writeHead(404).end();
      if (!String(req.headers['content-type'] ?? '').startsWith('application/json')) return void res.writeHead(415).end();
      requests.push({ path: req.url, headers: req.headers });
      const body = JSON.parse(Buffer.concat(chunks).toString('utf8')) as { resourceSpans?: any[]; resourceMetrics?: any[] };
      for (const rs of body.resourceSpans ?? []) {
        const resource = attrs(rs.resource?.attributes);
        for (const ss of rs.scopeSpans ?? []) {
          for (const s of ss.spans ?? []) {
            spans.push({
              traceId: s.traceId, spanId: s.spanId, ...(s.parentSpanId ? { parentSpanId: s.parentSpanId } : {}), name: s.name, kind: s.kind,
              attributes: attrs(s.attributes), status: s.status, service: String(resource['service.name'] ?? ''), resource,
            });
          }
        }
      }
      for (const rm of body.resourceMetrics ?? []) {
        const resource = attrs(rm.resource?.attributes);
        for (const sm of rm.scopeMetrics ?? []) {
          for (const m of sm.metrics ?? []) {
            const type = m.sum ? 'sum' : m.gauge ? 'gauge' : m.histogram ? 'histogram' : null;
            if (!type) continue;
            const data = m[type];
            for (const p of data.dataPoints ?? []) {
              points.push({
                metric: m.name, type, ...(data.aggregationTemporality !== undefined ? { temporality: data.aggregationTemporality } : {}),
                attributes: attrs(p.attributes), resource, timeUnixNano: String(p.timeUnixNano),
                ...(type === 'histogram'
                  ? { count: Number(p.count), sum: Number(p.sum), bucketCounts: (p.bucketCounts ?? []).map(Number), explicitBounds: p.explicitBounds ?? [] }
                  : { value: Number(p.asInt ?? p.asDouble) }),
              });
            }
          }
        }
      }
      res.writeHead(200, { 'content-type': 'application/json' }).end('{"partialSuccess":{}}');
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
  const { port } = server.address() as { port: number };
  return {
    url: `http://127.0.0.1:${port}`, spans, points, requests,
    /**
     * A cumulative sum's or histogram's total over every isolate that pushed it: the latest point
     * of each series (resource instance + attributes), added up. `match` picks the series.
     */
    total(metric: string, match: Record<string, unknown> = {}): number {
      const latest = new Map<string, CollectedPoint>();
      for (const p of points) {
        if (p.metric !== metric || !Object.entries(match).every(([k, v]) => p.attributes[k] === v)) continue;
        const key = `${p.resource['service.instance.id']} ${JSON.stringify(p.attributes)}`;
        const seen = latest.get(key);
        if (!seen || BigInt(seen.timeUnixNano) <= BigInt(p.timeUnixNano)) latest.set(key, p);
      }
      return [...latest.values()].reduce((n, p) => n + (p.type === 'histogram' ? p.count! : p.value!), 0);
    },
    close: () => new Promise<void>((r) => server.close(() => r())),
  };
}

export type OtlpCollector = Awaited<ReturnType<typeof startOtlpCollector>>;
