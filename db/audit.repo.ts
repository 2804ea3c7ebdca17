/**
 * The audit log (schema.ts, auditLog). Raw SQL: each write and its realtime `audit` event are one
 * statement, and the list is a keyset scan of (tenant_id, id).
 *
 * The event goes into the SSE outbox only, not through switchyard_publish: SSE gives audit events
 * to admin keys alone (events.handlers.ts), while a Supabase Realtime private channel of the
 * tenant admits any of its keys' tokens, viewers' included.
 */
import type { Sql } from './client.ts';

export interface AuditEntry {
  id: string;
  tenantId: string | null;
  keyId: string | null;
  keyRole: string | null;
  keyPrefix: string | null;
  method: string;
  route: string;
  resourceId: string | null;
  requestId: string;
  clientAddress: string | null;
  userAgent: string | null;
}

export interface AuditRow extends AuditEntry {
  ts: string;
  status: number | null;
  outcomeAt: string | null;
}

/** The realtime payload of a finished row `r` (the same fields GET /v1/audit-log shows). */
const payload = (sql: Sql) => sql`jsonb_build_object(
  'id', r.id, 'ts', r.ts, 'tenant_id', r.tenant_id, 'key', jsonb_build_object('id', r.key_id, 'role', r.key_role, 'prefix', r.key_prefix),
  'method', r.method, 'route', r.route, 'resource_id', r.resource_id, 'status', r.status, 'request_id', r.request_id,
  'client_address', r.client_address, 'user_agent', r.user_agent)`;

/**
 * Audit writes commit without waiting for the WAL flush (synchronous_commit off for their own
 * transaction, set inside the statement). That loses nothing that matters: WAL is flushed in
 * order, so the synchronous commit of the change a pending row announces makes the row durable
 * too; a crash can lose only a row whose change never committed, or an outcome (the row then
 * stays pending). Must run as its own statement, never inside a caller's transaction.
 */
const asyncCommit = (sql: Sql) => sql`(select set_config('synchronous_commit', 'off', true)) is not null`;

/**
 * Writes a row: pending (`status` null), before the handler runs, or complete, for a request
 * refused before it. A complete row of a tenant is published as an `audit` event on `tenant:<id>`
 * in the same statement.
 */
export async function insertAudit(sql: Sql, e: AuditEntry, status: number | null): Promise<void> {
  await sql`
    with r as (
      insert into audit_log (id, tenant_id, key_id, key_role, key_prefix, method, route, resource_id, status, request_id, client_address, user_agent, outcome_at)
      select ${e.id}, ${e.tenantId}, ${e.keyId}, ${e.keyRole}, ${e.keyPrefix}, ${e.method}, ${e.route}, ${e.resourceId}, ${status}::int,
             ${e.requestId}, ${e.clientAddress}, ${e.userAgent}, ${status === null ? null : sql`now()`}::timestamptz
       where ${asyncCommit(sql)}
      returning *)
    insert into realtime_events (tenant_id, topics, event, payload)
    select r.tenant_id, array['tenant:' || r.tenant_id], 'audit', ${payload(sql)}
      from r where r.status is not null and r.tenant_id is not null`;
}

/** An audit row written by the statement that makes the change (db/jobs.repo.ts writeSubjectsWithJobs): complete, with its status. */
export interface StatementAudit extends AuditEntry {
  status: number;
}

/**
 * The CTEs that write complete audit rows for the subjects a statement wrote (`s`, joined by
 * `subjectId`), each row's resource being its subject, and publish them: the change and its
 * record are then one transaction, and a subject the statement didn't write (a taken slug) gets
 * no row here. Starts with a comma, for the end of a WITH list.
 */
