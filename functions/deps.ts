/**
 * What the HTTP app needs, passed in by each entry file. Nothing here is a module-level
 * singleton: a Workers entry can build one per request, Node builds one per process.
 */
import type { Db } from '../db/client.ts';
import type { Availability } from '../db/availability.ts';
import type { Signaler } from '../db/notify.repo.ts';
import type { Registry } from '../workers/registry.ts';
import type { Queue } from '../workers/queue/queue.ts';
import type { Config } from '../core/env.ts';
import type { SecretBox } from '../core/crypto.ts';
import type { Logger } from '../core/log.ts';
import type { RealtimeHub } from './lib/realtime-hub.ts';
import type { KeyPrincipal } from '../db/tenants.repo.ts';
import type { WorkerHost } from './routes/workers/workers.handlers.ts';
import type { Metrics } from '../core/metrics.ts';
import type { ErrorReporter } from '../core/errors.ts';
import type { Span, Tracer } from '../core/trace.ts';
import type { Breakers } from '../core/breakers.ts';
import type { RateLimiter } from '../core/rate-limit.ts';
import type { MetricsEndpoint } from './routes/metrics/metrics.handlers.ts';

export type AppConfig = Pick<
  Config,
  | 'SWITCHYARD_MAX_ATTEMPTS'
  | 'SWITCHYARD_PUBLIC_URL'
  | 'SWITCHYARD_BODY_LIMIT_BYTES'
  | 'SWITCHYARD_SSE_HEARTBEAT_MS'
  | 'SWITCHYARD_EVENT_TOKEN_TTL_S'
  | 'SWITCHYARD_AUTH_CACHE_MS'
  | 'SWITCHYARD_STORE_CREATES_PER_MIN'
  | 'SWITCHYARD_RATE_LIMIT'
  | 'SWITCHYARD_RATE_LIMIT_PLANS'
  | 'SWITCHYARD_RATE_LIMIT_CLASSES'
  | 'SWITCHYARD_RATE_LIMIT_FAIL'
  | 'SWITCHYARD_RATE_LIMIT_TIMEOUT_MS'
  | 'UPSTASH_REDIS_REST_URL'
  | 'UPSTASH_REDIS_REST_TOKEN'
  | 'SWITCHYARD_LOG_PULL_INTERVAL_S'
  | 'SWITCHYARD_ALERT_EVAL_INTERVAL_S'
  | 'SWITCHYARD_ALERT_ALLOW_PRIVATE_URLS'
  | 'SWITCHYARD_PAGERDUTY_EVENTS_URL'
  | 'SWITCHYARD_IMPORT_ALLOW_PRIVATE_HOSTS'
  | 'SWITCHYARD_STORE_CAP_FREE'
  | 'SWITCHYARD_STORE_CAP_PRO'
  | 'SWITCHYARD_STORE_CAP_ENTERPRISE'
  | 'SWITCHYARD_STORE_DEADLINE_MS'
  | 'SWITCHYARD_DEADLINES'
  | 'SWITCHYARD_REQUEST_TIMEOUT_MS'
  | 'SWITCHYARD_SSE_REVOCATION_CHECK_MS'
  | 'SWITCHYARD_MAX_INFLIGHT'
  | 'SUPABASE_URL'
  | 'SUPABASE_ANON_KEY'
  | 'SUPABASE_JWT_SECRET'
  | 'SUPABASE_JWT_PRIVATE_KEY'
  | 'SWITCHYARD_REALTIME_TOKEN_TTL_S'
>;

export interface AppDeps {
  db: Db;
  signals: Signaler;
  queue: Queue;
  box: SecretBox;
  log: Logger;
  registry: Registry;
  config: AppConfig;
  /** The project providers this deployment offers (`postgres`; `supabase` when configured); the first is the default. */
  projectProviders: readonly string[];
  /** The store runtimes this deployment can run (`postgres` always; `kubernetes` when configured). */
  storeRuntimes: readonly string[];
  /** Present where the process can hold a LISTEN connection (Node); SSE needs it. */
  realtime?: RealtimeHub;
  /** Knows, without waiting, whether the database answers (Node); requests then fail fast with 503. */
  availability?: Availability;
  /** Resolves a hostname to its addresses, where the runtime can (Node): alert channels are checked at create. */
  resolveHost?: (host: string) => Promise<string[]>;
  /** Keeps background work (dispatch after commit) alive past the response, on Workers. */
  waitUntil?: (p: Promise<unknown>) => void;
  /** Serve the public API (/v1, /openapi.json). Default true; a pure worker host turns it off. */
  api?: boolean;
  /** Present on a worker host of the QStash transport: serves /workers/*. */
  worker?: WorkerHost;
  /** Where events are counted (default: nowhere). */
  metrics?: Metrics;
  /** Where 500s go (Sentry, when SENTRY_DSN is set; default: only the log). */
  errors?: ErrorReporter;
  /** Makes the spans (default: one that exports nothing, for trace ids in logs and problems). */
  tracer?: Tracer;
  /** The process's circuit breakers: /readyz shows which are open. */
  breakers?: Breakers;
  /** Where rate-limit buckets live (default: Redis when UPSTASH_REDIS_REST_* are set, else Postgres). */
  rateLimiter?: RateLimiter;
  /** GET /metrics, when a scrape token is configured (Node). */
  metricsEndpoint?: MetricsEndpoint;
}

export interface Principal extends KeyPrincipal {
  /** How the caller authenticated: an API key, or a short-lived event token (read-only). */
  via: 'api_key' | 'event_token';
}

export type AppEnv = {
  Variables: {
    requestId: string;
    principal: Principal;
    /** The request's span (middleware/tracing.ts): its trace id is in logs and problems, and jobs continue it. */
    span: Span;
    /** The pending audit row of this request (middleware/audit.ts), once written. */
    auditId: string;
  };
};
