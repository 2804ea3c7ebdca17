/**
 * The Deno (Supabase Edge Functions) backing of the error-reporting port: @sentry/deno's client,
 * private to this isolate (no `init`, which would install it globally), over the shared fetch
 * transport (functions/entry/sentry-core.ts says what is sent).
 */
import { DenoClient } from '@sentry/deno';
import type { ErrorReporter } from '../../core/errors.ts';
import { fetchTransport, privateClientOptions, reporterOver, v8StackParser, type SentryOptions } from './sentry-core.ts';

export function createDenoSentryReporter(opts: SentryOptions): ErrorReporter {
  const client = new DenoClient({ ...privateClientOptions(opts), transport: fetchTransport, stackParser: v8StackParser });
  client.init();
  return reporterOver(client);
}
