/**
 * Traces: W3C Trace Context in and out, and spans through OpenTelemetry's API. A request's
 * `traceparent` is accepted (or a trace is started), its trace id goes into its log lines and its
 * problem documents, it is stored on every job the request creates, and each step of the job,
 * its provider calls and its outbound requests are spans of that same trace, however many QStash
 * deliveries and processes later.
 *
 * Parents are passed explicitly (no global context manager, no global tracer provider): a span's
 * parent is a `TraceParent` (a stored or received header, or a live span), so a job's steps
 * continue the trace of a request made in another process hours before.
 */
import { ROOT_CONTEXT, SpanKind, SpanStatusCode, TraceFlags, trace, type Attributes, type Context, type Span, type SpanContext, type Tracer } from '@opentelemetry/api';

export { SpanKind, type Span, type Tracer };

const TRACEPARENT = /^([0-9a-f]{2})-([0-9a-f]{32})-([0-9a-f]{16})-([0-9a-f]{2})$/;

/** A W3C `traceparent` header as a remote span context; null when absent or malformed (version ff, all-zero ids). */
export function parseTraceparent(value: string | null | undefined): SpanContext | null {
  const m = value ? TRACEPARENT.exec(value.trim().toLowerCase()) : null;
  if (!m || m[1] === 'ff' || /^0+$/.test(m[2]!) || /^0+$/.test(m[3]!)) return null;
  return { traceId: m[2]!, spanId: m[3]!, traceFlags: parseInt(m[4]!, 16) & TraceFlags.SAMPLED, isRemote: true };
}

export function formatTraceparent(sc: SpanContext): string {
  return `00-${sc.traceId}-${sc.spanId}-${(sc.traceFlags & TraceFlags.SAMPLED ? 1 : 0).toString(16).padStart(2, '0')}`;
}

/** What a span can be a child of: a live span, a stored or received traceparent, or nothing (a new trace). */
export type TraceParent = Span | string | null | undefined;

function contextOf(parent: TraceParent): Context {
  if (!parent) return ROOT_CONTEXT;
  if (typeof parent === 'string') {
    const sc = parseTraceparent(parent);
    return sc ? trace.setSpanContext(ROOT_CONTEXT, sc) : ROOT_CONTEXT;
  }
  return trace.setSpan(ROOT_CONTEXT, parent);
}

export function startSpan(tracer: Tracer, name: string, parent: TraceParent, opts: { kind?: SpanKind; attributes?: Attributes } = {}): Span {
  return tracer.startSpan(name, { kind: opts.kind ?? SpanKind.INTERNAL, ...(opts.attributes ? { attributes: opts.attributes } : {}) }, contextOf(parent));
}

/** Runs `fn` in a child span of `parent`: ended when `fn` settles, an error recorded and marked. */
export async function inSpan<T>(tracer: Tracer, name: string, parent: TraceParent, fn: (span: Span) => Promise<T>, opts: { kind?: SpanKind; attributes?: Attributes } = {}): Promise<T> {
  const span = startSpan(tracer, name, parent, opts);
  try {
    return await fn(span);
  } catch (err) {
    span.recordException(err instanceof Error ? { name: err.name, message: err.message } : String(err));
    span.setStatus({ code: SpanStatusCode.ERROR, message: err instanceof Error ? err.message : String(err) });
    throw err;
  } finally {
    span.end();
  }
}

export function markError(span: Span, message: string): void {
  span.setStatus({ code: SpanStatusCode.ERROR, message });
}

/** The header to send with an outbound request made inside `span`. */
export function traceHeaders(span: Span | null | undefined): Record<string, string> {
  return span ? { traceparent: formatTraceparent(span.spanContext()) } : {};
}
