/**
 * Stopping `npm start` the ways operators do (docker stop and systemd send SIGTERM to the main
 * process; a terminal sends SIGINT to the whole group; a supervisor may signal only the node
 * process): each stops it cleanly within the grace plus 5 s, and leaves no process and no port
 * behind. Starting next to a taken port says which port, who holds it and what to change.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { chmod, mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createServer, type Server } from 'node:net';
import { alive, childrenOf, commandOf, killStartedEntries, listening, postmasterPid, startEntry } from './helpers/entry.ts';
import { freePort } from './helpers/net.ts';
import { waitFor } from './helpers/system.ts';

let dataDir: string;
const GRACE_MS = 3000;

beforeAll(async () => {
  dataDir = await mkdtemp(join(tmpdir(), 'switchyard-signals-'));
  await chmod(dataDir, 0o755);
});
afterAll(async () => {
  killStartedEntries(true);
  const pm = postmasterPid(dataDir);
  if (pm && alive(pm)) process.kill(pm, 'SIGKILL');
  await rm(dataDir, { recursive: true, force: true }).catch(() => {});
});

async function startNpm() {
  const env = { SWITCHYARD_DATA_DIR: dataDir, PORT: String(await freePort()), EMBEDDED_PG_PORT: String(await freePort()), SWITCHYARD_SHUTDOWN_GRACE_MS: String(GRACE_MS) };
  const entry = startEntry(env, { npm: true, detached: true });
  await waitFor(async () => entry.out.text.includes('runner started') || entry.child.exitCode !== null, 60_000, 'npm start');
  expect(entry.child.exitCode, entry.out.text).toBeNull();
  const npmPid = entry.child.pid!;
  const nodePid = childrenOf(npmPid).find((p) => p !== undefined);
  const pgPid = postmasterPid(dataDir);
  expect(nodePid, 'npm runs node directly').toBeDefined();
  // Besides Postgres, only tsx's esbuild service (when it had something to compile) may run under node.
  const others = childrenOf(nodePid!).filter((p) => p !== pgPid && !commandOf(p).includes('esbuild'));
  expect(others.map(commandOf), 'node runs no wrapper of its own').toEqual([]);
  return { entry, env, npmPid, nodePid: nodePid!, pgPid: pgPid! };
}

async function expectAllGone(s: Awaited<ReturnType<typeof startNpm>>, since: number) {
  await waitFor(async () => !alive(s.npmPid) && !alive(s.nodePid) && !alive(s.pgPid), GRACE_MS + 5000, 'every process gone');
  expect(Date.now() - since).toBeLessThan(GRACE_MS + 5000);
  expect(await listening(Number(s.env.PORT))).toBe(false);
  expect(await listening(Number(s.env.EMBEDDED_PG_PORT))).toBe(false);
  expect(s.entry.out.text).toContain('"stopped"');
}

describe('stopping npm start', () => {
  for (const [target, signal] of [['npm', 'SIGTERM'], ['npm', 'SIGINT'], ['node', 'SIGTERM'], ['group', 'SIGINT'], ['group', 'SIGTERM']] as const) {
    it(`stops cleanly on ${signal} to the ${target === 'group' ? 'whole process group' : `${target} process`}`, async () => {
      const s = await startNpm();
      const t0 = Date.now();
      if (target === 'npm') process.kill(s.npmPid, signal);
      else if (target === 'node') process.kill(s.nodePid, signal);
      else process.kill(-s.npmPid, signal);
      await expectAllGone(s, t0);
    });
  }

  it('stops when npm is killed outright and cannot pass a signal on', async () => {
    const s = await startNpm();
    const t0 = Date.now();
    process.kill(s.npmPid, 'SIGKILL');
    await waitFor(async () => !alive(s.nodePid) && !alive(s.pgPid), GRACE_MS + 5000, 'node and postgres gone');
    expect(Date.now() - t0).toBeLessThan(GRACE_MS + 5000);
    expect(await listening(Number(s.env.PORT))).toBe(false);
  });
});

describe('ports already taken', () => {
  let holder: Server;
  let port: number;
  beforeAll(async () => {
    port = await freePort();
    holder = createServer();
    await new Promise<void>((r) => holder.listen(port, '127.0.0.1', () => r()));
  });
  afterAll(() => new Promise<void>((r) => holder.close(() => r())));

  it('names the embedded Postgres port, its holder and the variable to change', async () => {
    const other = await mkdtemp(join(tmpdir(), 'switchyard-port-'));
    await chmod(other, 0o755);
    const e = startEntry({ SWITCHYARD_DATA_DIR: other, PORT: String(await freePort()), EMBEDDED_PG_PORT: String(port) });
    expect(await e.exited).toBe(1);
    expect(e.out.text).toContain(`port ${port}`);
    expect(e.out.text).toContain('EMBEDDED_PG_PORT');
    expect(e.out.text).toContain(`pid ${process.pid}`);
    expect(e.out.text).not.toContain('undefined');
    await rm(other, { recursive: true, force: true });
  });

  it('names the API port and PORT', async () => {
    const e = startEntry({ SWITCHYARD_DATA_DIR: dataDir, PORT: String(port), EMBEDDED_PG_PORT: String(await freePort()) });
    expect(await e.exited).toBe(1);
    expect(e.out.text).toMatch(new RegExp(`port ${port}.*set PORT`));
  });
});
