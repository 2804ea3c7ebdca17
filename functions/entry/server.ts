/**
 * The Node composition root: builds every dependency from a parsed Config and starts the roles
 * asked for (API, runner, or both). `npm start` (entry/node.ts) and the tests both use it.
 */
import { CURRENT_API_VERSION } from '../../core/api-versions.ts';
import { createAdaptorServer, type ServerType } from '@hono/node-server';
import { existsSync, readFileSync, writeSync } from 'node:fs';
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { createDb, type Db } from '../../db/client.ts';
import { createSignaler } from '../../db/notify.repo.ts';
import { migrate } from './migrate.ts';
import { getOperatorTenant, insertApiKey, insertTenant } from '../../db/tenants.repo.ts';
import { createLocalRunner, type LocalRunner } from '../../workers/queue/local-runner.ts';
import { createLocalQueue, type Queue } from '../../workers/queue/queue.ts';
import { createQStashClient, createQStashQueue } from '../../workers/queue/qstash.ts';
import { createWorkerHost, type WorkerHost } from '../routes/workers/workers.handlers.ts';
import { projectProvidersFromConfig } from '../../workers/providers/project/index.ts';
import { createRegistry, type Task } from '../../workers/registry.ts';
import { projectTasks } from '../../workers/tasks/project.ts';
import { projectWatchTasks } from '../../workers/tasks/project-watch.ts';
import { storeTasks } from '../../workers/tasks/store.ts';
import { logTasks } from '../../workers/tasks/logs.ts';
import { alertTasks } from '../../workers/tasks/alerts.ts';
import { rolloutTasks } from '../../workers/tasks/rollouts.ts';
import { createGuardedFetch } from '../../workers/providers/alerts/guarded-fetch.ts';
import { lookup } from 'node:dns/promises';
import { monitorEventLoopDelay } from 'node:perf_hooks';
import { createPostgresStoreRuntime } from '../../workers/providers/store/postgres.ts';
import { kubernetesRuntimeFromConfig } from '../../workers/providers/store/kubernetes.ts';
import { logPullersFromConfig } from '../../workers/providers/logs/pull/index.ts';
import { housekeepingOptions } from '../../workers/scheduler.ts';
import type { RunnerDeps } from '../../workers/run-job.ts';
import { createApp } from '../app.ts';
import { parserProblem } from '../errors.ts';
import { qstashSettings, supabaseProviderWarning, type Config } from '../../core/env.ts';
import { createSecretBox, generateSecretKey, parseSecretKey } from '../../core/crypto.ts';
import { newId } from '../../core/ids.ts';
import { mintApiKey } from '../lib/keys.ts';
import { createLogger, type Logger } from '../../core/log.ts';
import { createRealtimeHub, type RealtimeHub } from '../lib/realtime-hub.ts';
import { assertPortFree, startEmbeddedPostgres, type EmbeddedHandle } from './embedded-postgres.ts';
import { createAvailability, type Availability } from '../../db/availability.ts';
import { createDashboard, isDashboardPath } from './dashboard.ts';
import { createDocs, isDocsPath } from './docs.ts';
import { createPrometheus, type Prometheus } from './prometheus.ts';
import { createSentryReporter } from './sentry.ts';
import { createTracing } from './tracing.ts';
import { createBreakers, type Breakers } from '../../core/breakers.ts';
import { guardPuller, guardStoreRuntime } from '../../workers/providers/guard.ts';
import { noReports, type ErrorReporter } from '../../core/errors.ts';
import { noMetrics, type Metrics } from '../../core/metrics.ts';
import { platformSamples, poolSamples, queueSamples } from '../../db/metrics.repo.ts';
import { createServer as createHttpServer, type Server as HttpServer } from 'node:http';

