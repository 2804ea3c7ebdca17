/**
 * Database metrics of projects: one row per sample (`project_metrics`), counters as read. A table
 * of its own rather than `kind: metric` rows in `events`: samples are numbers read by time range
 * and aggregated per bucket, never searched as text; `events` carries a trigram index and day
 * partitions sized for log lines, which samples would only make slower. Kept by plan like events.
 *
 * Rates (transactions per second, cache hit ratio, deadlocks) are deltas between consecutive
 * samples, taken here at read time; a negative delta (the server restarted and its counters began
 * again) counts as no data for that interval.
 */
import type { Sql } from './client.ts';

export interface MetricSampleInput {
  tenantId: string;
  projectId: string;
  ts: string;
  connectionsTotal: number;
  connectionsActive: number;
  connectionsIdle: number;
  connectionsIdleInTx: number;
  connectionsLimit: number;
  xactCommit: number;
  xactRollback: number;
  blksHit: number;
  blksRead: number;
  deadlocks: number;
  tempBytes: number;
  sizeBytes: number;
  topStatements: unknown[] | null;
}

export async function insertMetricSample(sql: Sql, s: MetricSampleInput): Promise<void> {
  await sql`
    insert into project_metrics (tenant_id, project_id, ts, connections_total, connections_active, connections_idle, connections_idle_in_tx,
                                 connections_limit, xact_commit, xact_rollback, blks_hit, blks_read, deadlocks, temp_bytes, size_bytes, top_statements)
    values (${s.tenantId}, ${s.projectId}, ${s.ts}, ${s.connectionsTotal}, ${s.connectionsActive}, ${s.connectionsIdle}, ${s.connectionsIdleInTx},
            ${s.connectionsLimit}, ${s.xactCommit}, ${s.xactRollback}, ${s.blksHit}, ${s.blksRead}, ${s.deadlocks}, ${s.tempBytes}, ${s.sizeBytes},
            ${s.topStatements === null ? null : JSON.stringify(s.topStatements)}::jsonb)
    on conflict (project_id, ts) do nothing`;
}

export interface MetricBucket {
  ts: string;
  samples: number;
  connections: number;
  connectionsActive: number;
  connectionsIdle: number;
  connectionsIdleInTx: number;
  connectionsLimit: number;
  /** connections / limit (the bucket's highest sample). */
  connectionsRatio: number | null;
  commitsPerS: number | null;
  rollbacksPerS: number | null;
  cacheHitRatio: number | null;
  deadlocks: number | null;
  tempBytes: number | null;
  sizeBytes: number;
}

/** Per-bucket figures between `since` and `until`, oldest first: gauges at their highest, rates from the deltas. */
export async function metricBuckets(sql: Sql, tenantId: string, projectId: string, f: { since: string; until: string; intervalS: number }): Promise<MetricBucket[]> {
  return sql<MetricBucket[]>`
    with s as (
      select ts, connections_total, connections_active, connections_idle, connections_idle_in_tx, connections_limit, size_bytes,
             extract(epoch from ts - lag(ts) over w) as dt,
             xact_commit - lag(xact_commit) over w as d_commit,
             xact_rollback - lag(xact_rollback) over w as d_rollback,
             blks_hit - lag(blks_hit) over w as d_hit,
             blks_read - lag(blks_read) over w as d_read,
             deadlocks - lag(deadlocks) over w as d_deadlocks,
             temp_bytes - lag(temp_bytes) over w as d_temp
        from project_metrics
       where tenant_id = ${tenantId} and project_id = ${projectId}
         and ts >= ${f.since}::timestamptz - ${f.intervalS} * interval '1 second' and ts < ${f.until}::timestamptz
      window w as (order by ts)
    ), ok as (
      -- A counter that went down (a restart) gives no delta for its interval.
      select *, (d_commit >= 0 and d_rollback >= 0 and d_hit >= 0 and d_read >= 0 and d_deadlocks >= 0 and d_temp >= 0 and dt > 0) as valid from s
    )
    select to_timestamp(floor(extract(epoch from ts) / ${f.intervalS}) * ${f.intervalS}) as ts,
           count(*)::int as samples,
           max(connections_total)::int as connections,
           max(connections_active)::int as connections_active,
           max(connections_idle)::int as connections_idle,
           max(connections_idle_in_tx)::int as connections_idle_in_tx,
           max(connections_limit)::int as connections_limit,
           max(connections_total::float8 / nullif(connections_limit, 0)) as connections_ratio,
           sum(d_commit) filter (where valid)::float8 / nullif(sum(dt) filter (where valid), 0) as commits_per_s,
           sum(d_rollback) filter (where valid)::float8 / nullif(sum(dt) filter (where valid), 0) as rollbacks_per_s,
           sum(d_hit) filter (where valid)::float8 / nullif(sum(d_hit + d_read) filter (where valid), 0) as cache_hit_ratio,
           (sum(d_deadlocks) filter (where valid))::float8 as deadlocks,
           (sum(d_temp) filter (where valid))::float8 as temp_bytes,
           max(size_bytes)::float8 as size_bytes
      from ok
     where ts >= ${f.since}::timestamptz
     group by 1 order by 1`;
}

