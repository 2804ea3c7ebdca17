/** Log sources and their raw webhook deliveries. Every query is scoped by tenant (and project). */
import type { Sql } from './client.ts';
import type { logSources, webhookDeliveries } from './schema.ts';

export type LogSource = typeof logSources.$inferSelect;
export type WebhookDelivery = typeof webhookDeliveries.$inferSelect;

export interface NewLogSource {
  id: string;
  tenantId: string;
  projectId: string;
  provider: string;
  config: Record<string, unknown>;
  credentials: string | null;
  hasApiKey: boolean;
  hasWebhookSecret: boolean;
  pullIntervalS: number;
}

/** Inserts a source for a live project of the tenant; null when there is no such project. */
export async function insertLogSource(sql: Sql, s: NewLogSource): Promise<LogSource | null> {
  const [row] = await sql<LogSource[]>`
    insert into log_sources (id, tenant_id, project_id, provider, config, credentials, has_api_key, has_webhook_secret,
                             pull_interval_s, next_pull_at)
    select ${s.id}, p.tenant_id, p.id, ${s.provider}, ${JSON.stringify(s.config)}::jsonb, ${s.credentials}, ${s.hasApiKey}, ${s.hasWebhookSecret},
           ${s.pullIntervalS}, case when ${s.hasApiKey} then now() end
      from projects p
     where p.id = ${s.projectId} and p.tenant_id = ${s.tenantId} and p.status <> 'deleted'
    returning *`;
  return row ?? null;
}

export async function listLogSources(sql: Sql, tenantId: string, projectId: string): Promise<LogSource[]> {
  return sql<LogSource[]>`
    select * from log_sources
     where tenant_id = ${tenantId} and project_id = ${projectId} and deleted_at is null
     order by id desc`;
}

export async function getLogSource(sql: Sql, tenantId: string, projectId: string, id: string): Promise<LogSource | null> {
  const [row] = await sql<LogSource[]>`
    select * from log_sources
     where id = ${id} and tenant_id = ${tenantId} and project_id = ${projectId} and deleted_at is null`;
  return row ?? null;
}

/** For webhooks, which are authenticated by the source's own signing secret, not an API key. */
export async function getLogSourceForWebhook(sql: Sql, id: string, provider: string): Promise<LogSource | null> {
  const [row] = await sql<LogSource[]>`
    select * from log_sources where id = ${id} and provider = ${provider} and deleted_at is null`;
  return row ?? null;
}

export async function deleteLogSource(sql: Sql, tenantId: string, projectId: string, id: string): Promise<boolean> {
  const rows = await sql`
    update log_sources set deleted_at = now(), credentials = null, next_pull_at = null, updated_at = now()
     where id = ${id} and tenant_id = ${tenantId} and project_id = ${projectId} and deleted_at is null
    returning id`;
  return rows.length > 0;
}

/** The delivery's INSERT; no row when this source has seen this delivery id before. */
export function insertDeliveryQuery(sql: Sql, d: { id: string; tenantId: string; sourceId: string; provider: string; deliveryId: string; resource: string | null; headers: Record<string, string>; body: string }) {
  return sql`
    insert into webhook_deliveries (id, tenant_id, source_id, provider, delivery_id, resource, headers, body)
    values (${d.id}, ${d.tenantId}, ${d.sourceId}, ${d.provider}, ${d.deliveryId}, ${d.resource}, ${JSON.stringify(d.headers)}::jsonb, ${d.body})
    on conflict (source_id, delivery_id) do nothing
    returning *`;
}

export async function getDelivery(sql: Sql, tenantId: string, id: string): Promise<WebhookDelivery | null> {
  const [row] = await sql<WebhookDelivery[]>`select * from webhook_deliveries where id = ${id} and tenant_id = ${tenantId}`;
  return row ?? null;
}

export async function markDeliveryProcessed(sql: Sql, tenantId: string, id: string, eventCount: number): Promise<void> {
  await sql`update webhook_deliveries set processed_at = now(), event_count = coalesce(event_count, 0) + ${eventCount} where id = ${id} and tenant_id = ${tenantId}`;
}

export async function getLogSourceById(sql: Sql, tenantId: string, id: string): Promise<LogSource | null> {
  const [row] = await sql<LogSource[]>`select * from log_sources where id = ${id} and tenant_id = ${tenantId} and deleted_at is null`;
  return row ?? null;
}

/**
 * A pull's bookkeeping, in the transaction of the events it covers: the new high-water mark, and
 * on a finished pull its time and error (null clears an old one).
 */
export async function recordPull(
  sql: Sql,
  tenantId: string,
  id: string,
  p: { cursor?: Record<string, unknown>; finished?: boolean; lastError?: string | null },
): Promise<void> {
  await sql`
    update log_sources set
      cursor = ${p.cursor ? sql`${JSON.stringify(p.cursor)}::jsonb` : sql`cursor`},
      last_pulled_at = ${p.finished ? sql`now()` : sql`last_pulled_at`},
      last_error = ${p.lastError !== undefined ? p.lastError : sql`last_error`},
      updated_at = now()
     where id = ${id} and tenant_id = ${tenantId}`;
}

export async function listDeliveries(sql: Sql, tenantId: string, sourceId: string, limit: number): Promise<WebhookDelivery[]> {
  return sql<WebhookDelivery[]>`
    select * from webhook_deliveries where tenant_id = ${tenantId} and source_id = ${sourceId}
     order by id desc limit ${limit}`;
}