export interface Running {
  url: string | null;
  /** The METRICS_PORT listener's /metrics, when there is one. */
  metricsUrl: string | null;
  /** Sends the spans ended so far (tests; stop() does it too). */
  flushTraces(): Promise<void>;
  db: Db;
  log: Logger;
  runner: LocalRunner | null;
  runnerDeps: RunnerDeps;
  adminKey: string | null;
  /** Clean shutdown: stop accepting, let running steps finish (bounded), close, stop Postgres. */
  stop(): Promise<void>;
  /** Last resort, synchronous: tell the embedded Postgres to shut down immediately (crash-safe). */
  kill(): void;
  /** The embedded Postgres's postmaster pid, when there is one (tests freeze and kill it). */
  postgresPid(): number | undefined;
}

export interface StartOptions {
  log?: Logger;
  /** Extra task kinds, or replacements for built-in ones (tests). */
  extraTasks?: Task<any>[];
  /** Print the first-start banner (npm start), or stay quiet (tests). */
  banner?: boolean;
  /** The embedded Postgres died and could not be restarted (npm start exits non-zero with it). */
  onFatal?: (err: Error) => void;
}

async function loadSecret(config: Config, dataDir: string): Promise<Uint8Array<ArrayBuffer>> {
  if (config.SWITCHYARD_SECRET_KEY) {
    const key = parseSecretKey(config.SWITCHYARD_SECRET_KEY);
    if (!key) throw new Error('SWITCHYARD_SECRET_KEY must be 32 bytes, base64url-encoded');
    return key;
  }
  const file = join(dataDir, 'secret-key');
  if (!existsSync(file)) {
    await mkdir(dataDir, { recursive: true });
    await writeFile(file, generateSecretKey(), { mode: 0o600, flag: 'wx' }).catch((e) => {
      if (e.code !== 'EEXIST') throw e; // another process won the race; use its key
    });
  }
  return parseSecretKey(await readFile(file, 'utf8'))!;
}

/** Creates the operator tenant and its admin key once; later starts find it. */
export async function bootstrapOperator(db: Db, dataDir: string): Promise<{ key: string | null; created: boolean }> {
  const keyFile = join(dataDir, 'admin-key');
  if (await getOperatorTenant(db.orm)) {
    return { key: existsSync(keyFile) ? (await readFile(keyFile, 'utf8')).trim() : null, created: false };
  }
  const key = await mintApiKey();
  try {
    await db.orm.transaction(async (tx) => {
      const tenant = await insertTenant(tx, { id: newId('ten'), name: 'operator', plan: 'enterprise', apiVersion: CURRENT_API_VERSION, isOperator: true });
      await insertApiKey(tx, { id: key.id, tenantId: tenant.id, role: 'admin', hash: key.hash, prefix: key.prefix, name: 'operator admin (first start)' });
    });
  } catch (err) {
    // Two processes raced through first start; the other one created the operator.
    if ((err as { code?: string }).code === '23505') return { key: null, created: false };
    throw err;
  }
  await mkdir(dataDir, { recursive: true });
  await writeFile(keyFile, `${key.secret}\n`, { mode: 0o600 });
  return { key: key.secret, created: true };
}

