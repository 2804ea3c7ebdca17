/**
 * The Node backing of the error-reporting port: @sentry/node's client with its Node transport,
 * made for this process and kept private (functions/entry/sentry-core.ts says what is and isn't
 * sent). Workers and Deno have their SDK's clients (sentry-cloudflare.ts, sentry-deno.ts).
 */
import { NodeClient, makeNodeTransport } from '@sentry/node';
import type { ErrorReporter } from '../../core/errors.ts';
import { privateClientOptions, reporterOver, v8StackParser, type SentryOptions } from './sentry-core.ts';

export { scrubEvent, type SentryOptions } from './sentry-core.ts';

export function createSentryReporter(opts: SentryOptions): ErrorReporter {
  const client = new NodeClient({ ...privateClientOptions(opts), transport: makeNodeTransport, stackParser: v8StackParser });
  client.init();
  return reporterOver(client);
}
