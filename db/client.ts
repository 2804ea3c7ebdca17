/**
 * createDb: one postgres.js pool plus a drizzle handle over it.
 * Repositories take `Sql` (the pool or a transaction) as their first argument, so a caller can
 * compose several of them into one transaction with `db.sql.begin(tx => …)`.
 */
import postgres from 'postgres';
import { drizzle, type PostgresJsDatabase } from 'drizzle-orm/postgres-js';
import * as schema from './schema.ts';

export type Sql = postgres.Sql | postgres.TransactionSql;
export type Orm = PostgresJsDatabase<typeof schema>;

export interface Db {
  sql: postgres.Sql;
  orm: Orm;
  close(timeoutSeconds?: number): Promise<void>;
}

export interface DbOptions {
  /** Sees every query's text and parameters (the bench uses it to EXPLAIN the real queries). */
  debug?: (query: string, params: unknown[]) => void;
  max?: number;
  applicationName?: string;
  /** Prepared statements (default on); off behind a transaction-mode pooler. */
  prepare?: boolean;
  /** Called with server NOTICE messages; default drops them. */
  onnotice?: (n: postgres.Notice) => void;
}

/** Postgres prints timestamptz as `2026-01-02 03:04:05.678+00`; the API speaks RFC 3339. */
export function toIsoTimestamp(value: string): string {
  const withT = value.replace(' ', 'T');
  const zoned = /[+-]\d\d$/.test(withT) ? `${withT}:00` : withT;
  return new Date(zoned).toISOString();
}

/**
 * A row that came back as JSON (to_jsonb) rather than as columns: keys camelCased and timestamps
 * made RFC 3339, so it has the same shape as a row read directly.
 */
export function rowFromJson<T>(json: Record<string, unknown>): T {
  const out: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(json)) {
    const key = k.replace(/_([a-z0-9])/g, (_m, c: string) => c.toUpperCase());
    out[key] = typeof v === 'string' && k.endsWith('_at') ? new Date(v).toISOString() : v;
  }
  return out as T;
}

export function createDb(url: string, options: DbOptions = {}): Db {
  const sql = postgres(url, {
    max: options.max ?? 10,
    onnotice: options.onnotice ?? (() => {}),
    connection: {
      application_name: options.applicationName ?? 'switchyard', TimeZone: 'UTC',
      // With prepared statements, custom plans always: a cached generic plan can't see a search
      // pattern or a skewed filter value, and chose a full backward index scan for a rare `q`
      // over 1M events (bench, 1.06 s → 0.12 s). Without them (a pooler) there is no plan cache,
      // and poolers may refuse unknown startup parameters.
      ...(options.prepare === false ? {} : { plan_cache_mode: 'force_custom_plan' }),
    },
    // Hyperdrive and a direct connection keep prepared statements; a transaction-mode pooler can't.
    prepare: options.prepare ?? true,
    ...(options.debug ? { debug: (_conn: number, query: string, params: unknown[]) => options.debug!(query, params) } : {}),
    // Rows come back camelCased (tenant_id → tenantId), matching drizzle's inferred row types.
    transform: { column: { from: postgres.toCamel } },
  });
  const orm = drizzle({ client: sql, schema });
  // drizzle sets timestamp parsers to pass raw strings through; make those strings RFC 3339.
  // (It also passes jsonb parameters through unserialised: repositories send JSON text with ::jsonb.)
  sql.options.parsers[1184] = toIsoTimestamp;
  return {
    sql,
    orm,
    close: (timeout = 5) => sql.end({ timeout }),
  };
}
