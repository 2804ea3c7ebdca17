/**
 * The project providers a deployment offers, from its configuration: `postgres` always (databases
 * on the data-plane server), `supabase` when SUPABASE_ACCESS_TOKEN and SUPABASE_ORGANIZATION_SLUG
 * are both set. The Supabase provider sits behind the `supabase-api` circuit breaker, and its
 * calls share one token-bucket budget per scope and endpoint in Postgres, whichever worker makes
 * them.
 */
import type { Breakers } from '../../../core/breakers.ts';
import type { Sql } from '../../../db/client.ts';
import { takeTokenBatch } from '../../../db/rate-limits.repo.ts';
import { supabaseProviderSettings, type Config } from '../../../core/env.ts';
import { PermanentError, WaitError } from '../../step.ts';
import { dependencyFailed } from '../guard.ts';
import { createPostgresProvisioner } from './postgres.ts';
import type { ProjectProvider } from './provisioner.ts';
import { createSupabaseProvider, type CallBudget } from './supabase.ts';
import { createManagementClient } from './supabase-management.ts';

/** A shared budget over the Postgres token buckets: 0 when a token was taken, else ms until one refills. */
export function postgresBudget(sql: Sql, policy: { perMinute: number; burst: number }): CallBudget {
  const limit = { name: 'calls', perMinute: policy.perMinute, burst: policy.burst };
  return async (key) => {
    const { granted, buckets } = await takeTokenBatch(sql, key, [limit], 1);
    if (granted >= 1) return 0;
    const missing = 1 - (buckets[0]?.tokens ?? 0);
    return Math.max(50, Math.ceil((missing / (policy.perMinute / 60)) * 1000));
  };
}

/** Calls through the breaker; only an outage opens it (a wait or a refusal is Supabase answering). */
export function guardProjectProvider(provider: ProjectProvider, breakers: Breakers, dependency: string): ProjectProvider {
  const failed = (err: unknown) => !(err instanceof WaitError) && !(err instanceof PermanentError) && dependencyFailed(err);
  return {
    name: provider.name,
    provision: (input, ctx) => breakers.run(dependency, () => provider.provision(input, ctx), failed),
    suspend: (h, ctx) => breakers.run(dependency, () => provider.suspend(h, ctx), failed),
    resume: (h, ctx) => breakers.run(dependency, () => provider.resume(h, ctx), failed),
    remove: (h, ctx) => breakers.run(dependency, () => provider.remove(h, ctx), failed),
    health: (h, ctx) => breakers.run(dependency, () => provider.health(h, ctx), failed),
  };
}

export function projectProvidersFromConfig(
  config: Config,
  opts: { sql: Sql; dataPlaneUrl: string; breakers?: Breakers; fetch?: typeof fetch },
): { providers: Record<string, ProjectProvider>; close(): Promise<void> } {
  const postgres = createPostgresProvisioner({ url: opts.dataPlaneUrl });
  const providers: Record<string, ProjectProvider> = { postgres };
  const settings = supabaseProviderSettings(config);
  if (settings) {
    const client = createManagementClient({ token: settings.token, baseUrl: settings.baseUrl, ...(opts.fetch ? { fetch: opts.fetch } : {}) });
    const supabase = createSupabaseProvider({ client, organizationSlug: settings.organizationSlug, logs: { token: settings.token, pullIntervalS: config.SWITCHYARD_LOG_PULL_INTERVAL_S }, budget: postgresBudget(opts.sql, settings.rate), pollMs: settings.pollMs });
    providers.supabase = opts.breakers ? guardProjectProvider(supabase, opts.breakers, 'supabase-api') : supabase;
  }
  return { providers, close: () => postgres.close() };
}
