/**
 * Housekeeping and periodic work, run by every sweeper (the local runner's timer, the QStash
 * schedule, the Cron Trigger) through `housekeep`, so every transport prunes and schedules the
 * same way and nothing needs a clock of its own:
 *
 * - log sources whose `next_pull_at` is due get a `logs.pull` job (none while one is still queued
 *   or running for that source, so a slow backlog doesn't pile up pulls);
 * - alert rules whose `next_eval_at` is due get an `alerts.evaluate` job;
 * - live (active or degraded) projects get a `project.health` and a `project.metrics` job every
 *   `SWITCHYARD_PROJECT_HEALTH_INTERVAL_S` and `SWITCHYARD_PROJECT_METRICS_INTERVAL_S` (0: never),
 *   each in a lane of its own, so they never hold up the project's lifecycle jobs;
 * - once an hour, retention: day partitions of `events` past the longest plan's retention are
 *   dropped whole, and shorter plans' older rows are deleted in bounded batches; projects' metric
 *   samples go after the same number of days as their tenant's events.
 *
 * Claiming a due row and inserting its job happen in one transaction, and the claim moves the row's
 * next time forward, so two sweepers at once make one job.
 */
import type postgres from 'postgres';
import type { Sql } from '../db/client.ts';
import { insertJobs, type NewJob } from '../db/jobs.repo.ts';
import { pruneIdempotencyKeys } from '../db/idempotency.repo.ts';
import { pruneAudit } from '../db/audit.repo.ts';

/** How long each plan's audit log is kept, in days (rows of no tenant: the longest). */
export const AUDIT_RETENTION_DAYS = { free: 90, pro: 365, enterprise: 730 };
import { pruneRealtimeEvents, takeDroppedBroadcasts, type DroppedBroadcasts } from '../db/realtime.repo.ts';
import { newId } from '../core/ids.ts';
import type { DispatchableJob } from './queue/queue.ts';
import type { Config } from '../core/env.ts';

export interface RetentionPolicy { free: number; pro: number; enterprise: number }

export interface ScheduleOptions {
  retention: RetentionPolicy;
  /** Seconds between a live project's health checks and metric samples (0: none). */
  projectHealthIntervalS?: number;
  projectMetricsIntervalS?: number;
  /** Most jobs of each kind one sweep makes. */
  limit?: number;
}

export interface HousekeepingOptions extends ScheduleOptions {
  /** How long SSE clients can resume from: the realtime outbox is pruned past it. */
  realtimeRetentionHours: number;
}

export function housekeepingOptions(
  config: Pick<Config, 'SWITCHYARD_REALTIME_RETENTION_H' | 'SWITCHYARD_LOG_RETENTION_DAYS_FREE' | 'SWITCHYARD_LOG_RETENTION_DAYS_PRO' | 'SWITCHYARD_LOG_RETENTION_DAYS_ENTERPRISE'
    | 'SWITCHYARD_PROJECT_HEALTH_INTERVAL_S' | 'SWITCHYARD_PROJECT_METRICS_INTERVAL_S'>,
): HousekeepingOptions {
  return {
    realtimeRetentionHours: config.SWITCHYARD_REALTIME_RETENTION_H,
    projectHealthIntervalS: config.SWITCHYARD_PROJECT_HEALTH_INTERVAL_S,
    projectMetricsIntervalS: config.SWITCHYARD_PROJECT_METRICS_INTERVAL_S,
    retention: {
      free: config.SWITCHYARD_LOG_RETENTION_DAYS_FREE,
      pro: config.SWITCHYARD_LOG_RETENTION_DAYS_PRO,
      enterprise: config.SWITCHYARD_LOG_RETENTION_DAYS_ENTERPRISE,
    },
  };
}

/**
 * Every sweeper's housekeeping, whichever transport: idempotency keys after 24 h, the realtime
 * outbox after its retention, Supabase Realtime broadcasts that were dropped (for the caller to
 * log), then the periodic jobs now due. The caller dispatches `jobs`.
 */
export async function housekeep(sql: postgres.Sql, opts: HousekeepingOptions): Promise<ScheduleResult & { realtimeDropped: DroppedBroadcasts | null }> {
  await pruneIdempotencyKeys(sql, 24);
  await pruneRealtimeEvents(sql, opts.realtimeRetentionHours);
  await pruneAudit(sql, AUDIT_RETENTION_DAYS);
  const realtimeDropped = await takeDroppedBroadcasts(sql);
  return { ...(await scheduleDue(sql, opts)), realtimeDropped };
}

