/**
 * The edge composition root, shared by Cloudflare Workers (entry/cloudflare.ts) and Supabase
 * Edge Functions (supabase/functions/api/index.ts). Unlike the Node root there is no embedded
 * Postgres, no data dir and no local runner: the queue is QStash and the worker host is the
 * same app's /workers/* routes. Web-standard APIs only (no node: imports).
 */
import { createDb } from '../../db/client.ts';
import { createSignaler } from '../../db/notify.repo.ts';
import { projectProvidersFromConfig } from '../../workers/providers/project/index.ts';
import { createQStashClient, createQStashQueue } from '../../workers/queue/qstash.ts';
import { createRegistry } from '../../workers/registry.ts';
import type { RunnerDeps } from '../../workers/run-job.ts';
import { projectTasks } from '../../workers/tasks/project.ts';
import { projectWatchTasks } from '../../workers/tasks/project-watch.ts';
import { storeTasks } from '../../workers/tasks/store.ts';
import { logTasks } from '../../workers/tasks/logs.ts';
import { alertTasks } from '../../workers/tasks/alerts.ts';
import { rolloutTasks } from '../../workers/tasks/rollouts.ts';
import { createPostgresStoreRuntime } from '../../workers/providers/store/postgres.ts';
import { logPullersFromConfig } from '../../workers/providers/logs/pull/index.ts';
import { createApp, type App } from '../app.ts';
import { ConfigError, parseConfig, qstashSettings, supabaseProviderWarning, type Config, type QStashConfig } from '../../core/env.ts';
import { createSecretBox, parseSecretKey, type SecretBox } from '../../core/crypto.ts';
import { newId } from '../../core/ids.ts';
import { createLogger } from '../../core/log.ts';
import { createWorkerHost, type WorkerHost } from '../routes/workers/workers.handlers.ts';
import { noReports, type ErrorReporter } from '../../core/errors.ts';
import type { Metrics } from '../../core/metrics.ts';
import { createBreakers, type Breakers } from '../../core/breakers.ts';
import type { Tracer } from '../../core/trace.ts';
import { platformSamples, queueSamples } from '../../db/metrics.repo.ts';
import { guardPuller } from '../../workers/providers/guard.ts';
import type { Logger } from '../../core/log.ts';
import { createOtlpMetrics, type OtlpMetrics } from './otlp-metrics.ts';
import type { SentryOptions } from './sentry-core.ts';
import { createTracing, type Tracing } from './tracing.ts';
import pkg from '../../package.json' with { type: 'json' };

export interface EdgeConfig {
  config: Config;
  qstash: QStashConfig;
  databaseUrl: string;
}

/**
 * Parses an edge runtime's variables (only the string ones: bindings are objects). Beyond the
 * Node rules, the edge needs a database URL, the secret key and the QStash settings; every
 * missing one is named.
 */
export function parseEdgeConfig(source: Record<string, unknown>, databaseUrl?: string): EdgeConfig {
  const vars = Object.fromEntries(Object.entries(source).filter((e): e is [string, string] => typeof e[1] === 'string' && e[1] !== ''));
  let config: Config | null = null;
  const problems: string[] = [];
  try {
    config = parseConfig(vars);
  } catch (err) {
    if (!(err instanceof ConfigError)) throw err;
    problems.push(...err.problems);
  }
  const need = (name: string, why: string) => {
    if (!problems.some((p) => p.startsWith(`${name}:`))) problems.push(`${name}: ${why}`);
  };
  const url = databaseUrl ?? vars.DATABASE_URL;
  if (!url) need('DATABASE_URL', 'is required on the edge (or a Hyperdrive binding named HYPERDRIVE)');
  if (!vars.SWITCHYARD_SECRET_KEY || !parseSecretKey(vars.SWITCHYARD_SECRET_KEY)) {
    need('SWITCHYARD_SECRET_KEY', 'is required on the edge: 32 bytes, base64url');
  }
  // QStash is the only queue transport on the edge.
  for (const name of ['QSTASH_TOKEN', 'QSTASH_CURRENT_SIGNING_KEY', 'QSTASH_NEXT_SIGNING_KEY', 'SWITCHYARD_WORKER_URL']) {
    if (!vars[name]) need(name, 'is required on the edge (QStash is the queue there)');
  }
  const qstash = config && qstashSettings(config);
  if (problems.length || !config || !url || !qstash) throw new ConfigError(problems);
  return { config, qstash, databaseUrl: url };
}

const boxes = new Map<string, Promise<SecretBox>>();
/** The AES/HMAC keys are derived once per isolate (CryptoKeys are not request-bound I/O). */
function secretBox(secret: string): Promise<SecretBox> {
  let box = boxes.get(secret);
  if (!box) {
    box = createSecretBox(parseSecretKey(secret)!);
    boxes.set(secret, box);
  }
  return box;
}

