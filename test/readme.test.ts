/**
 * The README's examples run as pasted: every shell block that talks to the local API is run
 * with bash, from a directory laid out like the checkout (`.data/admin-key`), against a started
 * server. Only the port is changed (8787 → a free one). A block must exit 0 and no answer in it
 * may be a problem document (an error).
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { spawnSync } from 'node:child_process';
import { chmod, mkdtemp, readFile, rm, symlink } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { killStartedEntries, startEntry, type Entry } from './helpers/entry.ts';
import { freePort } from './helpers/net.ts';
import { waitFor } from './helpers/system.ts';

let dir: string;
let port: number;
let entry: Entry;

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'switchyard-readme-'));
  await chmod(dir, 0o755);
  // Laid out like the checkout: the SDK example imports @switchyard/sdk from its node_modules.
  await symlink(join(process.cwd(), 'node_modules'), join(dir, 'node_modules'));
  port = await freePort();
  // Started as the README's metrics example starts it.
  entry = startEntry({
    SWITCHYARD_DATA_DIR: join(dir, '.data'), PORT: String(port), EMBEDDED_PG_PORT: String(await freePort()),
    SWITCHYARD_METRICS_TOKEN: 'change-me-to-a-long-random-token',
  });
  await waitFor(async () => entry.out.text.includes('Try it:') || entry.child.exitCode !== null, 60_000, 'start');
  expect(entry.child.exitCode, entry.out.text).toBeNull();
});

afterAll(async () => {
  entry?.child.kill('SIGTERM');
  await Promise.race([entry?.exited, new Promise((r) => setTimeout(r, 15_000))]);
  killStartedEntries();
  if (dir) await rm(dir, { recursive: true, force: true });
});

async function apiBlocks(): Promise<string[]> {
  const readme = await readFile(new URL('../README.md', import.meta.url), 'utf8');
  return [...readme.matchAll(/```sh\n([\s\S]*?)```/g)].map((m) => m[1]!).filter((b) => /localhost:8787/.test(b));
}

describe('README examples', () => {
  it('has examples that reach the local API', async () => {
    expect((await apiBlocks()).length).toBeGreaterThanOrEqual(2);
  });

  it('runs each of them as pasted', async () => {
    for (const block of await apiBlocks()) {
      const script = block.replaceAll('localhost:8787', `localhost:${port}`);
      // As pasted into a terminal: each line runs whatever the one before it returned (the SSE
      // example ends by its --max-time), so success is judged by what the block printed.
      const r = spawnSync('bash', ['-c', script], { cwd: dir, encoding: 'utf8', timeout: 30_000 });
      const shown = `${block}\n--- stdout:\n${r.stdout}\n--- stderr:\n${r.stderr}`;
      expect(r.stderr.trim(), shown).toBe('');
      for (const [, expected] of block.matchAll(/^# expect: (.+)$/gm)) expect(r.stdout, shown).toContain(expected);
      expect(r.stdout, shown).not.toMatch(/"status":\s*[45]\d\d/);
      expect(r.stdout, shown).not.toMatch(/undefined|null\n/);
    }
  });
});
