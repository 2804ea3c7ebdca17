/**
 * What production does to a database, done to the real thing: the entry file in a child process
 * with its embedded Postgres, under a steady mix of creates and reads, while the whole Postgres
 * server is frozen (SIGSTOP of the postmaster and every backend) for 10 s, and then killed
 * outright (SIGKILL of the postmaster). During each fault every answer is a 503 problem with
 * Retry-After within 2 s; after it, everything succeeds again within 5 s without a restart of
 * ours; every create that was accepted (202) exists once and reaches `active`.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { chmod, mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { alive, killStartedEntries, postmasterPid, signalServer, startEntry, type Entry } from './helpers/entry.ts';
import { freePort } from './helpers/net.ts';
import { waitFor } from './helpers/system.ts';

interface Sample {
  start: number;
  end: number;
  kind: 'create' | 'list' | 'get';
  status: number;
  problem: boolean;
  retryAfter: string | null;
  name?: string;
  projectId?: string;
}

let dataDir: string;
let entry: Entry;
let base: string;
let key: string;
let n = 0; // names are unique across the file: the dedup check counts by name

beforeAll(async () => {
  dataDir = await mkdtemp(join(tmpdir(), 'switchyard-faults-'));
  await chmod(dataDir, 0o755);
  const port = await freePort();
  base = `http://127.0.0.1:${port}`;
  entry = startEntry({
    SWITCHYARD_DATA_DIR: dataDir, PORT: String(port), EMBEDDED_PG_PORT: String(await freePort()),
    LOG_LEVEL: 'warn', SWITCHYARD_AUTH_CACHE_MS: '0', // every request reads the database
  });
  await waitFor(async () => entry.out.text.includes('Try it:') || entry.child.exitCode !== null, 60_000, 'start');
  expect(entry.child.exitCode, entry.out.text).toBeNull();
  key = (await readFile(join(dataDir, 'admin-key'), 'utf8')).trim();
});

afterAll(async () => {
  const pm = dataDir ? postmasterPid(dataDir) : null;
  if (pm && alive(pm)) {
    try {
      signalServer(pm, 'SIGCONT');
    } catch {
      // it ended meanwhile
    }
  }
  entry?.child.kill('SIGTERM');
  await Promise.race([entry?.exited, new Promise((r) => setTimeout(r, 15_000))]);
  killStartedEntries();
  if (dataDir) await rm(dataDir, { recursive: true, force: true }).catch(() => {});
});

/** Four clients, each a create then reads, 100 ms apart, until stopped. */
function steadyLoad() {
  const samples: Sample[] = [];
  let running = true;

  const projectIds: string[] = [];
  const one = async (kind: Sample['kind']) => {
    const start = Date.now();
    const name = kind === 'create' ? `fault ${process.pid} ${++n}` : undefined;
    const id = kind === 'get' ? projectIds[Math.floor(Math.random() * projectIds.length)] : undefined;
    const path = kind === 'create' ? '/v1/projects' : kind === 'list' ? '/v1/projects?limit=5' : `/v1/projects/${id}`;
    try {
      const res = await fetch(base + path, {
        method: kind === 'create' ? 'POST' : 'GET',
        headers: { Authorization: `Bearer ${key}`, 'Content-Type': 'application/json' },
        ...(kind === 'create' ? { body: JSON.stringify({ name }) } : {}),
        signal: AbortSignal.timeout(10_000),
      });
      const text = await res.text();
      const sample: Sample = {
        start, end: Date.now(), kind, status: res.status, name,
        problem: (res.headers.get('content-type') ?? '').includes('application/problem+json') && JSON.parse(text).status === res.status,
        retryAfter: res.headers.get('retry-after'),
      };
      if (kind === 'create' && res.status === 202) projectIds.push((sample.projectId = JSON.parse(text).project.id));
      samples.push(sample);
    } catch {
      samples.push({ start, end: Date.now(), kind, status: 0, problem: false, retryAfter: null, name });
    }
  };
  const loops = Array.from({ length: 4 }, async () => {
    while (running) {
      await one('create');
      for (let i = 0; i < 3 && running; i++) {
        await new Promise((r) => setTimeout(r, 100));
        await one(projectIds.length && i === 1 ? 'get' : 'list');
      }
      await new Promise((r) => setTimeout(r, 100));
    }
  });
  return {
    samples,
    async stop() {
      running = false;
      await Promise.all(loops);
    },
  };
}