export function auditRowsCte(sql: Sql, list: Array<StatementAudit & { subjectId: string }>) {
  const col = <T>(f: (e: StatementAudit & { subjectId: string }) => T) => list.map(f);
  return sql`, audited as (
      insert into audit_log (id, tenant_id, key_id, key_role, key_prefix, method, route, resource_id, status, request_id, client_address, user_agent, outcome_at)
      select ai.id, s.tenant_id, ai.key_id, ai.key_role, ai.key_prefix, ai.method, ai.route, s.id, ai.status, ai.request_id, ai.client_address, ai.user_agent, now()
        from unnest(${col((e) => e.subjectId)}::text[], ${col((e) => e.id)}::text[], ${col((e) => e.keyId)}::text[], ${col((e) => e.keyRole)}::text[],
                    ${col((e) => e.keyPrefix)}::text[], ${col((e) => e.method)}::text[], ${col((e) => e.route)}::text[], ${col((e) => e.status)}::int[],
                    ${col((e) => e.requestId)}::text[], ${col((e) => e.clientAddress)}::text[], ${col((e) => e.userAgent)}::text[])
             as ai(subject_id, id, key_id, key_role, key_prefix, method, route, status, request_id, client_address, user_agent)
        join s on s.id = ai.subject_id
      returning *
    ), audit_events as (
      insert into realtime_events (tenant_id, topics, event, payload)
      select r.tenant_id, array['tenant:' || r.tenant_id], 'audit', ${payload(sql)} from audited r where r.tenant_id is not null
    )`;
}

/** Fills in a pending row's outcome (once; the table's trigger refuses anything else) and publishes it. */
export async function completeAudit(sql: Sql, id: string, status: number, resourceId: string | null): Promise<void> {
  await sql`
    with r as (
      update audit_log set status = ${status}, outcome_at = now(), resource_id = coalesce(resource_id, ${resourceId})
       where id = ${id} and status is null and ${asyncCommit(sql)}
      returning *)
    insert into realtime_events (tenant_id, topics, event, payload)
    select r.tenant_id, array['tenant:' || r.tenant_id], 'audit', ${payload(sql)}
      from r where r.tenant_id is not null`;
}

export interface AuditFilter {
  keyId?: string;
  resourceId?: string;
  route?: string;
  method?: string;
  status?: number;
  since?: string;
  until?: string;
  after?: string;
  limit: number;
}

/** A tenant's rows, newest first. The operator tenant also sees rows tied to no tenant (401s). */
export async function listAudit(sql: Sql, tenantId: string, includeUnattributed: boolean, f: AuditFilter): Promise<AuditRow[]> {
  return sql<AuditRow[]>`
    select id, ts, tenant_id, key_id, key_role, key_prefix, method, route, resource_id, status, request_id, client_address, user_agent, outcome_at
      from audit_log
     where (tenant_id = ${tenantId} ${includeUnattributed ? sql`or tenant_id is null` : sql``})
       ${f.keyId ? sql`and key_id = ${f.keyId}` : sql``}
       ${f.resourceId ? sql`and resource_id = ${f.resourceId}` : sql``}
       ${f.route ? sql`and route = ${f.route}` : sql``}
       ${f.method ? sql`and method = ${f.method}` : sql``}
       ${f.status !== undefined ? sql`and status = ${f.status}` : sql``}
       ${f.since ? sql`and ts >= ${f.since}` : sql``}
       ${f.until ? sql`and ts < ${f.until}` : sql``}
       ${f.after ? sql`and id < ${f.after}` : sql``}
     order by id desc
     limit ${f.limit}`;
}

/** Retention by plan (days); rows tied to no tenant are kept as long as the longest plan's. */
export async function pruneAudit(sql: Sql, days: { free: number; pro: number; enterprise: number }): Promise<number> {
  const longest = Math.max(days.free, days.pro, days.enterprise);
  const shortest = Math.min(days.free, days.pro, days.enterprise);
  const rows = await sql`
    delete from audit_log a
     using (select null::text as id, ${longest}::int as days
            union all select t.id, case t.plan when 'enterprise' then ${days.enterprise}::int when 'pro' then ${days.pro}::int else ${days.free}::int end from tenants t) k
     -- The first bound lets the ts index skip every row younger than the shortest retention.
     where a.ts < now() - make_interval(days => ${shortest}::int)
       and a.tenant_id is not distinct from k.id and a.ts < now() - make_interval(days => k.days)`;
  return rows.count;
}
