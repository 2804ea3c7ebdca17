/**
 * Real worker processes for crash tests (test/helpers/worker-child.ts: the Node composition root
 * in the worker role, plus a `test.slow` task whose first attempt hangs mid-step).
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtemp } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { waitFor } from './system.ts';

export interface WorkerPool {
  /** Starts a worker child with these variables (on top of DATABASE_URL and the worker role). */
  spawn(databaseUrl: string, env?: Record<string, string>): Promise<ChildProcess>;
  /** SIGKILLs every child still running. */
  killAll(): void;
}

export function workerPool(): WorkerPool {
  const children: ChildProcess[] = [];
  return {
    async spawn(databaseUrl, env = {}) {
      const dataDir = await mkdtemp(join(tmpdir(), 'switchyard-child-'));
      const child = spawn(process.execPath, ['--import', 'tsx', 'test/helpers/worker-child.ts'], {
        env: {
          ...process.env, DATABASE_URL: databaseUrl, SWITCHYARD_ROLE: 'worker', SWITCHYARD_DATA_DIR: dataDir,
          SWITCHYARD_JOB_LEASE_MS: '2000', LOG_LEVEL: 'warn',
          SWITCHYARD_PROJECT_HEALTH_INTERVAL_S: '0', SWITCHYARD_PROJECT_METRICS_INTERVAL_S: '0', ...env,
        },
        stdio: ['ignore', 'pipe', 'pipe'],
      });
      children.push(child);
      let output = '';
      child.stdout!.on('data', (d) => (output += d));
      child.stderr!.on('data', (d) => (output += d));
      await waitFor(async () => output.includes('worker ready') || child.exitCode !== null, 30_000, 'worker child to start');
      if (child.exitCode !== null) throw new Error(`worker child exited: ${output}`);
      return child;
    },
    killAll() {
      for (const c of children) if (c.exitCode === null) c.kill('SIGKILL');
    },
  };
}
