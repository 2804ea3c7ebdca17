/**
 * What the running build expects to find applied. The drizzle journal lists every migration file
 * (generated and custom), and importing JSON works on Node, workerd and Deno alike.
 */
import type { Sql } from './client.ts';
import journal from '../supabase/migrations/meta/_journal.json' with { type: 'json' };

export const EXPECTED_MIGRATIONS: string[] = journal.entries.map((e) => `${e.tag}.sql`);

/** True when the database answers and every expected migration is recorded as applied. */
export async function isMigrated(sql: Sql): Promise<boolean> {
  const rows = await sql<{ n: number }[]>`
    select count(*)::int as n from switchyard_migrations where name = any(${EXPECTED_MIGRATIONS})`;
  return rows[0]?.n === EXPECTED_MIGRATIONS.length;
}
