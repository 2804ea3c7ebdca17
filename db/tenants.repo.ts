/** Tenants and API keys. Plain CRUD, so drizzle; the key lookup is the hot path of every request. */
import { and, desc, eq, isNull, lt } from 'drizzle-orm';
import type { Orm, Sql } from './client.ts';
import type { PgTransaction } from 'drizzle-orm/pg-core';

/** drizzle's handle or one of its transactions. */
type OrmLike = Orm | PgTransaction<any, any, any>;
import { apiKeys, tenants } from './schema.ts';

export type Tenant = typeof tenants.$inferSelect;
export type ApiKey = typeof apiKeys.$inferSelect;
export type Role = 'admin' | 'member' | 'viewer';
export type Plan = 'free' | 'pro' | 'enterprise';

export async function insertTenant(orm: OrmLike, t: { id: string; name: string; plan: Plan; apiVersion: string; isOperator?: boolean }) {
  const [row] = await orm.insert(tenants).values(t).returning();
  return row!;
}

export async function insertApiKey(
  orm: OrmLike,
  k: { id: string; tenantId: string; role: Role; hash: string; prefix: string; name?: string },
) {
  const [row] = await orm.insert(apiKeys).values(k).returning();
  return row!;
}

export async function listTenants(orm: Orm, opts: { after?: string; limit: number }) {
  return orm.select().from(tenants)
    .where(opts.after ? lt(tenants.id, opts.after) : undefined)
    .orderBy(desc(tenants.id)).limit(opts.limit);
}

export async function getOperatorTenant(orm: Orm) {
  const [row] = await orm.select().from(tenants).where(eq(tenants.isOperator, true));
  return row ?? null;
}

/** The caller's own tenant and key (scoped by both ids). */
export async function getSelf(orm: Orm, tenantId: string, keyId: string) {
  const [row] = await orm.select({ tenant: tenants, key: apiKeys }).from(apiKeys)
    .innerJoin(tenants, eq(tenants.id, apiKeys.tenantId))
    .where(and(eq(apiKeys.tenantId, tenantId), eq(apiKeys.id, keyId)));
  return row ?? null;
}

/** Changes the tenant's version pin. */
export async function setTenantApiVersion(orm: Orm, tenantId: string, apiVersion: string) {
  const [row] = await orm.update(tenants).set({ apiVersion }).where(eq(tenants.id, tenantId)).returning();
  return row ?? null;
}

export async function listApiKeys(orm: Orm, tenantId: string) {
  return orm.select().from(apiKeys).where(eq(apiKeys.tenantId, tenantId)).orderBy(desc(apiKeys.id));
}

export async function revokeApiKey(orm: Orm, tenantId: string, id: string) {
  const [row] = await orm.update(apiKeys).set({ revokedAt: new Date().toISOString() })
    .where(and(eq(apiKeys.id, id), eq(apiKeys.tenantId, tenantId), isNull(apiKeys.revokedAt)))
    .returning();
  return row ?? null;
}

export interface KeyPrincipal {
  keyId: string;
  tenantId: string;
  role: Role;
  isOperator: boolean;
  plan: Plan;
  /** The tenant's version pin. */
  apiVersion: string;
  /** The key's public prefix (what the audit log names it by); absent for event tokens. */
  keyPrefix?: string;
}

/**
 * Of these key ids, the ones no longer usable (revoked, or gone). One statement for all of a
 * process's open streams: realtime ends a revoked key's streams with it (events.handlers.ts).
 */
export async function unusableKeyIds(sql: Sql, ids: string[]): Promise<string[]> {
  if (ids.length === 0) return [];
  const live = await sql<{ id: string }[]>`select id from api_keys where id = any(${ids}::text[]) and revoked_at is null`;
  const ok = new Set(live.map((r) => r.id));
  return ids.filter((id) => !ok.has(id));
}

/** Resolves a key hash to its tenant, or null for unknown and revoked keys. */
export async function findPrincipalByKeyHash(sql: Sql, hash: string): Promise<KeyPrincipal | null> {
  const [row] = await sql<KeyPrincipal[]>`
    select k.id as key_id, k.prefix as key_prefix, k.tenant_id, k.role, t.is_operator, t.plan, t.api_version
      from api_keys k join tenants t on t.id = k.tenant_id
     where k.hash = ${hash} and k.revoked_at is null`;
  return row ?? null;
}

export async function touchApiKey(sql: Sql, keyId: string) {
  await sql`update api_keys set last_used_at = now() where id = ${keyId}`;
}
