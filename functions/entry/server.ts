/**
 * The Node composition root: builds every dependency from a parsed Config and starts the roles
 * asked for (API, runner, or both). `npm start` (entry/node.ts) and the tests both use it.
 */
import { serve, type ServerType } from '@hono/node-server';
import { existsSync } from 'node:fs';
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
import { createPostgresProvisioner } from '../../workers/providers/project/postgres.ts';
import { createRegistry, type Task } from '../../workers/registry.ts';
import { projectTasks } from '../../workers/tasks/project.ts';
import { storeTasks } from '../../workers/tasks/store.ts';
import { logTasks } from '../../workers/tasks/logs.ts';
import { alertTasks } from '../../workers/tasks/alerts.ts';
import { lookup } from 'node:dns/promises';
import { createPostgresStoreRuntime } from '../../workers/providers/store/postgres.ts';
import { kubernetesRuntimeFromConfig } from '../../workers/providers/store/kubernetes.ts';
import { logPullersFromConfig } from '../../workers/providers/logs/pull/index.ts';
import { housekeepingOptions } from '../../workers/scheduler.ts';
import type { RunnerDeps } from '../../workers/run-job.ts';
import { createApp } from '../app.ts';
import { qstashSettings, type Config } from '../env.ts';
import { createSecretBox, generateSecretKey, parseSecretKey } from '../lib/crypto.ts';
import { newId } from '../lib/ids.ts';
import { mintApiKey } from '../lib/keys.ts';
import { createLogger, type Logger } from '../lib/log.ts';
import { createRealtimeHub, type RealtimeHub } from '../lib/realtime-hub.ts';
import { startEmbeddedPostgres, type EmbeddedHandle } from './embedded-postgres.ts';
import { createDashboard, isDashboardPath } from './dashboard.ts';

export interface Running {
  url: string | null;
  db: Db;
  log: Logger;
  runner: LocalRunner | null;
  runnerDeps: RunnerDeps;
  adminKey: string | null;
  /** Clean shutdown: stop accepting, let running steps finish (bounded), close, stop Postgres. */
  stop(): Promise<void>;
}

export interface StartOptions {
  log?: Logger;
  /** Extra task kinds (tests). */
  extraTasks?: Task<any>[];
  /** Print the first-start banner (npm start), or stay quiet (tests). */
  banner?: boolean;
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
      const tenant = await insertTenant(tx, { id: newId('ten'), name: 'operator', plan: 'enterprise', isOperator: true });
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
  const log = opts.log ?? createLogger(config.LOG_LEVEL);
  const dataDir = resolve(config.SWITCHYARD_DATA_DIR);
  let embedded: EmbeddedHandle | null = null;
  let url = config.DATABASE_URL;
  if (!url) {
    log.info('starting embedded postgres', { data_dir: dataDir, port: config.EMBEDDED_PG_PORT });
    embedded = await startEmbeddedPostgres(dataDir, config.EMBEDDED_PG_PORT);
    url = embedded.url;
  }

  const db = createDb(url, { max: config.DATABASE_POOL_MAX, prepare: config.DATABASE_PREPARE });
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
  const provisioner = createPostgresProvisioner({ url: config.DATA_PLANE_DATABASE_URL ?? url });
  const storeRuntime = createPostgresStoreRuntime({ url: config.DATA_PLANE_DATABASE_URL ?? url });
  const kubernetes = kubernetesRuntimeFromConfig(config);
  const signals = createSignaler(db.sql, { onError: (err) => log.warn('signal failed; pollers will catch up', { err }) });
  const qstash = qstashSettings(config);
  const queue: Queue = qstash
    ? createQStashQueue({ client: createQStashClient(qstash), sql: db.sql, settings: qstash, log })
    : createLocalQueue(signals);
  const alerts = alertTasks({
    allowPrivate: config.SWITCHYARD_ALERT_ALLOW_PRIVATE_URLS,
    resolve: async (host) => (await lookup(host, { all: true })).map((a) => a.address),
  });
  const registry = createRegistry([...projectTasks, ...storeTasks, ...logTasks, ...alerts, ...(opts.extraTasks ?? [])]);

  const runnerDeps: RunnerDeps = {
    db, signals, box, log, registry, queue,
    providers: { project: provisioner, stores: { postgres: storeRuntime, ...(kubernetes ? { kubernetes } : {}) }, logs: logPullersFromConfig(config) },
    workerId: newId('wrk'),
    leaseMs: config.SWITCHYARD_JOB_LEASE_MS,
    retry: { baseMs: config.SWITCHYARD_RETRY_BASE_MS, maxMs: config.SWITCHYARD_RETRY_MAX_MS },
  };

  // Roles: the API serves /v1; a worker runs jobs, by the local runner, or (on QStash) by serving
  // the /workers/* routes that QStash delivers to.
  const serveApi = config.SWITCHYARD_ROLE !== 'worker';
  const runWorker = config.SWITCHYARD_ROLE !== 'api';
  const worker: WorkerHost | undefined = qstash && runWorker ? createWorkerHost(runnerDeps, qstash, config) : undefined;

  let server: ServerType | null = null;
  let hub: RealtimeHub | null = null;
  let publicUrl: string | null = null;
  if (serveApi || worker) {
    hub = serveApi ? await createRealtimeHub(db.sql, log, { pollMs: config.SWITCHYARD_REALTIME_POLL_MS }) : null;
    const app = createApp({
      db, signals, queue, box, log, registry, config, projectProvider: provisioner.name, storeRuntimes: Object.keys(runnerDeps.providers.stores),
      ...(hub ? { realtime: hub } : {}),
      api: serveApi,
      ...(worker ? { worker } : {}),
    });
    const listening = await new Promise<{ port: number }>((res, rej) => {
      // The dashboard's static files sit in front of the API on processes that serve it.
      const dashboard = serveApi ? createDashboard(config.SWITCHYARD_WEB_DIR) : null;
      const fetch = (req: Request, env?: unknown) =>
        (dashboard && isDashboardPath(req.method, new URL(req.url).pathname) ? dashboard.fetch(req) : app.fetch(req, env));
      server = serve({ fetch, hostname: config.HOST, port: config.PORT }, (info) => res(info));
      server.once('error', rej);
    });
    publicUrl = config.SWITCHYARD_PUBLIC_URL ?? `http://${config.HOST}:${listening.port}`;
    log.info('listening', { url: publicUrl, api: serveApi, worker: worker ? 'qstash' : false, queue: queue.name, store_runtimes: Object.keys(runnerDeps.providers.stores) });
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

  let stopping: Promise<void> | null = null;
  return {
    url: publicUrl,
    db,
    log,
    runner,
    runnerDeps,
    adminKey: bootstrap.key,
    stop() {
      stopping ??= (async () => {
        const s = server as ServerType | null;
        if (s) {
          // Stop accepting; open keep-alive and SSE connections are closed so close() can finish.
          await new Promise<void>((r) => {
            s.close(() => r());
            (s as unknown as { closeAllConnections?: () => void }).closeAllConnections?.();
          });
        }
        if (runner) await runner.stop(config.SWITCHYARD_SHUTDOWN_GRACE_MS);
        await hub?.close().catch(() => {});
        await provisioner.close();
        await storeRuntime.close();
        await db.close();
        await embedded?.stop();
        log.info('stopped');
      })();
      return stopping;
    },
  };
}
