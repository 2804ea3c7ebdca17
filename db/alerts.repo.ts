/** Alert rules and their firings. Every query is scoped by tenant. */
import type { Sql } from './client.ts';
import type { alertRules } from './schema.ts';
import type { WatchableMetric } from './project-metrics.repo.ts';

export type AlertRule = typeof alertRules.$inferSelect;

export interface AlertFilter { provider?: string; service?: string; level?: string; kind?: string; q?: string }

/** A rule on a database metric (db/project-metrics.repo.ts): holds while the value is above (or below) the bound. */
export interface MetricCondition { name: WatchableMetric; above?: number; below?: number }

export interface NewAlertRule {
  id: string;
  tenantId: string;
  projectId: string;
  name: string;
  filter: AlertFilter;
  /** An event-count rule's threshold; null for a metric rule. */
  threshold: number | null;
  metric: MetricCondition | null;
  windowS: number;
  cooldownS: number;
  channelType: 'slack' | 'webhook' | 'pagerduty';
  channelUrl: string;
  channelHost: string;
  signingSecret: string;
  evalIntervalS: number;
}

/** Inserts a rule for a live project of the tenant (first evaluation at once); null when there is no such project. */
export async function insertAlertRule(sql: Sql, r: NewAlertRule): Promise<AlertRule | null> {
  const [row] = await sql<AlertRule[]>`
    insert into alert_rules (id, tenant_id, project_id, name, filter, threshold, metric, window_s, cooldown_s, channel_type, channel_url,
                             channel_host, signing_secret, eval_interval_s, next_eval_at)
    select ${r.id}, p.tenant_id, p.id, ${r.name}, ${JSON.stringify(r.filter)}::jsonb, ${r.threshold},
           ${r.metric === null ? null : JSON.stringify(r.metric)}::jsonb, ${r.windowS}, ${r.cooldownS},
           ${r.channelType}, ${r.channelUrl}, ${r.channelHost}, ${r.signingSecret}, ${r.evalIntervalS}, now()
      from projects p
     where p.id = ${r.projectId} and p.tenant_id = ${r.tenantId} and p.status <> 'deleted'
    returning *`;
  return row ?? null;
}

export async function getAlertRule(sql: Sql, tenantId: string, id: string): Promise<AlertRule | null> {
  const [row] = await sql<AlertRule[]>`select * from alert_rules where id = ${id} and tenant_id = ${tenantId} and deleted_at is null`;
  return row ?? null;
}

export async function listAlertRules(sql: Sql, tenantId: string, projectId?: string): Promise<AlertRule[]> {
  return sql<AlertRule[]>`
    select * from alert_rules
     where tenant_id = ${tenantId} and deleted_at is null ${projectId ? sql`and project_id = ${projectId}` : sql``}
     order by id desc limit 500`;
}

export async function deleteAlertRule(sql: Sql, tenantId: string, id: string): Promise<boolean> {
  const rows = await sql`
    update alert_rules set deleted_at = now(), next_eval_at = null
     where id = ${id} and tenant_id = ${tenantId} and deleted_at is null returning id`;
  return rows.length > 0;
}

/**
 * Claims a firing: succeeds for at most one caller per cooldown, however many evaluations race
 * (the row lock serialises them and the loser re-reads `last_fired_at`). With `onlyIfClear` (a
 * metric rule) it fires only when the condition begins to hold, not again until it has resolved.
 * Marks the rule as firing since now. Returns the firing's number, or null when the rule is
 * cooling down, already firing (onlyIfClear) or gone.
 */
export async function claimFiring(tx: Sql, tenantId: string, ruleId: string, opts: { onlyIfClear?: boolean } = {}): Promise<number | null> {
  const [row] = await tx<{ firings: number }[]>`
    update alert_rules set last_fired_at = now(), firings = firings + 1, firing_since = coalesce(firing_since, now())
     where id = ${ruleId} and tenant_id = ${tenantId} and deleted_at is null
       and (last_fired_at is null or last_fired_at <= now() - cooldown_s * interval '1 second')
       ${opts.onlyIfClear ? tx`and firing_since is null` : tx``}
    returning firings`;
  return row?.firings ?? null;
}

/**
 * Claims a resolve: the rule was firing and its condition no longer holds. At most one caller
 * wins; returns the number of the firing it resolves (the latest), or null.
 */
export async function claimResolve(tx: Sql, tenantId: string, ruleId: string): Promise<{ firing: number; since: Date } | null> {
  const [row] = await tx<{ firings: number; since: Date }[]>`
    update alert_rules r set firing_since = null
      from (select id, firing_since as since from alert_rules where id = ${ruleId} and tenant_id = ${tenantId} for update) old
     where r.id = old.id and r.firing_since is not null and r.deleted_at is null
    returning r.firings, old.since`;
  return row ? { firing: row.firings, since: row.since } : null;
}

/**
 * Records a notification's outcome on its rule: a success resets the run of failures; a failure
 * extends it and keeps the error. Returns the rule's failures in a row afterwards.
 */
export async function recordChannelOutcome(sql: Sql, tenantId: string, ruleId: string, outcome: { ok: true } | { ok: false; error: string }): Promise<number | null> {
  const [row] = outcome.ok
    ? await sql<{ channelFailures: number }[]>`
        update alert_rules set channel_failures = 0, channel_last_success_at = now()
         where id = ${ruleId} and tenant_id = ${tenantId} returning channel_failures`
    : await sql<{ channelFailures: number }[]>`
        update alert_rules set channel_failures = channel_failures + 1, channel_last_error = ${outcome.error.slice(0, 500)},
                               channel_last_failure_at = now()
         where id = ${ruleId} and tenant_id = ${tenantId} returning channel_failures`;
  return row?.channelFailures ?? null;
}

