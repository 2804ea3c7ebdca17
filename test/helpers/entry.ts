/**
 * The real entry file (or `npm start` itself) in a child process, as an operator runs it, and the
 * process facts the fault tests check: the embedded Postgres's processes, and what is left
 * running or listening after a stop.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { readFileSync, readdirSync } from 'node:fs';
import { commandOf, parentOf } from '../../functions/entry/embedded-postgres.ts';

export { commandOf };
import { connect } from 'node:net';
import { join } from 'node:path';

export interface Entry {
  child: ChildProcess;
  out: { text: string };
  exited: Promise<number | null>;
}

const children: ChildProcess[] = [];

/** `node --import tsx functions/entry/node.ts`, or with `npm: true` the README's `npm start`. */
export function startEntry(env: Record<string, string>, opts: { npm?: boolean; detached?: boolean } = {}): Entry {
  const [cmd, args] = opts.npm ? ['npm', ['start', '--silent']] : [process.execPath, ['--import', 'tsx', 'functions/entry/node.ts']];
  const child = spawn(cmd as string, args as string[], {
    env: { PATH: process.env.PATH!, HOME: process.env.HOME ?? '/tmp', ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
    detached: opts.detached ?? false,
  });
  children.push(child);
  const out = { text: '' };
  child.stdout!.on('data', (d) => (out.text += d));
  child.stderr!.on('data', (d) => (out.text += d));
  const exited = new Promise<number | null>((r) => child.once('exit', (code, signal) => r(code ?? (signal ? -1 : null))));
  return { child, out, exited };
}

/** SIGKILLs every entry this file started that is still running (with `groups`, their whole process groups). */
export function killStartedEntries(groups = false) {
  for (const c of children) {
    if (c.exitCode !== null || c.signalCode !== null) continue;
    try {
      if (groups) process.kill(-c.pid!, 'SIGKILL');
      else c.kill('SIGKILL');
    } catch {
      // already gone
    }
  }
}

/** Pids whose parent is `pid`, from /proc. */
export function childrenOf(pid: number): number[] {
  return readdirSync('/proc').filter((d) => /^\d+$/.test(d)).map(Number).filter((p) => parentOf(p) === pid);
}

/** The embedded server's postmaster pid, from its data dir's lock file. */
export function postmasterPid(dataDir: string): number | null {
  try {
    return Number(readFileSync(join(dataDir, 'pg', 'postmaster.pid'), 'utf8').split('\n')[0]) || null;
  } catch {
    return null;
  }
}

export function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

/** SIGSTOP (or SIGCONT) the whole server: the postmaster and every backend and helper under it. */
export function signalServer(postmaster: number, signal: 'SIGSTOP' | 'SIGCONT'): number[] {
  const pids = [postmaster, ...childrenOf(postmaster)];
  // A backend may end between the listing and its signal (ESRCH): it needs no signal then.
  return pids.filter((p) => {
    try {
      process.kill(p, signal);
      return true;
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ESRCH' && p !== postmaster) return false;
      throw err;
    }
  });
}

/** True while something accepts TCP connections on 127.0.0.1:port. */
export function listening(port: number): Promise<boolean> {
  return new Promise((res) => {
    const s = connect({ host: '127.0.0.1', port });
    s.once('connect', () => {
      s.destroy();
      res(true);
    });
    s.once('error', () => res(false));
  });
}
