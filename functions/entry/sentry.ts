/**
 * The Node backing of the error-reporting port: @sentry/node's client, made for this process and
 * never installed globally (no `Sentry.init`): no auto-instrumentation, no patched modules, no
 * global TracerProvider, and two systems in one process (tests) keep their own DSNs.
 *
 * What is sent is what `report` is given (an error, ids as tags, a few extras) and nothing that
 * the SDK would collect by itself: no default integrations (so no request bodies, headers,
 * cookies, breadcrumbs of console output, local variables or source lines), data collection
 * turned off field by field, and `beforeSend` scrubs every string again: API keys, webhook secrets, bearer tokens,
 * passwords in connection strings, e-mail addresses, and any field named like a secret.
 */
import { NodeClient, Scope, defaultStackParser, makeNodeTransport, type ErrorEvent } from '@sentry/node';
import type { ErrorReporter } from '../../core/errors.ts';
import { redactText } from '../lib/log.ts';

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

export function createSentryReporter(opts: SentryOptions): ErrorReporter {
  const client = new NodeClient({
    dsn: opts.dsn,
    release: opts.release,
    environment: opts.environment,
    serverName: opts.serverName ?? 'switchyard',
    transport: makeNodeTransport,
    stackParser: defaultStackParser,
    integrations: [],
    // Said explicitly, whatever the SDK's defaults become (v11 collects headers, bodies and
    // query strings unless told not to): nothing about users, requests or queries.
    dataCollection: {
      userInfo: false, cookies: false, httpHeaders: false, httpBodies: [], urlQueryParams: false,
      databaseQueryData: false, graphQL: { document: false, variables: false }, genAI: { inputs: false, outputs: false },
    },
    maxBreadcrumbs: 0,
    beforeSend(event: ErrorEvent) {
      delete event.request;
      delete event.user;
      delete event.breadcrumbs;
      return scrubEvent(event);
    },
  });
  client.init();
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
