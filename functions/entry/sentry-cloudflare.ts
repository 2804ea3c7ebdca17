/**
 * The Workers backing of the error-reporting port: @sentry/cloudflare's client, private to this
 * isolate, without the `withSentry` wrapper or its OpenTelemetry bridge, over the shared fetch
 * transport; the invocation flushes it in `waitUntil` (functions/entry/sentry-core.ts says what
 * is sent).
 */
import { CloudflareClient } from '@sentry/cloudflare';
import type { ErrorReporter } from '../../core/errors.ts';
import { fetchTransport, privateClientOptions, reporterOver, v8StackParser, type SentryOptions } from './sentry-core.ts';

export function createCloudflareSentryReporter(opts: SentryOptions): ErrorReporter {
  const client = new CloudflareClient({ ...privateClientOptions(opts), transport: fetchTransport, stackParser: v8StackParser, skipOpenTelemetrySetup: true });
  client.init();
  return reporterOver(client);
}
