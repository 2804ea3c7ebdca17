import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, readdirSync, readFileSync } from 'node:fs';

export function percentile(sorted: number[], p: number): number {
  if (sorted.length === 0) return NaN;
  return sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1))]!;
}

export function summarize(samples: number[]) {
  const s = [...samples].sort((a, b) => a - b);
  return { n: s.length, p50: round(percentile(s, 50)), p95: round(percentile(s, 95)), p99: round(percentile(s, 99)) };
}

export const round = (x: number, d = 2) => Math.round(x * 10 ** d) / 10 ** d;

export { freePort } from '../../test/helpers/net.ts';

/** Starts a TypeScript entry in its own Node process and waits for `readyText` on its output. */
export async function startProcess(file: string, env: Record<string, string>, readyText: string): Promise<ChildProcess> {
  // BENCH_PROFILE=<dir> writes a V8 CPU profile of every child process there when it exits.
  const profile = process.env.BENCH_PROFILE ? ['--cpu-prof', `--cpu-prof-dir=${process.env.BENCH_PROFILE}`] : [];
  const child = spawn(process.execPath, [...profile, '--import', 'tsx', file], { env: { ...process.env, ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  await new Promise<void>((resolve, reject) => {
    const onData = (d: Buffer) => {
      out += d;
      if (!out.includes(readyText)) return;
      // Ready: stop keeping (and searching) the output. A child that logs every request would
      // otherwise make this process re-scan megabytes per chunk, on the cores the child needs.
      child.stdout!.off('data', onData);
      child.stderr!.off('data', onData);
      child.stdout!.resume();
      child.stderr!.resume();
      out = '';
      resolve();
    };
    child.stdout!.on('data', onData);
    child.stderr!.on('data', onData);
    child.once('exit', (code) => reject(new Error(`${file} exited ${code}: ${out}`)));
  });
  return child;
}

export async function stopProcess(child: ChildProcess) {
  if (child.exitCode !== null) return;
  const done = new Promise((r) => child.once('exit', r));
  child.kill('SIGTERM');
  await done;
}

/**
 * CPU seconds (user + system) used so far by the given processes and by every `postgres`
 * process, and the read/write system calls of the given processes, read from /proc (Linux).
 * Null elsewhere. Sampled around a load run, it splits a
 * request's cost between the Node server and the database.
 */
export function cpuSeconds(pids: number[]): { node: number; postgres: number; reads: number; writes: number } | null {
  if (!existsSync('/proc/self/stat')) return null;
  const ticks = (pid: string) => {
    try {
      const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
      const f = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
      return { comm: stat.slice(stat.indexOf('(') + 1, stat.lastIndexOf(')')), t: Number(f[11]) + Number(f[12]) };
    } catch {
      return null; // exited in between
    }
  };
  const hz = 100;
  let node = 0;
  let pgTicks = 0;
  let reads = 0;
  let writes = 0;
  for (const pid of pids) {
    node += ticks(String(pid))?.t ?? 0;
    // Read and write system calls (sockets included): what a request costs in kernel crossings.
    const io = readFileSync(`/proc/${pid}/io`, 'utf8');
    reads += Number(/syscr: (\d+)/.exec(io)?.[1] ?? 0);
    writes += Number(/syscw: (\d+)/.exec(io)?.[1] ?? 0);
  }
  for (const pid of readdirSync('/proc').filter((d) => /^\d+$/.test(d))) {
    const s = ticks(pid);
    if (s?.comm === 'postgres') pgTicks += s.t;
  }
  return { node: node / hz, postgres: pgTicks / hz, reads, writes };
}
