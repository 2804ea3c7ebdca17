/**
 * Stores. Status changes go through `transitionStoreQuery` (a named transition from db/status.ts
 * as one conditional UPDATE); creation is conditional on the tenant's plan cap.
 */
import type { Sql } from './client.ts';
import type { stores } from './schema.ts';
import { storeTransitions, type StoreStatus, type StoreTransition } from './status.ts';

export type Store = typeof stores.$inferSelect & { status: StoreStatus };

export interface NewStore {
  id: string;
  tenantId: string;
  name: string;
  engine: string;
  plan: string;
  runtime: string;
}

/** Holds this tenant's store creates one at a time until the transaction ends (a cap check can't be raced). */
export async function lockTenantStores(sql: Sql, tenantId: string): Promise<void> {
  await sql`select pg_advisory_xact_lock(hashtextextended(${'stores:' + tenantId}, 0))`;
}

export async function countLiveStores(sql: Sql, tenantId: string): Promise<number> {
  const [row] = await sql<{ n: number }[]>`
    select count(*)::int as n from stores where tenant_id = ${tenantId} and status <> 'deleted'`;
  return row!.n;
}

/** The INSERT of a new store; no row when the name is taken by a live store of the tenant. */
export function insertStoreQuery(sql: Sql, s: NewStore) {
  return sql`
    insert into stores (id, tenant_id, name, engine, plan, runtime, status)
    values (${s.id}, ${s.tenantId}, ${s.name}, ${s.engine}, ${s.plan}, ${s.runtime}, 'provisioning')
    on conflict (tenant_id, name) where status <> 'deleted' do nothing
    returning *`;
}

export async function getStore(sql: Sql, tenantId: string, id: string): Promise<Store | null> {
  const [row] = await sql<Store[]>`select * from stores where id = ${id} and tenant_id = ${tenantId}`;
  return row ?? null;
}

export async function listStores(
  sql: Sql,
  tenantId: string,
  opts: { status?: StoreStatus; after?: string; limit: number },
): Promise<Store[]> {
  return sql<Store[]>`
    select * from stores
     where tenant_id = ${tenantId}
       ${opts.status ? sql`and status = ${opts.status}` : sql`and status <> 'deleted'`}
       ${opts.after ? sql`and id < ${opts.after}` : sql``}
     order by id desc limit ${opts.limit}`;
}

export interface StorePatch {
  providerRef?: string | null;
  urls?: Record<string, unknown>;
  runtimeDetails?: Record<string, unknown>;
  initialCredentials?: string | null;
  lastError?: string | null;
}

export function transitionStoreQuery(sql: Sql, tenantId: string, id: string, name: StoreTransition, patch: StorePatch = {}) {
  const t = storeTransitions[name];
  return sql`
    update stores
       set status = ${t.to}, updated_at = now(),
           provider_ref = ${'providerRef' in patch ? patch.providerRef ?? null : sql`provider_ref`},
           urls = ${patch.urls ? sql`${JSON.stringify(patch.urls)}::jsonb` : sql`urls`},
           runtime_details = ${patch.runtimeDetails ? sql`${JSON.stringify(patch.runtimeDetails)}::jsonb` : sql`runtime_details`},
           initial_credentials = ${'initialCredentials' in patch ? patch.initialCredentials ?? null : sql`initial_credentials`},
           last_error = ${'lastError' in patch ? patch.lastError ?? null : name === 'fail' ? sql`last_error` : null}
     where id = ${id} and tenant_id = ${tenantId} and status = any(${t.from as unknown as string[]})
     returning *`;
}

export async function transitionStore(sql: Sql, tenantId: string, id: string, name: StoreTransition, patch: StorePatch = {}) {
  const [row] = await transitionStoreQuery(sql, tenantId, id, name, patch);
  return (row as Store | undefined) ?? null;
}

/** Records runtime facts between steps (a namespace created, a phase reached) without a status change. */
export async function patchStoreDetails(sql: Sql, tenantId: string, id: string, patch: { providerRef?: string; runtimeDetails?: Record<string, unknown> }) {
  await sql`
    update stores set
      provider_ref = coalesce(${patch.providerRef ?? null}, provider_ref),
      runtime_details = runtime_details || ${JSON.stringify(patch.runtimeDetails ?? {})}::jsonb,
      updated_at = now()
     where id = ${id} and tenant_id = ${tenantId}`;
}

/**
 * Takes the sealed first-admin credentials, once: the row's copy is cleared in the same
 * statement, so a second request (or a concurrent one) gets nothing.
 */
export async function takeInitialCredentials(sql: Sql, tenantId: string, id: string) {
  const [row] = await sql<{ sealed: string | null; status: StoreStatus; revealedAt: string | null }[]>`
    with s as (select id, status, initial_credentials, credentials_revealed_at from stores
                where id = ${id} and tenant_id = ${tenantId} for update),
    u as (
      update stores set initial_credentials = null, credentials_revealed_at = now()
       where id = ${id} and tenant_id = ${tenantId} and initial_credentials is not null
      returning id
    )
    select s.initial_credentials as sealed, s.status, s.credentials_revealed_at as revealed_at from s`;
  return row ?? null;
}

/** The provisioning timeline: every job about the store, with each job's events, in order. */
export async function listStoreEvents(sql: Sql, tenantId: string, id: string) {
  return sql<{ id: string; jobId: string; kind: string; type: string; data: Record<string, unknown>; createdAt: string }[]>`
    select e.id::text, e.job_id, j.kind, e.type, e.data, e.created_at
      from jobs j join job_events e on e.job_id = j.id
     where j.tenant_id = ${tenantId} and j.subject_type = 'store' and j.subject_id = ${id}
       and e.tenant_id = ${tenantId}
     order by e.id`;
}
