/**
 * Signals (NOTIFY) sent after a commit. Postgres gives a notifying transaction an xid and holds
 * a global lock from pre-commit until its commit record is flushed, so every NOTIFY costs one
 * serialised fsync system-wide. A signal needs no durability (the data it points at is already
 * committed, and readers also poll), so its transaction commits with synchronous_commit off:
 * the lock is then held for microseconds. One statement, one implicit transaction.
 */
import type { Sql } from './client.ts';

export async function sendSignal(sql: Sql, channel: string, payload: string): Promise<void> {
  await sql`select set_config('synchronous_commit', 'off', true), pg_notify(${channel}, ${payload})`;
}