export async function startSwitchyard(config: Config, opts: StartOptions = {}): Promise<Running> {
  const log = opts.log ?? createLogger(config.LOG_LEVEL, {}, batchedStdout());
  const dataDir = resolve(config.SWITCHYARD_DATA_DIR);
  let embedded: EmbeddedHandle | null = null;
  let url = config.DATABASE_URL;
  const serveApi = config.SWITCHYARD_ROLE !== 'worker';
  const runWorker = config.SWITCHYARD_ROLE !== 'api';
  const qstash = qstashSettings(config);
  // Fail before starting anything when our own port is taken, naming it and its holder.
  if ((serveApi || (qstash && runWorker)) && config.PORT !== 0) await assertPortFree(config.HOST, config.PORT, 'PORT', 'the API');
  if (!url) {
    log.info('starting embedded postgres', { data_dir: dataDir, port: config.EMBEDDED_PG_PORT });
    embedded = await startEmbeddedPostgres(dataDir, config.EMBEDDED_PG_PORT, {
      onNotice: (message) => log.info(message),
      onRestart: ({ attempt, reason }) => log.error('embedded postgres stopped; restarting it', { attempt, reason }),
      onFatal: (err) => (opts.onFatal ? opts.onFatal(err) : log.error('embedded postgres is gone', { err })),
    });
    url = embedded.url;
  }

  // Metrics are recorded only where something can read them (a scrape token or a metrics port).
  const prom: Prometheus | null = config.SWITCHYARD_METRICS_TOKEN || config.METRICS_PORT !== undefined
    ? createPrometheus({ onCollectorError: (err) => log.warn('a metrics collector failed; /metrics keeps its last values', { err }) })
    : null;
  const metrics: Metrics = prom?.metrics ?? noMetrics;
  const release = config.SWITCHYARD_RELEASE ?? `switchyard@${packageVersion()}`;
  const tracing = createTracing({
    ...(config.OTEL_EXPORTER_OTLP_ENDPOINT ? { endpoint: config.OTEL_EXPORTER_OTLP_ENDPOINT } : {}),
    ...(config.OTEL_EXPORTER_OTLP_TRACES_ENDPOINT ? { tracesEndpoint: config.OTEL_EXPORTER_OTLP_TRACES_ENDPOINT } : {}),
    ...(config.OTEL_EXPORTER_OTLP_HEADERS ? { headers: config.OTEL_EXPORTER_OTLP_HEADERS } : {}),
    serviceName: config.OTEL_SERVICE_NAME, release, role: config.SWITCHYARD_ROLE,
  });
  const tracer = tracing.tracer;
  const breakers: Breakers = createBreakers({
    halfOpenAfterMs: config.SWITCHYARD_BREAKER_HALF_OPEN_MS,
    onChange(dependency, group, to) {
      metrics.inc('circuit_breaker_transitions_total', { group, to });
      metrics.set('circuit_breakers_open', { group }, breakers.status().filter((b) => b.group === group && b.state !== 'closed').length);
      const fields = { dependency, state: to };
      if (to === 'open') log.warn('circuit breaker opened: calls to it fail fast, and steps that need it wait', fields);
      else log.info(`circuit breaker ${to === 'closed' ? 'closed' : 'half-open: one probe call goes through'}`, fields);
    },
  });
  const errors: ErrorReporter = config.SENTRY_DSN
    ? createSentryReporter({ dsn: config.SENTRY_DSN, environment: config.SENTRY_ENVIRONMENT, release })
    : noReports;
  // Unique per process (and per system, where tests run two in one), so /metrics can count this
  // pool's connections in pg_stat_activity (at most 63 bytes: Postgres truncates longer names).
  const workerId = newId('wrk');
  const applicationName = `switchyard ${config.SWITCHYARD_ROLE} ${process.pid} ${workerId}`;
  const db = createDb(url, {
    applicationName, ...(prom ? { metrics } : {}),
    max: config.DATABASE_POOL_MAX, prepare: config.DATABASE_PREPARE,
    connectTimeoutS: config.DATABASE_CONNECT_TIMEOUT_S, statementTimeoutMs: config.DATABASE_STATEMENT_TIMEOUT_MS,
  });
  let box: Awaited<ReturnType<typeof createSecretBox>>;
  let bootstrap: Awaited<ReturnType<typeof bootstrapOperator>>;
  try {
    const applied = await migrate(db.sql);
    if (applied.length) log.info('applied migrations', { migrations: applied });
    box = await createSecretBox(await loadSecret(config, dataDir));
    bootstrap = await bootstrapOperator(db, dataDir);
  } catch (err) {
    // Don't leave an embedded server running behind a process that is about to exit.
    await db.close().catch(() => {});
    await embedded?.stop().catch(() => {});
    throw err;
  }
  const halfSupabase = supabaseProviderWarning(config);
  if (halfSupabase) log.warn(halfSupabase);
  const projectProviders = projectProvidersFromConfig(config, { sql: db.sql, dataPlaneUrl: config.DATA_PLANE_DATABASE_URL ?? url, breakers });
  const storeRuntime = createPostgresStoreRuntime({ url: config.DATA_PLANE_DATABASE_URL ?? url });
  const kubernetes = kubernetesRuntimeFromConfig(config);
  const signals = createSignaler(db.sql, { onError: (err) => log.warn('signal failed; pollers will catch up', { err }) });
  const availability: Availability = createAvailability(url, {
    intervalMs: config.DATABASE_PROBE_INTERVAL_MS, timeoutMs: config.DATABASE_PROBE_TIMEOUT_MS, connectTimeoutS: Math.min(2, config.DATABASE_CONNECT_TIMEOUT_S),
  });
  availability.onChange((up, reason) => (up ? log.info('database reachable again') : log.error('database unavailable', { reason })));
  const transport: Queue = qstash
    ? createQStashQueue({ client: createQStashClient(qstash), sql: db.sql, settings: qstash, log, tracer, breakers })
    : createLocalQueue(signals);
  const queue: Queue = prom ? countDispatches(transport, metrics) : transport;
  const resolveHost = async (host: string) => (await lookup(host, { all: true })).map((a) => a.address);
  // Alert and rollout notifications go out under the same guard (tenant URLs, from inside our network).
  const outbound = {
    allowPrivate: config.SWITCHYARD_ALERT_ALLOW_PRIVATE_URLS,
    resolve: resolveHost,
    fetch: createGuardedFetch({ allowPrivate: config.SWITCHYARD_ALERT_ALLOW_PRIVATE_URLS }),
  };
  const alerts = alertTasks(outbound);
  const rollouts = rolloutTasks(outbound);
  // An extra task of a built-in kind replaces it (tests wrap one to hang it mid-step).
  const extra = opts.extraTasks ?? [];
  const watch = projectWatchTasks({ allowPrivate: config.SWITCHYARD_IMPORT_ALLOW_PRIVATE_HOSTS, resolve: resolveHost });
  const builtIn = [...projectTasks, ...watch, ...storeTasks, ...logTasks, ...alerts, ...rollouts].filter((t) => !extra.some((e) => e.kind === t.kind));
  const registry = createRegistry([...builtIn, ...extra]);

  const runnerDeps: RunnerDeps = {
    db, signals, box, log, registry, queue, availability, errors, tracer, breakers, ...(prom ? { metrics } : {}),
    providers: {
      projects: projectProviders.providers,
      stores: { postgres: storeRuntime, ...(kubernetes ? { kubernetes: guardStoreRuntime(kubernetes, breakers, 'kubernetes') } : {}) },
      logs: Object.fromEntries(Object.entries(logPullersFromConfig(config)).map(([k, p]) => [k, p && guardPuller(p, breakers)])),
    },
    workerId,
    leaseMs: config.SWITCHYARD_JOB_LEASE_MS,
    retry: { baseMs: config.SWITCHYARD_RETRY_BASE_MS, maxMs: config.SWITCHYARD_RETRY_MAX_MS },
  };

  // Roles: the API serves /v1; a worker runs jobs, by the local runner, or (on QStash) by serving
  // the /workers/* routes that QStash delivers to.
  const worker: WorkerHost | undefined = qstash && runWorker ? createWorkerHost(runnerDeps, qstash, config) : undefined;

  let server: ServerType | null = null;
  let hub: RealtimeHub | null = null;
  let publicUrl: string | null = null;
  if (serveApi || worker) {
    hub = serveApi ? await createRealtimeHub(db.sql, log, { pollMs: config.SWITCHYARD_REALTIME_POLL_MS, ...(prom ? { metrics } : {}) }) : null;
    const app = createApp({
      errors, tracer, breakers,
      ...(prom ? { metrics, ...(config.SWITCHYARD_METRICS_TOKEN ? { metricsEndpoint: { token: config.SWITCHYARD_METRICS_TOKEN, render: () => prom.render(), contentType: prom.contentType } } : {}) } : {}),
      db, signals, queue, box, log, registry, config, availability, resolveHost, projectProviders: Object.keys(projectProviders.providers), storeRuntimes: Object.keys(runnerDeps.providers.stores),
      ...(hub ? { realtime: hub } : {}),
      api: serveApi,
      ...(worker ? { worker } : {}),
    });
    const listening = await new Promise<{ port: number }>((res, rej) => {
      // The dashboard's static files sit in front of the API on processes that serve it.
      // So does the API explorer at /docs (functions/entry/docs.ts).
      const dashboard = serveApi ? createDashboard(config.SWITCHYARD_WEB_DIR, { supabaseUrl: config.SUPABASE_URL }) : null;
      const docs = serveApi ? createDocs() : null;
      const fetch = (req: Request, env?: unknown) => {
        const path = new URL(req.url).pathname;
        if (dashboard && isDashboardPath(req.method, path)) return dashboard.fetch(req);
        if (docs && isDocsPath(req.method, path)) return docs.fetch(req);
        return app.fetch(req, env);
      };
      server = createAdaptorServer({ fetch });
      // Node accepts one new connection per event-loop turn (libuv ≥ 1.45, libuv/libuv#3696), so
      // under load a reconnecting client waits in the accept queue behind every other one: seconds,
      // in a spike. Clients waiting out a Retry-After (up to 30 s) keep their connection instead of
      // losing it after Node's default 5 s; 65 s also outlasts the 60 s idle timeout of common load
      // balancers, which must close an idle connection before the server does.
      (server as unknown as import('node:http').Server).keepAliveTimeout = 65_000;
      (server as unknown as import('node:http').Server).headersTimeout = 66_000;
      // Node's default accept backlog (511) overflows when a spike of clients connects at once,
      // and a dropped SYN costs its client 1 s, then 3 s, then 7 s (bench: creates at p95 5 s in a
      // spike to 500 connections). The kernel caps it at net.core.somaxconn.
      (server as unknown as import('node:net').Server).listen({ port: config.PORT, host: config.HOST, backlog: 4096 }, () =>
        res(server!.address() as { port: number }));
      // Node answers parser errors itself, with an empty body; ours is problem+json like every other.
      (server as unknown as import('node:http').Server).on('clientError', (err: NodeJS.ErrnoException, socket: import('node:stream').Duplex) => {
        if (!socket.writable || (socket as { _httpMessage?: unknown })._httpMessage) return void socket.destroy();
        const { status, body } = parserProblem(err.code);
        socket.end(`HTTP/1.1 ${status} ${status === 431 ? 'Request Header Fields Too Large' : status === 408 ? 'Request Timeout' : 'Bad Request'}\r\n`
          + `Content-Type: application/problem+json\r\nContent-Length: ${Buffer.byteLength(body)}\r\nX-Content-Type-Options: nosniff\r\nConnection: close\r\n\r\n${body}`);
      });
      server.once('error', (err: NodeJS.ErrnoException) => rej(err.code === 'EADDRINUSE'
        ? new Error(`port ${config.PORT} on ${config.HOST}, wanted by the API, is already in use; set PORT to a free port`)
        : err));
    });
    publicUrl = config.SWITCHYARD_PUBLIC_URL ?? `http://${config.HOST}:${listening.port}`;
    log.info('listening', { url: publicUrl, api: serveApi, worker: worker ? 'qstash' : false, queue: queue.name, project_providers: Object.keys(projectProviders.providers), store_runtimes: Object.keys(runnerDeps.providers.stores), realtime: config.SUPABASE_JWT_SECRET || config.SUPABASE_JWT_PRIVATE_KEY ? ['supabase', 'sse'] : ['sse'] });
    if (config.SUPABASE_URL && !config.SUPABASE_JWT_SECRET && !config.SUPABASE_JWT_PRIVATE_KEY) {
      log.warn('SUPABASE_URL is set without SUPABASE_JWT_SECRET or SUPABASE_JWT_PRIVATE_KEY: Supabase Realtime tokens can\'t be minted, so only SSE is offered');
    }
  }

  let runner: LocalRunner | null = null;
  if (runWorker && !qstash) {
    runner = createLocalRunner(runnerDeps, {
      concurrency: config.SWITCHYARD_WORKER_CONCURRENCY,
      pollIntervalMs: config.SWITCHYARD_POLL_INTERVAL_MS,
      sweepIntervalMs: config.SWITCHYARD_SWEEP_INTERVAL_MS,
      housekeeping: housekeepingOptions(config),
    });
    await runner.start();
  }

  let metricsServer: HttpServer | null = null;
  if (prom) {
    prom.addCollector(['jobs', 'jobs_oldest_due_age_seconds'], () => queueSamples(db.sql, [...registry.keys()]));
    prom.addCollector(['tenants', 'projects', 'stores'], () => platformSamples(db.sql));
    prom.addCollector(['db_pool_size', 'db_pool_connections'], () => poolSamples(db.sql, applicationName, config.DATABASE_POOL_MAX));
    if (config.METRICS_PORT !== undefined) metricsServer = await listenForScrapes(prom, config.METRICS_HOST, config.METRICS_PORT, log);
  }

  if (opts.banner && bootstrap.created && bootstrap.key) {
    const base = publicUrl ?? `http://${config.HOST}:${config.PORT}`;
    console.log([
      '',
      '  Switchyard is up. This is the operator admin key; it is shown once and saved to',
      `  ${join(dataDir, 'admin-key')} (mode 0600):`,
      '',
      `    ${bootstrap.key}`,
      '',
      '  Try it:',
      `    curl -s -X POST ${base}/v1/projects -H "Authorization: Bearer $(cat ${join(dataDir, 'admin-key')})" \\`,
      `      -H 'Content-Type: application/json' -d '{"name":"my first project"}'`,
      '',
    ].join('\n'));
  }

  // What a soak watches for growth: memory, event-loop delay, open handles, the pool's connections.
  let statsTimer: ReturnType<typeof setInterval> | undefined;
  if (config.SWITCHYARD_RUNTIME_STATS_S > 0) {
    const delay = monitorEventLoopDelay({ resolution: 10 });
    delay.enable();
    statsTimer = setInterval(() => {
      const mem = process.memoryUsage();
      const handles = (process as unknown as { _getActiveHandles?: () => unknown[] })._getActiveHandles?.().length ?? null;
      log.info('runtime', {
        rss_mb: Math.round(mem.rss / 1048576), heap_mb: Math.round(mem.heapUsed / 1048576),
        event_loop_p50_ms: Math.round(delay.percentile(50) / 1e4) / 100, event_loop_p99_ms: Math.round(delay.percentile(99) / 1e4) / 100,
        event_loop_max_ms: Math.round(delay.max / 1e4) / 100, handles, runner_active: runner?.active ?? null,
      });
      delay.reset();
    }, config.SWITCHYARD_RUNTIME_STATS_S * 1000);
    statsTimer.unref();
  }

  let stopping: Promise<void> | null = null;
  const metricsAddress = metricsServer ? (metricsServer as HttpServer).address() as { port: number } : null;
  return {
    url: publicUrl,
    metricsUrl: metricsAddress ? `http://${config.METRICS_HOST}:${metricsAddress.port}/metrics` : null,
    flushTraces: () => tracing.flush(),
    db,
    log,
    runner,
    runnerDeps,
    adminKey: bootstrap.key,
    postgresPid: () => embedded?.pid(),
    kill() {
      const pid = embedded?.pid();
      if (pid) try { process.kill(pid, 'SIGCONT'); process.kill(pid, 'SIGQUIT'); } catch { /* already gone */ }
    },
    stop() {
      stopping ??= (async () => {
        clearInterval(statsTimer);
        const s = server as ServerType | null;
        if (s) {
          // Stop accepting; open keep-alive and SSE connections are closed so close() can finish.
          await new Promise<void>((r) => {
            s.close(() => r());
            (s as unknown as { closeAllConnections?: () => void }).closeAllConnections?.();
          });
        }
        if (metricsServer) await new Promise<void>((r) => metricsServer!.close(() => r()));
        if (runner) await runner.stop(config.SWITCHYARD_SHUTDOWN_GRACE_MS);
        await hub?.close().catch(() => {});
        await availability.close();
        // Each close is bounded: a connection stuck in start-up or on a frozen server is dropped.
        await Promise.allSettled([projectProviders.close(), storeRuntime.close(), db.close(2)]);
        await embedded?.stop(3000);
        await errors.flush(2000);
        await tracing.shutdown().catch(() => {});
        log.info('stopped');
      })();
      return stopping;
    },
  };
}

