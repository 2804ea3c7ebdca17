/**
 * `npm run migrate` (functions/entry/migrate-cli.ts), the first step of an edge deployment, on an
 * empty database: applies every migration and prints the operator key once; a second run
 * changes nothing and prints no key.
 */
import { describe, expect, it } from 'vitest';
import { spawnSync } from 'node:child_process';
import { mkdtemp, readFile, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import postgres from 'postgres';
import { EXPECTED_MIGRATIONS } from '../db/migrations.repo.ts';
import { dbUrl, serverUrl } from './helpers/system.ts';

function run(env: Record<string, string>) {
  return spawnSync(process.execPath, ['--import', 'tsx', 'functions/entry/migrate-cli.ts'], {
    env: { ...process.env, ...env }, encoding: 'utf8', timeout: 60_000,
  });
}

describe('npm run migrate', () => {
  it('migrates an empty database, creates the operator once, and is idempotent', async () => {
    const name = `m_${Date.now().toString(36)}`;
    const admin = postgres(serverUrl(), { max: 1, onnotice: () => {} });
    await admin.unsafe(`create database ${name}`);
    await admin.end();
    const dataDir = await mkdtemp(join(tmpdir(), 'switchyard-migrate-'));
    const env = { DATABASE_URL: dbUrl(name), SWITCHYARD_DATA_DIR: dataDir };

    const first = run(env);
    expect(first.status, first.stderr).toBe(0);
    expect(first.stdout).toContain(`applied ${EXPECTED_MIGRATIONS.join(', ')}`);
    const key = /\n {2}(sk_\S+)\n/.exec(first.stdout)?.[1];
    expect(key).toBeDefined();
    expect((await readFile(join(dataDir, 'admin-key'), 'utf8')).trim()).toBe(key);
    expect((await stat(join(dataDir, 'admin-key'))).mode & 0o777).toBe(0o600);

    const second = run(env);
    expect(second.status, second.stderr).toBe(0);
    expect(second.stdout).toContain('migrations: up to date');
    expect(second.stdout).not.toContain('sk_');

    const sql = postgres(dbUrl(name), { max: 1, onnotice: () => {} });
    const [row] = await sql<{ n: number }[]>`select count(*)::int as n from tenants where is_operator`;
    await sql.end();
    expect(row?.n).toBe(1);
  });

  it('refuses to run without DATABASE_URL', () => {
    const res = run({ DATABASE_URL: '' });
    expect(res.status).toBe(2);
    expect(res.stderr).toContain('set DATABASE_URL');
  });
});
