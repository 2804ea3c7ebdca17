/** The log pullers a worker offers, built from configuration (every runtime: they only use fetch). */
import type { Config } from '../../../../core/env.ts';
import type { LogPuller } from './puller.ts';
import { HOUR } from './puller.ts';
import { createRenderLogPuller } from './render.ts';
import { createSentryLogPuller } from './sentry.ts';
import { createSupabaseLogPuller } from './supabase.ts';

export function logPullersFromConfig(config: Config, fetchImpl?: typeof fetch): Record<string, LogPuller> {
  const initialLookbackMs = config.SWITCHYARD_LOG_PULL_LOOKBACK_H * HOUR;
  return {
    supabase: createSupabaseLogPuller({ baseUrl: config.SWITCHYARD_SUPABASE_API_URL, initialLookbackMs, fetch: fetchImpl }),
    render: createRenderLogPuller({ baseUrl: config.SWITCHYARD_RENDER_API_URL, initialLookbackMs, fetch: fetchImpl }),
    sentry: createSentryLogPuller({ baseUrl: config.SWITCHYARD_SENTRY_API_URL, initialLookbackMs, fetch: fetchImpl }),
  };
}