/** The newest sample's top statements, if it has any. */
export async function latestTopStatements(sql: Sql, tenantId: string, projectId: string): Promise<{ ts: string; statements: unknown[] } | null> {
  const [row] = await sql<{ ts: string; topStatements: unknown[] }[]>`
    select ts, top_statements from project_metrics
     where tenant_id = ${tenantId} and project_id = ${projectId} and top_statements is not null
     order by ts desc limit 1`;
  return row ? { ts: row.ts, statements: row.topStatements } : null;
}

/** The metrics an alert rule can watch, as of the newest samples within `windowS`. */
export const WATCHABLE_METRICS = ['connections', 'connections_ratio', 'cache_hit_ratio', 'rollback_ratio', 'deadlocks', 'temp_bytes', 'size_bytes'] as const;
export type WatchableMetric = (typeof WATCHABLE_METRICS)[number];

/**
 * A metric's value over the last `windowS`: gauges from the newest sample; ratios and counts
 * from the deltas between the window's first and last samples. Null without enough samples.
 */
export async function metricValue(sql: Sql, tenantId: string, projectId: string, metric: WatchableMetric, windowS: number): Promise<number | null> {
  const [row] = await sql<{ first: Record<string, number> | null; last: Record<string, number> | null }[]>`
    with w as (
      select * from project_metrics
       where tenant_id = ${tenantId} and project_id = ${projectId} and ts > now() - ${windowS} * interval '1 second'
    )
    select (select to_jsonb(w) from w order by ts asc limit 1) as first, (select to_jsonb(w) from w order by ts desc limit 1) as last`;
  const last = row?.last;
  if (!last) return null;
  if (metric === 'connections') return Number(last.connections_total);
  if (metric === 'connections_ratio') {
    const limit = Number(last.connections_limit);
    return limit > 0 ? Number(last.connections_total) / limit : null;
  }
  if (metric === 'size_bytes') return Number(last.size_bytes);
  const first = row.first;
  if (!first || first.ts === last.ts) return null;
  const d = (k: string) => Number(last[k]) - Number(first[k]);
  if (['xact_commit', 'xact_rollback', 'blks_hit', 'blks_read', 'deadlocks', 'temp_bytes'].some((k) => d(k) < 0)) return null;
  if (metric === 'deadlocks') return d('deadlocks');
  if (metric === 'temp_bytes') return d('temp_bytes');
  if (metric === 'cache_hit_ratio') return d('blks_hit') + d('blks_read') > 0 ? d('blks_hit') / (d('blks_hit') + d('blks_read')) : null;
  return d('xact_commit') + d('xact_rollback') > 0 ? d('xact_rollback') / (d('xact_commit') + d('xact_rollback')) : null;
}