/** Counts what is handed to the queue transport, by transport. */
function countDispatches(queue: Queue, metrics: Metrics): Queue {
  return {
    name: queue.name,
    async dispatch(jobs) {
      await queue.dispatch(jobs);
      if (jobs.length) metrics.inc('jobs_enqueued_total', { queue: queue.name }, jobs.length);
    },
  };
}

/**
 * METRICS_PORT: a listener that serves only GET /metrics, without a token, for a scraper on a
 * private network (bound to METRICS_HOST, 127.0.0.1 by default). Everything else is a 404.
 */
async function listenForScrapes(prom: Prometheus, host: string, port: number, log: Logger): Promise<HttpServer> {
  const server = createHttpServer((req, res) => {
    if (req.method !== 'GET' || (req.url ?? '').split('?')[0] !== '/metrics') {
      res.writeHead(404, { 'content-type': 'text/plain' }).end('only GET /metrics is served here\n');
      return;
    }
    prom.render().then(
      (text) => res.writeHead(200, { 'content-type': prom.contentType, 'cache-control': 'no-store' }).end(text),
      (err) => {
        log.error('rendering /metrics failed', { err });
        res.writeHead(500, { 'content-type': 'text/plain' }).end('metrics unavailable\n');
      },
    );
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', (err: NodeJS.ErrnoException) => reject(err.code === 'EADDRINUSE'
      ? new Error(`port ${port} on ${host}, wanted for metrics, is already in use; set METRICS_PORT to a free port`)
      : err));
    server.listen(port, host, () => resolve());
  });
  const address = server.address() as { port: number };
  log.info('metrics listening', { url: `http://${host}:${address.port}/metrics` });
  return server;
}

function packageVersion(): string {
  return (JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8')) as { version: string }).version;
}

/**
 * Log lines written to stdout together, once per turn of the event loop, instead of one
 * synchronous write each (stdout is synchronous for files and pipes on Linux): logging every
 * request cost 21% of the intent path's throughput that way (bench: observability). Whatever is
 * buffered is written synchronously when the process exits, so a crash loses nothing already
 * logged.
 */
function batchedStdout(): (line: string) => void {
  let lines: string[] = [];
  let scheduled = false;
  const flush = () => {
    scheduled = false;
    if (lines.length === 0) return;
    const text = `${lines.join('\n')}\n`;
    lines = [];
    process.stdout.write(text);
  };
  process.on('exit', () => {
    if (lines.length) writeSync(1, `${lines.join('\n')}\n`);
    lines = [];
  });
  return (line) => {
    lines.push(line);
    if (!scheduled) {
      scheduled = true;
      setImmediate(flush);
    }
  };
}
