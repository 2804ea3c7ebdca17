/**
 * The edge composition root, shared by Cloudflare Workers (entry/cloudflare.ts) and Supabase
 * Edge Functions (supabase/functions/api/index.ts). Unlike the Node root there is no embedded
 * Postgres, no data dir and no local runner: the queue is QStash and the worker host is the
 * same app's /workers/* routes. Web-standard APIs only (no node: imports).
 */
import { createDb } from '../../db/client.ts';
import { createSignaler } from '../../db/notify.repo.ts';
import { createPostgresProvisioner } from '../../workers/providers/project/postgres.ts';
import { createQStashClient, createQStashQueue } from '../../workers/queue/qstash.ts';
import { createRegistry } from '../../workers/registry.ts';
import type { RunnerDeps } from '../../workers/run-job.ts';
import { projectTasks } from '../../workers/tasks/project.ts';
import { storeTasks } from '../../workers/tasks/store.ts';
import { logTasks } from '../../workers/tasks/logs.ts';
import { alertTasks } from '../../workers/tasks/alerts.ts';
import { rolloutTasks } from '../../workers/tasks/rollouts.ts';
import { createPostgresStoreRuntime } from '../../workers/providers/store/postgres.ts';
import { logPullersFromConfig } from '../../workers/providers/logs/pull/index.ts';
import { createApp, type App } from '../app.ts';
import { ConfigError, parseConfig, qstashSettings, type Config, type QStashConfig } from '../env.ts';
import { createSecretBox, parseSecretKey, type SecretBox } from '../lib/crypto.ts';
import { newId } from '../lib/ids.ts';
import { createLogger } from '../lib/log.ts';
import { createWorkerHost, type WorkerHost } from '../routes/workers/workers.handlers.ts';

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
const registry = createRegistry([...projectTasks, ...storeTasks, ...logTasks, ...alertTasks({ allowPrivate: false }), ...rolloutTasks({ allowPrivate: false })]);

export interface EdgeContext {
  app: App;
  host: WorkerHost | undefined;
  /** Closes this context's database clients (after background work, on Workers). */
  close(): Promise<void>;
}

/**
 * Builds the app over fresh database clients. Workers call it per request (a socket belongs to
 * the request that opened it, and Hyperdrive pools for us); Deno calls it once per isolate.
 */
export async function createEdgeContext(
  edge: EdgeConfig,
  opts: { waitUntil?: (p: Promise<unknown>) => void; poolMax?: number } = {},
): Promise<EdgeContext> {
  const { config, qstash } = edge;
  const log = createLogger(config.LOG_LEVEL);
  const db = createDb(edge.databaseUrl, { max: opts.poolMax ?? 5, prepare: config.DATABASE_PREPARE, applicationName: 'switchyard-edge' });
  const signals = createSignaler(db.sql, { onError: (err) => log.warn('signal failed; pollers will catch up', { err }) });
  const queue = createQStashQueue({ client: createQStashClient(qstash), sql: db.sql, settings: qstash, log });
  const provisioner = createPostgresProvisioner({ url: config.DATA_PLANE_DATABASE_URL ?? edge.databaseUrl });
  const storeRuntime = createPostgresStoreRuntime({ url: config.DATA_PLANE_DATABASE_URL ?? edge.databaseUrl });
  const box = await secretBox(config.SWITCHYARD_SECRET_KEY!);

  const runner: RunnerDeps = {
    db, signals, box, log, registry, queue,
    providers: { project: provisioner, stores: { postgres: storeRuntime }, logs: logPullersFromConfig(config) },
    workerId: (workerId ??= newId('wrk')),
    leaseMs: config.SWITCHYARD_JOB_LEASE_MS,
    retry: { baseMs: config.SWITCHYARD_RETRY_BASE_MS, maxMs: config.SWITCHYARD_RETRY_MAX_MS },
  };
  const host: WorkerHost | undefined = config.SWITCHYARD_ROLE === 'api' ? undefined : createWorkerHost(runner, qstash, config);
  const app = createApp({
    db, signals, queue, box, log, registry, config, projectProvider: provisioner.name, storeRuntimes: Object.keys(runner.providers.stores),
    api: config.SWITCHYARD_ROLE !== 'worker',
    ...(host ? { worker: host } : {}),
    ...(opts.waitUntil ? { waitUntil: opts.waitUntil } : {}),
  });
  return {
    app,
    host,
    async close() {
      await Promise.allSettled([provisioner.close(), storeRuntime.close(), db.close()]);
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