export interface ScheduleResult {
  pulls: number;
  evaluations: number;
  /** Project health checks and metric samples made due. */
  watches: number;
  retention: RetentionResult | null;
  jobs: DispatchableJob[];
}

export async function scheduleDue(sql: postgres.Sql, opts: ScheduleOptions): Promise<ScheduleResult> {
  const limit = opts.limit ?? 200;
  const { jobs, pulls, evaluations, watches } = await sql.begin(async (tx) => {
    const sources = await claimDue(tx, { table: 'log_sources', next: 'next_pull_at', interval: 'pull_interval_s', subjectType: 'log_source' }, limit);
    const rules = await claimDue(tx, { table: 'alert_rules', next: 'next_eval_at', interval: 'eval_interval_s', subjectType: 'alert_rule' }, limit);
    const health = opts.projectHealthIntervalS ? await claimDueProjects(tx, 'project.health', 'next_health_at', opts.projectHealthIntervalS, limit) : [];
    const metrics = opts.projectMetricsIntervalS ? await claimDueProjects(tx, 'project.metrics', 'next_metrics_at', opts.projectMetricsIntervalS, limit) : [];
    const list: NewJob[] = [
      ...sources.map((s) => pullJob(s.tenantId, s.id)),
      ...rules.map((r) => evaluateJob(r.tenantId, r.id)),
      ...health.map((p) => watchJob('project.health', p.tenantId, p.id)),
      ...metrics.map((p) => watchJob('project.metrics', p.tenantId, p.id)),
    ];
    await insertJobs(tx, list);
    return { jobs: list, pulls: sources.length, evaluations: rules.length, watches: health.length + metrics.length };
  });
  const now = new Date().toISOString();
  const retention = await runRetentionIfDue(sql, opts.retention);
  return { pulls, evaluations, watches, retention, jobs: jobs.map((j) => ({ id: j.id, tenantId: j.tenantId, runAt: now, steps: 0, attempts: 0 })) };
}

/**
 * Rows of `table` whose `next` time is due: moves it forward by the row's `interval` seconds and
 * returns them, skipping rows locked by another sweeper and rows whose previous job is still
 * queued or running.
 */
async function claimDue(
  tx: Sql,
  t: { table: 'log_sources' | 'alert_rules'; next: string; interval: string; subjectType: string },
  limit: number,
): Promise<{ id: string; tenantId: string }[]> {
  return tx<{ id: string; tenantId: string }[]>`
    update ${tx(t.table)} r set ${tx(t.next)} = now() + r.${tx(t.interval)} * interval '1 second'
     where r.id in (
       select id from ${tx(t.table)}
        where deleted_at is null and ${tx(t.next)} <= now()
        order by ${tx(t.next)} limit ${limit}
        for update skip locked)
       and not exists (select 1 from jobs j where j.tenant_id = r.tenant_id and j.subject_type = ${t.subjectType}
                         and j.subject_id = r.id and j.status in ('queued', 'running'))
    returning r.id, r.tenant_id`;
}

/** Live projects whose `next` time is due, moved forward by `intervalS`; none with that kind's job still queued or running. */
async function claimDueProjects(tx: Sql, kind: 'project.health' | 'project.metrics', next: 'next_health_at' | 'next_metrics_at', intervalS: number, limit: number) {
  return tx<{ id: string; tenantId: string }[]>`
    update projects p set ${tx(next)} = now() + ${intervalS} * interval '1 second'
     where p.id in (
       select id from projects
        where status in ('active', 'degraded') and ${tx(next)} <= now()
        order by ${tx(next)} limit ${limit}
        for update skip locked)
       and not exists (select 1 from jobs j where j.tenant_id = p.tenant_id and j.subject_type = 'project' and j.subject_id = p.id
                         and j.kind = ${kind} and j.status in ('queued', 'running'))
    returning p.id, p.tenant_id`;
}

export function watchJob(kind: 'project.health' | 'project.metrics', tenantId: string, projectId: string): NewJob {
  return {
    id: newId('job'), tenantId, kind, subjectType: 'project', subjectId: projectId,
    payload: { project_id: projectId }, maxAttempts: 2, concurrencyKey: `${kind}:${projectId}`,
  };
}

