/**
 * createDb: one postgres.js pool plus a drizzle handle over it.
 * Repositories take `Sql` (the pool or a transaction) as their first argument, so a caller can
 * compose several of them into one transaction with `db.sql.begin(tx => …)`.
 */
import postgres from 'postgres';
import { drizzle, type PostgresJsDatabase } from 'drizzle-orm/postgres-js';
import * as schema from './schema.ts';
import type { Metrics } from '../core/metrics.ts';

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
  /** Records each query's duration and errors, and the pool's queue (see `instrument`). */
  metrics?: Metrics;
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
  const sqlOut = options.metrics ? instrument(sql, options.metrics, options.max ?? 10) : sql;
  const orm = drizzle({ client: sqlOut, schema });
  // drizzle sets timestamp parsers to pass raw strings through; make those strings RFC 3339.
  // (It also passes jsonb parameters through unserialised: repositories send JSON text with ::jsonb.)
  sql.options.parsers[1184] = toIsoTimestamp;
  return {
    sql: sqlOut,
    orm,
    close: (timeout = 5) => sql.end({ timeout }),
    // A dedicated connection's queue is its own design (pipelining); it isn't counted as the pool's.
    dedicated: (applicationName) => createDb(url, { ...options, max: 1, applicationName, ...(options.metrics ? { metrics: { ...options.metrics, set: () => {} } } : {}) }),
  };
}

const OPERATIONS = new Set(['select', 'insert', 'update', 'delete', 'with', 'begin', 'commit', 'rollback', 'set', 'listen', 'notify', 'create', 'drop', 'alter', 'lock']);
const operationOf = (text: unknown): string => {
  const m = typeof text === 'string' ? /^\s*(?:--[^\n]*\n\s*)*\(?\s*([a-z]+)/i.exec(text) : null;
  const word = m?.[1]!.toLowerCase();
  return word && OPERATIONS.has(word) ? word : 'other';
};
/** SQLSTATE class (its first two characters), or `connection` for a client-side failure (no SQLSTATE). */
const sqlstateClass = (err: unknown): string => {
  const code = (err as { code?: unknown } | null)?.code;
  return typeof code === 'string' && /^[0-9A-Z]{5}$/.test(code) ? code.slice(0, 2) : 'connection';
};

/**
 * The pool, with every query timed: from the moment it is awaited (postgres.js sends a query
 * when it is first awaited; a fragment nested in another query never is) to its result, by SQL
 * command, and its failures by SQLSTATE class. Queries in a transaction are timed on the
 * transaction's own handle. `db_pool_waiting` counts queries and transactions beyond the pool's
 * size: each of those waits for a connection or is pipelined behind another query on one.
 */
const NONE = {} as const;

/** The parts of a postgres.js Query the timing below touches (src/query.js). */
type PgHandler = ((q: PgQuery) => unknown) & { debug?: unknown };
interface PgQuery {
  handler: PgHandler;
  resolve(x: unknown): void;
  reject(err: unknown): void;
  strings: readonly string[];
}

function instrument(root: postgres.Sql, metrics: Metrics, max: number): postgres.Sql {
  let holders = 0;
  // A failure inside a transaction also rejects the transaction: it is counted once.
  const counted = new WeakSet<object>();
  const hold = (d: number) => {
    holders += d;
    metrics.set('db_pool_waiting', NONE, Math.max(0, holders - max));
  };
  const settle = (operation: string, t0: number, topLevel: boolean, err: unknown) => {
    metrics.add('db_queries_in_flight', NONE, -1);
    if (topLevel) hold(-1);
    metrics.observe('db_query_duration_seconds', { operation }, (performance.now() - t0) / 1000);
    if (err !== undefined) {
      metrics.inc('db_query_errors_total', { sqlstate_class: sqlstateClass(err) });
      if (typeof err === 'object' && err) counted.add(err);
    }
  };
  // postgres.js calls a query's `handler` once, when the query is sent (on its first await; a
  // fragment nested in another query never is), and settles it through its own `resolve` and
  // `reject`. Those three are replaced on the query (each is an own property already, so the
  // query keeps its shape); the handler's stand-in is made once per handler, not per query.
  const standIns = [new WeakMap<PgHandler, PgHandler>(), new WeakMap<PgHandler, PgHandler>()] as const;
  const timed = (original: PgHandler, topLevel: boolean): PgHandler => {
    const cache = standIns[topLevel ? 0 : 1];
    let standIn = cache.get(original);
    if (!standIn) {
      standIn = Object.assign((q: PgQuery) => {
        const t0 = performance.now();
        const operation = operationOf(q.strings[0]);
        metrics.add('db_queries_in_flight', NONE, 1);
        if (topLevel) hold(1);
        const resolve = q.resolve;
        const reject = q.reject;
        q.resolve = (x) => (settle(operation, t0, topLevel, undefined), resolve(x));
        q.reject = (err) => (settle(operation, t0, topLevel, err ?? new Error('query failed')), reject(err));
        return original(q);
      }, { debug: original.debug });
      cache.set(original, standIn);
    }
    return standIn;
  };
  const track = (q: unknown, topLevel: boolean) => {
    const query = q as Partial<PgQuery> | null;
    if (query && typeof query.handler === 'function' && typeof query.resolve === 'function') query.handler = timed(query.handler, topLevel);
    return q;
  };
  const wrap = <S extends postgres.Sql | postgres.TransactionSql>(target: S, topLevel: boolean): S => new Proxy(target, {
    apply(fn, thisArg, args: unknown[]) {
      const q = Reflect.apply(fn as unknown as (...a: unknown[]) => unknown, thisArg, args);
      const strings = args[0] as { raw?: unknown; 0?: unknown } | undefined;
      return Array.isArray(strings?.raw) ? track(q, topLevel) : q;
    },
    get(fn, prop, receiver) {
      const value = Reflect.get(fn, prop, receiver);
      if (prop === 'unsafe') return (text: string, ...rest: unknown[]) => track((value as (...a: unknown[]) => unknown)(text, ...rest), topLevel);
      if (prop === 'begin' && topLevel) {
        return (...args: unknown[]) => {
          const fnIndex = typeof args[0] === 'function' ? 0 : 1;
          const body = args[fnIndex] as (tx: postgres.TransactionSql) => unknown;
          args[fnIndex] = (tx: postgres.TransactionSql) => body(wrap(tx, false));
          hold(1);
          const t0 = performance.now();
          return (value as (...a: unknown[]) => Promise<unknown>)(...args).then(
            (v) => (hold(-1), metrics.observe('db_query_duration_seconds', { operation: 'transaction' }, (performance.now() - t0) / 1000), v),
            (err) => {
              hold(-1);
              metrics.observe('db_query_duration_seconds', { operation: 'transaction' }, (performance.now() - t0) / 1000);
              // A failed COMMIT (a serialization failure) is the database's; an error thrown by the
              // transaction's own code (no SQLSTATE) is not a query error.
              if (typeof err === 'object' && err && !counted.has(err) && sqlstateClass(err) !== 'connection') metrics.inc('db_query_errors_total', { sqlstate_class: sqlstateClass(err) });
              throw err;
            },
          );
        };
      }
      return value;
    },
  });
  return wrap(root, true);
}
