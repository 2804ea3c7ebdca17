/**
 * A small, flat family of named errors, mapped to RFC 9457 problem+json in one place (onError).
 * Anything else is an unexpected failure: logged with its request id, answered as a generic 500.
 */
import type { Context } from 'hono';
import { HTTPException } from 'hono/http-exception';
import type { ContentfulStatusCode } from 'hono/utils/http-status';
import type { Logger } from '../core/log.ts';
import { isConnectionError, type Availability } from '../db/availability.ts';
import { noReports, type ErrorReporter } from '../core/errors.ts';
import { routeTemplate } from './middleware/metrics.ts';
import { traceIdOf } from './middleware/tracing.ts';

export interface FieldError {
  field: string;
  message: string;
}

export class Problem extends Error {
  constructor(
    readonly status: ContentfulStatusCode,
    readonly title: string,
    readonly detail?: string,
    readonly extra: Record<string, unknown> = {},
    readonly headers: Record<string, string> = {},
    options?: { cause?: unknown },
  ) {
    super(detail ?? title, options);
    this.name = 'Problem';
  }
}

const slug = (title: string) => title.toLowerCase().replace(/[^a-z0-9]+/g, '-').replace(/^-|-$/g, '');

export const badRequest = (detail: string, errors?: FieldError[]) =>
  new Problem(400, 'Invalid request', detail, errors ? { errors } : {});
export const unauthorized = (detail: string) =>
  new Problem(401, 'Unauthorized', detail, {}, { 'WWW-Authenticate': 'Bearer realm="switchyard"' });
export const forbidden = (detail: string) => new Problem(403, 'Forbidden', detail);
export const notFound = (what: string) => new Problem(404, 'Not found', `${what} does not exist`);
export const conflict = (detail: string, extra: Record<string, unknown> = {}) => new Problem(409, 'Conflict', detail, extra);
export const payloadTooLarge = (limit: number) =>
  new Problem(413, 'Payload too large', `request bodies are limited to ${limit} bytes`);
export const unprocessable = (detail: string) => new Problem(422, 'Unprocessable request', detail);
export const unavailable = (detail: string) => new Problem(503, 'Service unavailable', detail, {}, { 'Retry-After': '5' });

export function problemResponse(c: Context, p: Problem): Response {
  // Extension members first: none may overwrite a member RFC 9457 defines.
  const body = {
    ...p.extra,
    type: `https://switchyard.dev/problems/${slug(p.title)}`,
    title: p.title,
    status: p.status,
    ...(p.detail ? { detail: p.detail } : {}),
    // The occurrence: the path alone (a query may hold an event token).
    instance: c.req.path,
    request_id: c.get('requestId' as never) ?? null,
    trace_id: traceIdOf(c as never),
  };
  return c.body(JSON.stringify(body), p.status, { 'Content-Type': 'application/problem+json', ...p.headers });
}

export function createErrorHandler(log: Logger, availability?: Availability, reporter: ErrorReporter = noReports) {
  /** A 500 goes to the error tracker with what identifies the request, never what it carried. */
  const report = (err: unknown, c: Context) => reporter.report(err, {
    tags: {
      request_id: c.get('requestId' as never), route: routeTemplate(c), method: c.req.method,
      trace_id: traceIdOf(c as never) ?? undefined,
      tenant_id: (c.get('principal' as never) as { tenantId?: string } | undefined)?.tenantId, status: 500,
    },
  });
  return function onError(err: Error, c: Context): Response {
    if (err instanceof Problem) {
      if (err.status === 500) report(err, c);
      return problemResponse(c, err);
    }
    if (isConnectionError(err)) {
      // The database went away under this request: the caller should retry, not report a bug.
      availability?.suspect(err);
      log.warn('database unreachable', { request_id: c.get('requestId' as never), trace_id: traceIdOf(c as never) ?? undefined, method: c.req.method, path: c.req.path, code: (err as { code?: string }).code });
      return problemResponse(c, unavailable('the database is unavailable; retry shortly'));
    }
    if (err instanceof HTTPException) {
      // Hono's own (e.g. malformed JSON in a validated body).
      const title = err.status === 400 ? 'Invalid request' : err.status === 413 ? 'Payload too large' : 'Request failed';
      return problemResponse(c, new Problem(err.status as ContentfulStatusCode, title, err.message || undefined));
    }
    if (isUnstorableText(err)) {
      // The statement failed, so nothing was written (in a shared statement, the others were retried alone).
      return problemResponse(c, badRequest('the request contains a character Postgres cannot store in text or JSON: U+0000 (NUL)'));
    }
    log.error('unhandled error', { request_id: c.get('requestId' as never), trace_id: traceIdOf(c as never) ?? undefined, method: c.req.method, path: c.req.path, err, stack: err.stack });
    report(err, c);
    return problemResponse(c, new Problem(500, 'Internal server error', 'an unexpected error occurred; quote the request_id when reporting it'));
  };
}

/** Postgres refuses NUL in text (22021) and the escape \u0000 in jsonb (22P05); JSON allows both. */
function isUnstorableText(err: Error): boolean {
  // drizzle wraps the driver's error in a DrizzleQueryError: look through causes.
  for (let e: unknown = err, depth = 0; e instanceof Error && depth < 4; e = e.cause, depth++) {
    const code = (e as { code?: unknown }).code;
    if (e.name === 'PostgresError' && (code === '22021' || code === '22P05')) return true;
  }
  return false;
}

/**
 * What Node's HTTP parser answers before any handler runs (a header block past its limit, a
 * malformed request line), as a problem+json response instead of an empty one.
 */
export function parserProblem(code: string | undefined): { status: number; body: string } {
  const [status, title, detail] = code === 'HPE_HEADER_OVERFLOW'
    ? [431, 'Request header fields too large', 'the request headers are larger than the server accepts']
    : code === 'ERR_HTTP_REQUEST_TIMEOUT'
      ? [408, 'Request timeout', 'the request was not received in time']
      : [400, 'Invalid request', 'the request could not be parsed as HTTP'];
  const body = JSON.stringify({ type: `https://switchyard.dev/problems/${slug(title)}`, title, status, detail, request_id: null });
  return { status, body };
}