/**
 * `successWindowMs`: how long after the fault's start a success may still be seen (answered
 * before the server noticed). For a kill, the end of the fault is known only by polling, so a
 * success is fine anywhere in it: the server is back.
 */
function checkFaultWindow(samples: Sample[], faultStart: number, faultEnd: number, minDuring = 20, successWindowMs = 1600) {
  // Answers to requests made during the fault: a 503 problem with Retry-After, within 2 s.
  const during = samples.filter((s) => s.start >= faultStart + 50 && s.start <= faultEnd - 50);
  expect(during.length).toBeGreaterThan(minDuring);
  const slow = during.filter((s) => s.end - s.start >= 2000);
  expect(slow, 'requests that waited 2 s or more during the fault').toEqual([]);
  const wrong = during.filter((s) => s.status !== 503 || !s.problem || !s.retryAfter);
  // A request the server answered before it noticed the fault may still be a success.
  expect(wrong.filter((s) => !(s.status >= 200 && s.status < 300 && s.start < faultStart + successWindowMs)), 'answers during the fault').toEqual([]);
  // After the fault, everything succeeds within 5 s.
  const after = samples.filter((s) => s.start >= faultEnd + 5000);
  expect(after.length).toBeGreaterThan(10);
  expect(after.filter((s) => s.status < 200 || s.status >= 300), 'failures 5 s after the fault').toEqual([]);
}

async function api(path: string) {
  const res = await fetch(base + path, { headers: { Authorization: `Bearer ${key}` } });
  return { status: res.status, body: await res.json() as any };
}

async function checkAccepted(samples: Sample[]) {
  const accepted = samples.filter((s) => s.kind === 'create' && s.status === 202);
  expect(accepted.length).toBeGreaterThan(10);
  await waitFor(async () => {
    for (const s of accepted) {
      const res = await api(`/v1/projects/${s.projectId}`);
      if (res.status !== 200 || res.body.project.status !== 'active') return false;
    }
    return true;
  }, 60_000, 'every accepted create active');
  // None duplicated: each accepted name is one project.
  const names = new Map<string, number>();
  let cursor: string | null = null;
  do {
    const page: { body: { data: { name: string }[]; pagination: { next_cursor: string | null } } } = await api(`/v1/projects?limit=100${cursor ? `&cursor=${cursor}` : ''}`);
    for (const p of page.body.data) names.set(p.name, (names.get(p.name) ?? 0) + 1);
    cursor = page.body.pagination.next_cursor;
  } while (cursor);
  for (const s of accepted) expect(names.get(s.name!), s.name).toBe(1);
}

describe('database faults under load', () => {
  it('answers 503 within 2 s while Postgres is frozen for 10 s, and recovers within 5 s', async () => {
    const load = steadyLoad();
    await new Promise((r) => setTimeout(r, 2000));
    const pm = postmasterPid(dataDir)!;
    const faultStart = Date.now();
    const frozen = signalServer(pm, 'SIGSTOP');
    expect(frozen.length).toBeGreaterThan(3);
    await new Promise((r) => setTimeout(r, 10_000));
    // /readyz says why, while frozen.
    const ready = await fetch(`${base}/readyz`);
    expect(ready.status).toBe(503);
    expect((await ready.json() as { detail: string }).detail).toMatch(/did not answer/);
    signalServer(pm, 'SIGCONT');
    const faultEnd = Date.now();
    await new Promise((r) => setTimeout(r, 7000));
    await load.stop();
    checkFaultWindow(load.samples, faultStart, faultEnd);
    await checkAccepted(load.samples);
  });

  it('answers 503 while Postgres is killed, restarts it on the same data, and recovers within 5 s', async () => {
    const load = steadyLoad();
    await new Promise((r) => setTimeout(r, 2000));
    const pm = postmasterPid(dataDir)!;
    const faultStart = Date.now();
    process.kill(pm, 'SIGKILL');
    // The supervisor starts a new postmaster on the same data dir.
    await waitFor(async () => {
      const next = postmasterPid(dataDir);
      return next !== null && next !== pm && alive(next) && (await fetch(`${base}/readyz`)).status === 200;
    }, 30_000, 'postgres restarted');
    const faultEnd = Date.now();
    await new Promise((r) => setTimeout(r, 7000));
    await load.stop();
    expect(entry.out.text).toContain('embedded postgres stopped; restarting it');
    checkFaultWindow(load.samples, faultStart, faultEnd, 3, Infinity);
    await checkAccepted(load.samples);
    expect(entry.child.exitCode).toBeNull();
  });
});
