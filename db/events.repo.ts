/**
 * The event store (partitioned by day; see the events migration). Inserts make the partitions
 * they need and skip rows a source has already delivered; reads are keyset pages, newest first,
 * always within one tenant.
 */
import { withCustomPlans, type Sql } from './client.ts';
import { publishRealtime } from './realtime.repo.ts';

export type EventKind = 'log' | 'error' | 'deploy' | 'alert';
export type EventLevel = 'debug' | 'info' | 'warn' | 'error' | 'fatal';

export interface NewEvent {
  ts: string;
  tenantId: string;
  projectId: string;
  sourceId: string;
  provider: string;
  service: string | null;
  environment: string | null;
  level: EventLevel;
  kind: EventKind;
  message: string;
  fingerprint: string | null;
  attrs: Record<string, unknown>;
  sourceEventId: string;
}

export interface EventRow extends Omit<NewEvent, 'tenantId'> {
  id: string;
  ingestedAt: string;
}

/** Inserts events (one statement per 1,000), creating day partitions first; returns how many were new. */
export async function insertEvents(sql: Sql, events: NewEvent[]): Promise<number> {
  if (events.length === 0) return 0;
  const days = [...new Set(events.map((e) => new Date(e.ts).toISOString().slice(0, 10)))];
  // One round trip for every day the batch touches (usually one).
  await sql`select switchyard_events_partition(d::date) from unnest(${days}::text[]) as d`;
  let inserted = 0;
  for (let i = 0; i < events.length; i += 1000) {
    const chunk = events.slice(i, i + 1000);
    const col = <T>(f: (e: NewEvent) => T) => chunk.map(f);
    const rows = await sql`
      insert into events (ts, tenant_id, project_id, source_id, provider, service, environment, level, kind, message, fingerprint, attrs, source_event_id)
      -- ts travels as text[]: postgres.js doesn't serialize a timestamptz[] parameter.
      select u.ts::timestamptz, u.tenant_id, u.project_id, u.source_id, u.provider, u.service, u.environment, u.level, u.kind,
             u.message, u.fingerprint, u.attrs, u.source_event_id
        from unnest(${col((e) => e.ts)}::text[], ${col((e) => e.tenantId)}::text[], ${col((e) => e.projectId)}::text[],
                           ${col((e) => e.sourceId)}::text[], ${col((e) => e.provider)}::text[], ${col((e) => e.service)}::text[],
                           ${col((e) => e.environment)}::text[], ${col((e) => e.level)}::text[], ${col((e) => e.kind)}::text[],
                           ${col((e) => e.message)}::text[], ${col((e) => e.fingerprint)}::text[],
                           ${col((e) => JSON.stringify(e.attrs))}::jsonb[], ${col((e) => e.sourceEventId)}::text[])
             as u(ts, tenant_id, project_id, source_id, provider, service, environment, level, kind, message, fingerprint, attrs, source_event_id)
      on conflict (source_id, source_event_id, ts) do nothing`;
    inserted += rows.count;
  }
  return inserted;
}

/**
 * Tells live viewers (the `log` realtime event, on the project's and the tenant's topics) that a
 * batch landed: how many, from which source, the newest event's time and the count per level. One
 * event per stored batch, not per line, so a busy source can't flood a stream; a viewer fetches
 * the lines it shows through GET /v1/logs. Nothing is sent when the batch added nothing.
 */
export async function announceEvents(tx: Sql, events: NewEvent[], inserted: number): Promise<void> {
  const first = events[0];
  if (!first || inserted === 0) return;
  let newest = first.ts;
  const levels: Record<string, number> = {};
  for (const e of events) {
    if (e.ts > newest) newest = e.ts;
    levels[e.level] = (levels[e.level] ?? 0) + 1;
  }
  await publishRealtime(tx, first.tenantId, [`project:${first.projectId}`, `tenant:${first.tenantId}`], 'log', {
    type: 'events', project_id: first.projectId, source_id: first.sourceId, provider: first.provider,
    count: inserted, newest_ts: new Date(newest).toISOString(), levels,
  });
}

/** What events to match; every query adds the tenant. */
export interface EventMatch {
  projectId?: string;
  provider?: string;
  service?: string;
  level?: string;
  kind?: string;
  since?: string;
  until?: string;
  q?: string;
  /** Leave out Switchyard's own alert events (what an alert rule counts, unless it names a provider). */
  excludeOwnAlerts?: boolean;
}

export interface EventFilter extends EventMatch {
  after?: { ts: string; id: string };
  limit: number;
}

/** The WHERE clause every event query shares: the tenant, then each filter that is set. */
function matching(sql: Sql, tenantId: string, f: EventMatch) {
  const like = f.q ? `%${f.q.replace(/[\\%_]/g, (m) => `\\${m}`)}%` : null;
  return sql`
    tenant_id = ${tenantId}
    ${f.projectId ? sql`and project_id = ${f.projectId}` : sql``}
    ${f.provider ? sql`and provider = ${f.provider}` : f.excludeOwnAlerts ? sql`and provider <> 'switchyard'` : sql``}
    ${f.service ? sql`and service = ${f.service}` : sql``}
    ${f.level ? sql`and level = ${f.level}` : sql``}
    ${f.kind ? sql`and kind = ${f.kind}` : sql``}
    ${f.since ? sql`and ts >= ${f.since}` : sql``}
    ${f.until ? sql`and ts < ${f.until}` : sql``}
    ${like ? sql`and message ilike ${like}` : sql``}`;
}

export async function listEvents(sql: Sql, tenantId: string, f: EventFilter): Promise<EventRow[]> {
  return withCustomPlans(sql, (sql) => sql<EventRow[]>`
    select id::text, ts, project_id, source_id, provider, service, environment, level, kind, message, fingerprint, attrs, source_event_id, ingested_at
      from events
     where ${matching(sql, tenantId, f)}
       ${f.after ? sql`and (ts, id) < (${f.after.ts}::timestamptz, ${f.after.id}::bigint)` : sql``}
     -- events.id, not the text id of the select list: numeric order, and the index's order.
     order by ts desc, events.id desc
     limit ${f.limit}`);
}

export interface StatsRow { bucket: string; provider: string; level: string; count: number }

/** Counts per time bucket, provider and level; served by the (tenant, project, ts) index. */
export async function eventStats(sql: Sql, tenantId: string, f: EventMatch & { since: string; until: string; interval: '1m' | '1h' }): Promise<StatsRow[]> {
  const unit = f.interval === '1m' ? 'minute' : 'hour';
  return withCustomPlans(sql, (sql) => sql<StatsRow[]>`
    select date_trunc(${unit}, ts) as bucket, provider, level, count(*)::int as count
      from events
     where ${matching(sql, tenantId, f)}
     group by 1, 2, 3
     order by 1, 2, 3`);
}

/** How many events match (an alert rule's count over its window). */
export async function countEvents(sql: Sql, tenantId: string, f: EventMatch & { since: string; until: string }): Promise<number> {
  const [row] = await withCustomPlans(sql, (sql) => sql<{ n: number }[]>`select count(*)::int as n from events where ${matching(sql, tenantId, f)}`);
  return row!.n;
}
