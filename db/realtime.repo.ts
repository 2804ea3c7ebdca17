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
  /** When it was written (the outbox read has it; a resume's replay doesn't need it). */
  createdAt?: string;
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

export async function pruneRealtimeEvents(sql: Sql, olderThanHours: number): Promise<number> {
  const rows = await sql`delete from realtime_events where created_at < now() - ${olderThanHours} * interval '1 hour'`;
  return rows.count;
}

export interface OutboxPage {
  events: (RealtimeEvent & { tx: string })[];
  /** The oldest transaction still running when the page was read: the next read starts there. */
  horizon: string;
}

/**
 * Every event of a transaction at or above `horizon`, and the new horizon, from one snapshot.
 * An event that was not yet visible at the previous read belongs to a transaction that was
 * running then or started later, so its xid is at or above that read's horizon: reading by
 * `tx >= horizon` can't skip it. Events already delivered come back too; readers drop them by id.
 */
export async function readOutbox(sql: Sql, horizon: string | null): Promise<OutboxPage> {
  const rows = await sql<{ horizon: string; id: string | null; tenantId: string; topics: string[]; event: string; payload: unknown; tx: string; createdAt: string }[]>`
    with s as (select pg_snapshot_xmin(pg_current_snapshot()) as horizon)
    select s.horizon::text, e.id::text, e.tenant_id, e.topics, e.event, e.payload, e.tx::text, e.created_at
      from s left join realtime_events e on ${horizon}::xid8 is not null and e.tx >= ${horizon}::xid8
     order by e.id`;
  return {
    horizon: rows[0]!.horizon,
    events: rows.filter((r) => r.id !== null).map((r) => ({ id: r.id!, tenantId: r.tenantId, topics: r.topics, event: r.event, payload: r.payload, tx: r.tx, createdAt: r.createdAt })),
  };
}

/** The horizon alone (see readOutbox): where a reader with no one to deliver to moves on to. */
export async function readHorizon(sql: Sql): Promise<string> {
  const [row] = await sql<{ horizon: string }[]>`select pg_snapshot_xmin(pg_current_snapshot())::text as horizon`;
  return row!.horizon;
}

export interface DroppedBroadcasts {
  events: number;
  broadcasts: number;
  reasons: string[];
}

/**
 * Broadcasts to Supabase Realtime that didn't reach realtime.messages and haven't been reported
 * yet (the publisher records them: supabase/migrations/20261201233000_supabase_realtime.sql);
 * marks them reported. Sweepers log them, so a drop is never silent.
 */
export async function takeDroppedBroadcasts(sql: Sql): Promise<DroppedBroadcasts | null> {
  const [row] = await sql<{ events: number; broadcasts: number; reasons: string[] | null }[]>`
    with taken as (
      update realtime_send_failures set reported_at = now()
       where id in (select id from realtime_send_failures where reported_at is null order by id limit 1000 for update skip locked)
      returning cardinality(topics) - sent as dropped, reason
    )
    select count(*)::int as events, coalesce(sum(dropped), 0)::int as broadcasts, array_agg(distinct reason) as reasons from taken`;
  return row && row.events > 0 ? { events: row.events, broadcasts: row.broadcasts, reasons: row.reasons ?? [] } : null;
}

/** A realtime event on the given topics, through the same outbox as every status change. */
export async function publishRealtime(tx: Sql, tenantId: string, topics: string[], event: string, payload: unknown): Promise<void> {
  await tx`select switchyard_publish(${tenantId}, ${topics}::text[], ${event}, ${JSON.stringify(payload)}::jsonb)`;
}
