/**
 * What every runtime's Sentry reporter shares, on @sentry/core (the base of @sentry/node,
 * @sentry/cloudflare and @sentry/deno, one pinned version): the client options that keep the SDK
 * from collecting anything by itself, the scrubber, and the port (core/errors.ts) over a client.
 *
 * Each client is made for its system and never installed globally (no `Sentry.init`): no
 * auto-instrumentation, no patched modules, no global TracerProvider, and two systems in one
 * process (tests) keep their own DSNs. What is sent is what `report` is given (an error, ids as
 * tags, a few extras) and nothing the SDK would collect by itself: no default integrations (so no
 * request bodies, headers, cookies, breadcrumbs of console output, local variables or source
 * lines), data collection turned off field by field, and `beforeSend` scrubs every string again:
 * API keys, webhook secrets, bearer tokens, passwords in connection strings, e-mail addresses, and
 * any field named like a secret.
 */
import { Scope, createStackParser, createTransport, nodeStackLineParser, type BaseTransportOptions, type Client, type ErrorEvent, type Transport } from '@sentry/core';
import type { ErrorReporter } from '../../core/errors.ts';
import { redactText } from '../../core/log.ts';

const EMAIL = /[A-Za-z0-9._%+-]+@[A-Za-z0-9.-]+\.[A-Za-z]{2,}/g;
const SECRET_KEY = /pass(word)?|secret|token|authorization|api_?key|connection(_string)?|cookie|dsn/i;

function scrubString(s: string): string {
  return redactText(s).replace(EMAIL, '[email]');
}

/** Every string of the event scrubbed, and every field named like a secret emptied. */
export function scrubEvent<T>(value: T, depth = 0): T {
  if (typeof value === 'string') return scrubString(value) as T;
  if (value === null || typeof value !== 'object' || depth > 12) return value;
  if (Array.isArray(value)) return value.map((v) => scrubEvent(v, depth + 1)) as T;
  const out: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(value)) out[k] = SECRET_KEY.test(k) ? '[redacted]' : scrubEvent(v, depth + 1);
  return out as T;
}

export interface SentryOptions {
  dsn: string;
  release: string;
  environment: string;
  /** Sent as the event's server_name (default: "switchyard"; the host's name says nothing useful in a container). */
  serverName?: string;
}

/** V8 stack traces: Node, workerd and Deno all produce them. */
export const v8StackParser = createStackParser(nodeStackLineParser());

/**
 * Envelopes over `fetch`, for Workers and Deno (neither SDK exports its own fetch transport). The
 * request starts when an event is sent, inside the invocation that reported it, and the
 * invocation's flush (in `waitUntil`) waits for it.
 */
export function fetchTransport(options: BaseTransportOptions): Transport {
  return createTransport(options, async (request) => {
    const res = await fetch(options.url, { method: 'POST', body: request.body as BodyInit, headers: { 'Content-Type': 'application/x-sentry-envelope', ...options.headers } });
    await res.body?.cancel();
    return { statusCode: res.status, headers: { 'x-sentry-rate-limits': res.headers.get('x-sentry-rate-limits'), 'retry-after': res.headers.get('retry-after') } };
  });
}

/** The options every runtime's client gets (its transport and its own extras added by the caller). */
export function privateClientOptions(opts: SentryOptions) {
  return {
    dsn: opts.dsn,
    release: opts.release,
    environment: opts.environment,
    serverName: opts.serverName ?? 'switchyard',
    integrations: [],
    // Said explicitly, whatever the SDK's defaults become (v11 collects headers, bodies and
    // query strings unless told not to): nothing about users, requests or queries.
    dataCollection: {
      userInfo: false, cookies: false, httpHeaders: false, httpBodies: [] as never[], urlQueryParams: false,
      databaseQueryData: false, graphQL: { document: false, variables: false }, genAI: { inputs: false, outputs: false },
    },
    sendDefaultPii: false,
    maxBreadcrumbs: 0,
    beforeSend(event: ErrorEvent) {
      delete event.request;
      delete event.user;
      delete event.breadcrumbs;
      return scrubEvent(event);
    },
  };
}

/** The error-reporting port over an initialised client: one scope per report, nothing global. */
export function reporterOver(client: Client): ErrorReporter {
  const base = new Scope();
  base.setClient(client);
  return {
    report(error, context = {}) {
      const scope = base.clone();
      for (const [k, v] of Object.entries(context.tags ?? {})) if (v !== undefined) scope.setTag(k, String(v));
      for (const [k, v] of Object.entries(context.extra ?? {})) if (v !== undefined) scope.setExtra(k, v);
      scope.setLevel(context.level ?? 'error');
      if (context.fingerprint) scope.setFingerprint(context.fingerprint);
      if (error instanceof Error) scope.captureException(error);
      else scope.captureMessage(String(error), context.level ?? 'error');
    },
    flush: async (timeoutMs) => client.flush(timeoutMs),
  };
}
