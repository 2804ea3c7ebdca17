/**
 * Reading the realtime outbox (written only by the trigger in supabase/migrations).
 *
 * Resuming after event E must return every event committed after E. Ids come from a sequence, so
 * a transaction that took a smaller id than E may commit after E. Such a transaction was running
 * when E was written, so its xid is at least E's `tx_horizon` (the oldest running xid then).
 * The resume query therefore also returns older-id events of transactions at or above that
 * horizon. That can repeat an event the client already has; it never skips one. Clients drop
 * repeats by id.
 */
import type { Sql } from './client.ts';

export interface RealtimeEvent {
  id: string;
  tenantId: string;
  topics: string[];
  event: string;
  payload: unknown;
}

export async function listEventsSince(
  sql: Sql,
  tenantId: string,
  topics: string[],
  lastId: string,
  limit = 1000,
): Promise<RealtimeEvent[]> {
  return sql<RealtimeEvent[]>`
    with last as (select tx, tx_horizon from realtime_events where id = ${lastId})
    select e.id::text, e.tenant_id, e.topics, e.event, e.payload
      from realtime_events e
     where e.tenant_id = ${tenantId} and e.topics && ${topics}
       and (e.id > ${lastId}
            or (e.id < ${lastId} and e.tx >= (select tx_horizon from last) and e.tx <> (select tx from last)))
     order by e.id limit ${limit}`;
}

export async function getEventById(sql: Sql, id: string): Promise<RealtimeEvent | null> {
  const [row] = await sql<RealtimeEvent[]>`
    select id::text, tenant_id, topics, event, payload from realtime_events where id = ${id}`;
  return row ?? null;
}

export async function pruneRealtimeEvents(sql: Sql, olderThanHours: number): Promise<number> {
  const rows = await sql`delete from realtime_events where created_at < now() - ${olderThanHours} * interval '1 hour'`;
  return rows.count;
}
