/**
 * Applies supabase/migrations/*.sql in name order, each in its own transaction, recording them in
 * switchyard_migrations. A session-level advisory lock makes two processes that start at once
 * take turns: the second finds everything applied and does nothing.
 *
 * Node-only (reads the folder); edge runtimes never migrate, production applies the same files
 * with `supabase db push`.
 */
import { readdir, readFile } from 'node:fs/promises';
import { fileURLToPath } from 'node:url';
import { join } from 'node:path';
import type postgres from 'postgres';

export const MIGRATIONS_DIR = fileURLToPath(new URL('../../supabase/migrations/', import.meta.url));
// Any constant works; it only has to be the same for every Switchyard process.
const MIGRATION_LOCK = 0x5357_5944; // "SWYD"

export async function listMigrations(dir = MIGRATIONS_DIR): Promise<string[]> {
  return (await readdir(dir)).filter((f) => /^\d+_.+\.sql$/.test(f)).sort();
}

export async function migrate(sql: postgres.Sql, dir = MIGRATIONS_DIR): Promise<string[]> {
  const files = await listMigrations(dir);
  const applied: string[] = [];
  await sql.begin(async (tx) => {
    // A migration may rewrite a large table: the pool's statement bound is for requests.
    await tx`select set_config('statement_timeout', '0', true)`;
    await tx`select pg_advisory_xact_lock(${MIGRATION_LOCK})`;
    await tx`create table if not exists switchyard_migrations (
      name text primary key, applied_at timestamptz not null default now())`;
    const done = new Set((await tx<{ name: string }[]>`select name from switchyard_migrations`).map((r) => r.name));
    for (const file of files) {
      if (done.has(file)) continue;
      const text = await readFile(join(dir, file), 'utf8');
      // drizzle-kit separates statements with this marker; plain files are one batch.
      for (const statement of text.split('--> statement-breakpoint')) {
        if (statement.trim()) await tx.unsafe(statement);
      }
      await tx`insert into switchyard_migrations (name) values (${file})`;
      applied.push(file);
    }
  });
  return applied;
}