export function pullJob(tenantId: string, sourceId: string): NewJob {
  return {
    id: newId('job'), tenantId, kind: 'logs.pull', subjectType: 'log_source', subjectId: sourceId,
    payload: { source_id: sourceId }, maxAttempts: 3, concurrencyKey: `log_source:${sourceId}`,
  };
}

export function evaluateJob(tenantId: string, ruleId: string): NewJob {
  return {
    id: newId('job'), tenantId, kind: 'alerts.evaluate', subjectType: 'alert_rule', subjectId: ruleId,
    payload: { rule_id: ruleId }, maxAttempts: 3, concurrencyKey: `alert_rule:${ruleId}`,
  };
}

export interface RetentionResult { droppedPartitions: string[]; deletedRows: number; deletedMetricSamples: number }

/** Retention at most once an hour, whichever sweeper gets there first. */
async function runRetentionIfDue(sql: Sql, policy: RetentionPolicy): Promise<RetentionResult | null> {
  const [due] = await sql`
    insert into schedules (name, next_run_at) values ('events.retention', now() + interval '1 hour')
    on conflict (name) do update set next_run_at = excluded.next_run_at
      where schedules.next_run_at <= now()
    returning name`;
  if (!due) return null;
  const result = await applyRetention(sql, policy);
  await sql`update schedules set last_result = ${JSON.stringify(result)}::jsonb where name = 'events.retention'`;
  return result;
}

/**
 * Drops whole day partitions older than the longest retention (cheap: no row is read), then
 * deletes rows older than each shorter plan's retention, in batches of `batch` rows and at most
 * `maxBatches` per run, so one sweep stays short; the next run carries on.
 */
export async function applyRetention(sql: Sql, policy: RetentionPolicy, now = new Date(), opts = { batch: 5000, maxBatches: 20 }): Promise<RetentionResult> {
  const dayMs = 86_400_000;
  const today = Date.UTC(now.getUTCFullYear(), now.getUTCMonth(), now.getUTCDate());
  const longest = Math.max(policy.free, policy.pro, policy.enterprise);
  const partitions = await sql<{ name: string }[]>`
    select c.relname as name from pg_inherits i join pg_class c on c.oid = i.inhrelid
     where i.inhparent = 'events'::regclass`;
  const droppedPartitions: string[] = [];
  for (const { name } of partitions) {
    const m = /^events_p(\d{4})(\d{2})(\d{2})$/.exec(name);
    if (!m) continue;
    const dayEnd = Date.UTC(Number(m[1]), Number(m[2]) - 1, Number(m[3])) + dayMs;
    // A partition goes once every row it can hold is past the longest retention.
    if (dayEnd <= today - longest * dayMs) {
      await sql.unsafe(`drop table if exists "${name}"`);
      droppedPartitions.push(name);
    }
  }
  let deletedRows = 0;
  for (const plan of ['free', 'pro', 'enterprise'] as const) {
    const days = policy[plan];
    if (days >= longest) continue;
    const cutoff = new Date(now.getTime() - days * dayMs).toISOString();
    for (let i = 0; i < opts.maxBatches; i++) {
      const res = await sql`
        delete from events e using (
          select ts, id from events
           where ts < ${cutoff}::timestamptz
             and tenant_id in (select id from tenants where plan = ${plan})
           limit ${opts.batch}) d
         where e.ts = d.ts and e.id = d.id`;
      deletedRows += res.count;
      if (res.count < opts.batch) break;
    }
  }
  // Projects' metric samples are kept as long as their tenant's events.
  let deletedMetricSamples = 0;
  for (const plan of ['free', 'pro', 'enterprise'] as const) {
    const cutoff = new Date(now.getTime() - policy[plan] * dayMs).toISOString();
    for (let i = 0; i < opts.maxBatches; i++) {
      const res = await sql`
        delete from project_metrics m using (
          select project_id, ts from project_metrics
           where ts < ${cutoff}::timestamptz
             and tenant_id in (select id from tenants where plan = ${plan})
           limit ${opts.batch}) d
         where m.project_id = d.project_id and m.ts = d.ts`;
      deletedMetricSamples += res.count;
      if (res.count < opts.batch) break;
    }
  }
  return { droppedPartitions, deletedRows, deletedMetricSamples };
}
