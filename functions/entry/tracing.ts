/**
 * A tracer provider of this process's own (never registered globally). Without an endpoint it
 * still makes real trace and span ids (they are in every log line and problem document) and
 * exports nothing; with OTEL_EXPORTER_OTLP_ENDPOINT it batches spans to `<endpoint>/v1/traces`
 * as OTLP/HTTP JSON (OTEL_EXPORTER_OTLP_TRACES_ENDPOINT, when set, is the whole URL).
 */
import { BasicTracerProvider, BatchSpanProcessor } from '@opentelemetry/sdk-trace-base';
import { OTLPTraceExporter } from '@opentelemetry/exporter-trace-otlp-http';
import { resourceFromAttributes } from '@opentelemetry/resources';
import type { Tracer } from '@opentelemetry/api';

export interface Tracing {
  tracer: Tracer;
  /** Whether spans leave the process. */
  exporting: boolean;
  flush(): Promise<void>;
  shutdown(): Promise<void>;
}

export function createTracing(opts: { endpoint?: string; tracesEndpoint?: string; headers?: Record<string, string>; serviceName: string; release: string; role: string; attributes?: Record<string, string> }): Tracing {
  const url = opts.tracesEndpoint ?? (opts.endpoint ? `${opts.endpoint.replace(/\/+$/, '')}/v1/traces` : undefined);
  const provider = new BasicTracerProvider({
    resource: resourceFromAttributes({ 'service.name': opts.serviceName, 'service.version': opts.release, 'switchyard.role': opts.role, ...opts.attributes }),
    spanProcessors: url ? [new BatchSpanProcessor(new OTLPTraceExporter({ url, ...(opts.headers ? { headers: opts.headers } : {}) }), { scheduledDelayMillis: 1000 })] : [],
  });
  return {
    tracer: provider.getTracer('switchyard'),
    exporting: Boolean(url),
    flush: () => provider.forceFlush(),
    shutdown: () => provider.shutdown(),
  };
}