// Workers forbid random values at global scope: the isolate's worker id is made on first use.
let workerId: string | undefined;
// Alert notifications from the edge: the platform itself keeps fetch away from private networks;
// the URL check here still refuses loopback and private literals. Never allowed on the edge.
const registry = createRegistry([...projectTasks, ...projectWatchTasks({ allowPrivate: false }), ...storeTasks, ...logTasks, ...alertTasks({ allowPrivate: false }), ...rolloutTasks({ allowPrivate: false })]);

/**
 * What an isolate keeps across invocations for being observed: its error reporter (the runtime's
 * Sentry SDK, when SENTRY_DSN is set), its tracer and metrics (pushed over OTLP/HTTP when
 * OTEL_EXPORTER_OTLP_ENDPOINT is set), and its circuit breakers. `flush` sends what the
 * invocation recorded; the entry calls it in `waitUntil`, after the invocation's background work.
 */
export interface EdgeTelemetry {
  log: Logger;
  errors: ErrorReporter;
  tracer: Tracer;
  breakers: Breakers;
  /** Absent when nothing is pushed (no OTLP endpoint): nothing is recorded then. */
  metrics?: Metrics;
  otlp: OtlpMetrics | null;
  flush(): Promise<void>;
}

export interface EdgeRuntime {
  name: 'cloudflare' | 'deno';
  /** The runtime's Sentry client (sentry-cloudflare.ts, sentry-deno.ts). */
  sentry(opts: SentryOptions): ErrorReporter;
}

let telemetry: EdgeTelemetry | undefined;
/** The isolate's telemetry, made on first use (Workers forbid I/O and random values at global scope). */
export function edgeTelemetry(edge: EdgeConfig, runtime: EdgeRuntime): EdgeTelemetry {
  if (telemetry) return telemetry;
  const { config } = edge;
  const log = createLogger(config.LOG_LEVEL);
  const release = config.SWITCHYARD_RELEASE ?? `switchyard@${pkg.version}`;
  const instanceId = (workerId ??= newId('wrk'));
  const otlpCommon = {
    ...(config.OTEL_EXPORTER_OTLP_ENDPOINT ? { endpoint: config.OTEL_EXPORTER_OTLP_ENDPOINT } : {}),
    ...(config.OTEL_EXPORTER_OTLP_HEADERS ? { headers: config.OTEL_EXPORTER_OTLP_HEADERS } : {}),
    serviceName: config.OTEL_SERVICE_NAME, release, role: config.SWITCHYARD_ROLE,
  };
  const tracing: Tracing = createTracing({
    ...otlpCommon,
    ...(config.OTEL_EXPORTER_OTLP_TRACES_ENDPOINT ? { tracesEndpoint: config.OTEL_EXPORTER_OTLP_TRACES_ENDPOINT } : {}),
    attributes: { 'service.instance.id': instanceId, 'switchyard.runtime': runtime.name },
  });
  const otlp = createOtlpMetrics({
    ...otlpCommon,
    ...(config.OTEL_EXPORTER_OTLP_METRICS_ENDPOINT ? { metricsEndpoint: config.OTEL_EXPORTER_OTLP_METRICS_ENDPOINT } : {}),
    temporality: config.OTEL_EXPORTER_OTLP_METRICS_TEMPORALITY_PREFERENCE,
    instanceId, runtime: runtime.name,
    onError: (err) => log.warn('pushing metrics failed; this invocation\'s figures are kept for the next push', { err }),
  });
  const metrics = otlp?.metrics;
  const breakers: Breakers = createBreakers({
    halfOpenAfterMs: config.SWITCHYARD_BREAKER_HALF_OPEN_MS,
    onChange(dependency, group, to) {
      metrics?.inc('circuit_breaker_transitions_total', { group, to });
      metrics?.set('circuit_breakers_open', { group }, breakers.status().filter((b) => b.group === group && b.state !== 'closed').length);
      if (to === 'open') log.warn('circuit breaker opened: calls to it fail fast, and steps that need it wait', { dependency, state: to });
      else log.info(`circuit breaker ${to}`, { dependency, state: to });
    },
  });
  const errors = config.SENTRY_DSN
    ? runtime.sentry({ dsn: config.SENTRY_DSN, environment: config.SENTRY_ENVIRONMENT, release, serverName: `switchyard-${runtime.name}` })
    : noReports;
  telemetry = {
    log, errors, tracer: tracing.tracer, breakers, otlp, ...(metrics ? { metrics } : {}),
    async flush() {
      // Each bounded: an invocation's waitUntil has 30 s on Workers.
      await Promise.allSettled([
        errors.flush(5000),
        tracing.exporting ? tracing.flush().catch((err) => log.warn('exporting spans failed', { err })) : undefined,
        otlp?.flush(),
      ]);
    },
  };
  return telemetry;
}

