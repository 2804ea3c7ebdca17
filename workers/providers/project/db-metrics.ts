/**
 * One sample of a project database's own statistics views, read over the project's own
 * connection (a direct one for `postgres` projects, Supabase's pooler for `supabase` ones):
 *
 * - connections to this database by state (`pg_stat_activity`) against its limit (the database's
 *   or role's connection limit, else `max_connections` minus the reserved slots);
 * - the cumulative counters of `pg_stat_database`: transactions committed and rolled back,
 *   blocks hit and read (the cache hit ratio comes from their deltas), deadlocks, temp bytes;
 * - the database's size;
 * - where `pg_stat_statements` is installed in it, the top statements by total time: their
 *   normalized text (constants already replaced by `$n` by the extension), never parameters.
 *
 * Counters are stored as read; rates are deltas between samples, taken at read time, so a restart
 * of the server (counters back to zero) shows as one gap, not as a negative rate.
 */
import postgres from 'postgres';

export interface TopStatement {
  query: string;
  calls: number;
  total_ms: number;
  mean_ms: number;
  rows: number;
}

export interface DatabaseSample {
  connections: { total: number; active: number; idle: number; idle_in_transaction: number; limit: number };
  xact_commit: number;
  xact_rollback: number;
  blks_hit: number;
  blks_read: number;
  deadlocks: number;
  temp_bytes: number;
  size_bytes: number;
  /** Null where `pg_stat_statements` is not installed in the database. */
  top_statements: TopStatement[] | null;
}

/** Statement text is cut to this many characters. */
const QUERY_CHARS = 500;

export async function sampleDatabase(connectionString: string, opts: { pooled?: boolean; timeoutS?: number } = {}): Promise<DatabaseSample> {
  const sql = postgres(connectionString, {
    max: 1, connect_timeout: opts.timeoutS ?? 5, idle_timeout: 1, onnotice: () => {}, transform: postgres.camel,
    // Behind a transaction-mode pooler there are no prepared statements.
    prepare: !opts.pooled,
    connection: { application_name: 'switchyard-metrics', statement_timeout: 5000 },
  });
  try {
    const [row] = await sql<{
      total: number; active: number; idle: number; idleInTransaction: number; dbLimit: number; roleLimit: number; maxConnections: number; reserved: number;
      xactCommit: string; xactRollback: string; blksHit: string; blksRead: string; deadlocks: string; tempBytes: string; sizeBytes: string; statements: boolean;
    }[]>`
      select
        (select count(*)::int from pg_stat_activity a where a.datname = current_database() and a.backend_type = 'client backend') as total,
        (select count(*)::int from pg_stat_activity a where a.datname = current_database() and a.state = 'active') as active,
        (select count(*)::int from pg_stat_activity a where a.datname = current_database() and a.state = 'idle') as idle,
        (select count(*)::int from pg_stat_activity a where a.datname = current_database() and a.state like 'idle in transaction%') as idle_in_transaction,
        (select datconnlimit from pg_database where datname = current_database()) as db_limit,
        (select rolconnlimit from pg_roles where rolname = current_user) as role_limit,
        current_setting('max_connections')::int as max_connections,
        current_setting('superuser_reserved_connections')::int as reserved,
        d.xact_commit::text, d.xact_rollback::text, d.blks_hit::text, d.blks_read::text, d.deadlocks::text, d.temp_bytes::text,
        pg_database_size(current_database())::text as size_bytes,
        exists (select 1 from pg_extension where extname = 'pg_stat_statements') as statements
      from pg_stat_database d where d.datname = current_database()`;
    if (!row) throw new Error('pg_stat_database has no row for this database');
    const limits = [row.dbLimit, row.roleLimit].filter((n) => n >= 0);
    const limit = limits.length ? Math.min(...limits) : row.maxConnections - row.reserved;
    let top: TopStatement[] | null = null;
    if (row.statements) {
      try {
        const rows = await sql<{ query: string; calls: string; totalMs: number; meanMs: number; rows: string }[]>`
          select left(query, ${QUERY_CHARS}) as query, calls::text, total_exec_time as total_ms, mean_exec_time as mean_ms, rows::text
            from pg_stat_statements
           where dbid = (select oid from pg_database where datname = current_database())
             and query not like '%pg_stat_statements%'
           order by total_exec_time desc limit 10`;
        top = rows.map((r) => ({ query: r.query, calls: Number(r.calls), total_ms: r.totalMs, mean_ms: r.meanMs, rows: Number(r.rows) }));
      } catch {
        // Installed but not loaded (shared_preload_libraries), or not readable by this role.
        top = null;
      }
    }
    return {
      connections: { total: row.total, active: row.active, idle: row.idle, idle_in_transaction: row.idleInTransaction, limit },
      xact_commit: Number(row.xactCommit), xact_rollback: Number(row.xactRollback), blks_hit: Number(row.blksHit), blks_read: Number(row.blksRead),
      deadlocks: Number(row.deadlocks), temp_bytes: Number(row.tempBytes), size_bytes: Number(row.sizeBytes), top_statements: top,
    };
  } finally {
    await sql.end({ timeout: 1 }).catch(() => {});
  }
}
