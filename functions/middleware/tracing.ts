/**
 * The request's SERVER span: a child of the caller's `traceparent` when it sends a valid one,
 * otherwise the root of a new trace. Named by route template once routing is done; a 5xx marks it
 * an error. Handlers read it as `c.get('span')` to parent the jobs they create.
 */
import type { MiddlewareHandler } from 'hono';
import { SpanKind, formatTraceparent, markError, startSpan, type Tracer } from '../../core/trace.ts';
import type { AppEnv } from '../deps.ts';
import { routeTemplate } from './metrics.ts';

export function tracing(tracer: Tracer): MiddlewareHandler<AppEnv> {
  return async function traceRequest(c, next) {
    const span = startSpan(tracer, c.req.method, c.req.header('traceparent'), {
      kind: SpanKind.SERVER, attributes: { 'http.request.method': c.req.method, 'url.path': c.req.path },
    });
    c.set('span', span);
    try {
      await next();
    } finally {
      const route = routeTemplate(c);
      span.updateName(`${c.req.method} ${route}`);
      span.setAttribute('http.route', route);
      span.setAttribute('http.response.status_code', c.res.status);
      if (c.res.status >= 500) markError(span, `status ${c.res.status}`);
      span.end();
    }
  };
}

/** The trace id of the request, for logs and problem documents. */
export const traceIdOf = (c: { get(key: 'span'): import('../../core/trace.ts').Span | undefined }) => c.get('span')?.spanContext().traceId ?? null;

/** The traceparent a job created by this request stores: its steps become children of the request's span. */
export const traceparentOf = (c: { get(key: 'span'): import('../../core/trace.ts').Span | undefined }) => {
  const span = c.get('span');
  return span ? formatTraceparent(span.spanContext()) : null;
};