/** Once a minute on the sweeper's run: the database's figures (jobs by status, projects by plan…) for the next push. */
export async function recordCollectedMetrics(context: EdgeContext, telemetry: EdgeTelemetry): Promise<void> {
  if (!telemetry.otlp) return;
  const [queue, platform] = await Promise.all([queueSamples(context.db.sql, [...registry.keys()]), platformSamples(context.db.sql)]);
  telemetry.otlp.record([...queue, ...platform]);
}

export interface EdgeContext {
  app: App;
  host: WorkerHost | undefined;
  db: ReturnType<typeof createDb>;
  /** Closes this context's database clients (after background work, on Workers). */
  close(): Promise<void>;
}

/**
 * Builds the app over fresh database clients. Workers call it per request (a socket belongs to
 * the request that opened it, and Hyperdrive pools for us); Deno calls it once per isolate.
 */
export async function createEdgeContext(
  edge: EdgeConfig,
  telemetry: EdgeTelemetry,
  opts: { waitUntil?: (p: Promise<unknown>) => void; poolMax?: number } = {},
): Promise<EdgeContext> {
  const { config, qstash } = edge;
  const { log, errors, tracer, breakers, metrics } = telemetry;
  const db = createDb(edge.databaseUrl, { max: opts.poolMax ?? 5, prepare: config.DATABASE_PREPARE, applicationName: 'switchyard-edge', ...(metrics ? { metrics } : {}) });
  const signals = createSignaler(db.sql, { onError: (err) => log.warn('signal failed; pollers will catch up', { err }) });
  const queue = createQStashQueue({ client: createQStashClient(qstash), sql: db.sql, settings: qstash, log, tracer, breakers });
  const halfSupabase = supabaseProviderWarning(config);
  if (halfSupabase) log.warn(halfSupabase);
  const projectProviders = projectProvidersFromConfig(config, { sql: db.sql, dataPlaneUrl: config.DATA_PLANE_DATABASE_URL ?? edge.databaseUrl, breakers });
  const storeRuntime = createPostgresStoreRuntime({ url: config.DATA_PLANE_DATABASE_URL ?? edge.databaseUrl });
  const box = await secretBox(config.SWITCHYARD_SECRET_KEY!);

  const runner: RunnerDeps = {
    db, signals, box, log, registry, queue, errors, tracer, breakers, ...(metrics ? { metrics } : {}),
    providers: {
      projects: projectProviders.providers,
      stores: { postgres: storeRuntime },
      logs: Object.fromEntries(Object.entries(logPullersFromConfig(config)).map(([k, p]) => [k, p && guardPuller(p, breakers)])),
    },
    workerId: (workerId ??= newId('wrk')),
    leaseMs: config.SWITCHYARD_JOB_LEASE_MS,
    retry: { baseMs: config.SWITCHYARD_RETRY_BASE_MS, maxMs: config.SWITCHYARD_RETRY_MAX_MS },
  };
  const host: WorkerHost | undefined = config.SWITCHYARD_ROLE === 'api' ? undefined : createWorkerHost(runner, qstash, config);
  const app = createApp({
    errors, tracer, breakers, ...(metrics ? { metrics } : {}),
    db, signals, queue, box, log, registry, config, projectProviders: Object.keys(projectProviders.providers), storeRuntimes: Object.keys(runner.providers.stores),
    api: config.SWITCHYARD_ROLE !== 'worker',
    ...(host ? { worker: host } : {}),
    ...(opts.waitUntil ? { waitUntil: opts.waitUntil } : {}),
  });
  return {
    app,
    host,
    db,
    async close() {
      await Promise.allSettled([projectProviders.close(), storeRuntime.close(), db.close()]);
    },
  };
}

/** A configuration error as the edge answers it: 500 problem+json naming the variables, no values. */
export function configErrorResponse(err: ConfigError): Response {
  return new Response(JSON.stringify({
    type: 'https://switchyard.dev/problems/misconfigured',
    title: 'Misconfigured',
    status: 500,
    detail: 'the deployment is missing or has invalid settings',
    errors: err.problems.map((p) => ({ field: p.split(':')[0], message: p.slice(p.indexOf(':') + 1).trim().replace(/ \(got .*\)$/, '') })),
    request_id: null,
  }), { status: 500, headers: { 'Content-Type': 'application/problem+json' } });
}
