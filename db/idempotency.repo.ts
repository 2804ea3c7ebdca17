/**
 * Idempotency-Key storage. The key row is written in the same transaction as the resource it
 * created, so a stored key always means a committed response. A transaction-scoped advisory lock
 * on (tenant, key) tells a concurrent duplicate that the first request is still in flight (409)
 * without making it wait.
 */
import type { Sql } from './client.ts';

export interface StoredResponse {
  fingerprint: string;
  responseStatus: number;
  responseHeaders: Record<string, string>;
  responseBody: unknown;
}

/**
 * The unique violation of a key stored already, or by a statement still open: a create that
 * stores its key in its own statement (writeSubjectsWithJobs) fails with it, and nothing is written.
 */
export const isStoredKeyConflict = (err: unknown) =>
  (err as { code?: string } | null)?.code === '23505' && (err as { table_name?: string }).table_name === 'idempotency_keys';

export async function tryLockIdempotencyKey(tx: Sql, tenantId: string, key: string): Promise<boolean> {
  const [row] = await tx<{ locked: boolean }[]>`
    select pg_try_advisory_xact_lock(hashtextextended(${`${tenantId}/${key}`}, 7)) as locked`;
  return row!.locked;
}

export async function findIdempotencyKey(sql: Sql, tenantId: string, key: string): Promise<StoredResponse | null> {
  const [row] = await sql<StoredResponse[]>`
    select fingerprint, response_status, response_headers, response_body from idempotency_keys
     where tenant_id = ${tenantId} and key = ${key}`;
  return row ?? null;
}

export async function insertIdempotencyKey(
  tx: Sql,
  tenantId: string,
  key: string,
  stored: StoredResponse,
): Promise<void> {
  await tx`
    insert into idempotency_keys (tenant_id, key, fingerprint, response_status, response_headers, response_body)
    values (${tenantId}, ${key}, ${stored.fingerprint}, ${stored.responseStatus},
            ${JSON.stringify(stored.responseHeaders)}::jsonb, ${JSON.stringify(stored.responseBody)}::jsonb)`;
}

export async function pruneIdempotencyKeys(sql: Sql, olderThanHours: number): Promise<number> {
  const rows = await sql`delete from idempotency_keys where created_at < now() - ${olderThanHours} * interval '1 hour'`;
  return rows.count;
}
