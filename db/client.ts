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
  /**
   * A client of its own over one connection, with the same settings. Queries issued on it while
   * one is running are pipelined: sent at once, and run by Postgres back to back, in order. (The
   * local runner's claims and completions use one; see workers/queue/local-runner.ts.)
   */
  dedicated(applicationName: string): Db;
}

export interface DbOptions {
  /** Sees every query's text and parameters (the bench uses it to EXPLAIN the real queries). */
  debug?: (query: string, params: unknown[]) => void;
  max?: number;
  applicationName?: string;
  /** Prepared statements (default on); off behind a transaction-mode pooler. */
  prepare?: boolean;
  /** Seconds to establish a connection (postgres.js's default is 30). */
  connectTimeoutS?: number;
  /** Server-side bound on each statement, in ms; 0 or absent: the server's default. */
  statementTimeoutMs?: number;
  /** Called with server NOTICE messages; default drops them. */
  onnotice?: (n: postgres.Notice) => void;
}

/**
 * Postgres prints timestamptz as `2026-01-02 03:04:05.678912+00`; the API speaks RFC 3339 with
 * milliseconds. Sessions run in UTC (below), so the usual value is rewritten as text (a list of 20
 * projects parses 60 of them, and going through Date was 9% of the API's CPU); anything else
 * (another offset, a year past 9999, BC, infinity) goes through Date, which truncates to the
 * millisecond exactly as the fast path does.
 */
const UTC_TIMESTAMP = /^(\d{4}-\d\d-\d\d) (\d\d:\d\d:\d\d)(?:\.(\d{1,6}))?\+00$/;
export function toIsoTimestamp(value: string): string {
  const m = UTC_TIMESTAMP.exec(value);
  if (m) return `${m[1]}T${m[2]}.${((m[3] ?? '') + '000').slice(0, 3)}Z`;
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
  for (const k in json) {
    const v = json[k];
    let key = camelKeys.get(k);
    if (key === undefined) {
      key = k.replace(/_([a-z0-9])/g, (_m, c: string) => c.toUpperCase());
      // Column names are a small fixed set; the bound only guards against a caller's own keys.
      if (camelKeys.size < 1000) camelKeys.set(k, key);
    }
    out[key] = typeof v === 'string' && k.endsWith('_at') ? new Date(v).toISOString() : v;
  }
  return out as T;
}
const camelKeys = new Map<string, string>();

/**
 * Runs `fn` with custom plans forced for its statements (SET LOCAL, in a transaction of its own
 * unless `sql` already is one). postgres.js prepares every statement, and Postgres then decides per
 * statement between a generic plan and replanning with the values. A log search needs a custom
 * plan: a generic one can't see the pattern, and walked 1M events backwards for a rare `q` (bench:
 * 1.06 s → 0.12 s). Forcing custom plans on every connection made each write replan and tripled
 * the database's CPU per `POST /v1/projects` (bench: 1.44 → 0.51 ms), so the default stays
 * Postgres's own. (The runner's claim needs the opposite, a generic plan; it is a SQL function that
 * carries that setting itself: switchyard_claim_due_jobs.)
 */
export async function withCustomPlans<T>(sql: Sql, fn: (sql: Sql) => Promise<T>): Promise<T> {
  const run = async (tx: Sql) => {
    await tx`select set_config('plan_cache_mode', 'force_custom_plan', true)`;
    return fn(tx);
  };
  return 'begin' in sql ? ((await sql.begin(run)) as T) : run(sql);
}

/**
 * Seconds before a pool reconnects after a failed connection. postgres.js's default grows with
 * every failure the pool has seen (3^n / 100 s, to 20 s) and resets only on a success, so after a
 * restart of the server that refused ~8 connects, a query waited up to 20 s with the server long
 * back. Capped at half a second: reconnecting is cheap, and the availability probe
 * (db/availability.ts) already keeps requests away from a database that is down.
 */
export function reconnectBackoff(retries: number): number {
  return Math.min(0.02 * 2 ** retries, 0.5) * (0.5 + Math.random() / 2);
}

export function createDb(url: string, options: DbOptions = {}): Db {
  const sql = postgres(url, {
    max: options.max ?? 10,
    onnotice: options.onnotice ?? (() => {}),
    connect_timeout: options.connectTimeoutS ?? 5,
    backoff: reconnectBackoff,
    connection: {
      application_name: options.applicationName ?? 'switchyard', TimeZone: 'UTC',
      ...(options.statementTimeoutMs ? { statement_timeout: options.statementTimeoutMs } : {}),
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
    dedicated: (applicationName) => createDb(url, { ...options, max: 1, applicationName }),
  };
}
