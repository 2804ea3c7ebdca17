/**
 * Alert work. `alerts.evaluate` reads a rule's condition: its matching events over its window
 * against the threshold, or (a metric rule) a database metric against its bound. When it holds
 * the rule fires, in one transaction: the firing is claimed (cooldown: at most one per `cooldown_s`,
 * however many evaluations race), an `alert` event is stored, a realtime `log` event goes to
 * `project:<id>`, and one `alerts.notify` job is created. `alerts.notify` sends that firing's
 * signed notification (or PagerDuty event); the queue retries it with backoff, under the same
 * `webhook-id`. When a firing rule's condition stops holding it resolves the same way: an `alert`
 * event at info, a realtime `alert_resolved`, and a notification (`alert.resolved`; PagerDuty
 * `resolve` under the rule's dedup key). A metric rule fires once per episode; an event-count
 * rule may fire again after its cooldown while it holds.
 */
import { z } from 'zod';
import { claimFiring, claimResolve, getAlertRule, recordChannelOutcome, type AlertFilter, type AlertRule, type MetricCondition } from '../../db/alerts.repo.ts';
import { metricValue } from '../../db/project-metrics.repo.ts';
import { redactText } from '../../core/log.ts';
import { countEvents, insertEvents } from '../../db/events.repo.ts';
import { insertJob } from '../../db/jobs.repo.ts';
import { newId } from '../../core/ids.ts';
import { deliver, type Resolver } from '../providers/alerts/outbound.ts';
import { publishRealtime } from '../../db/realtime.repo.ts';
import { defineTask } from '../registry.ts';
import { done, type StepOutcome } from '../step.ts';
import { CircuitOpenError } from '../../core/breakers.ts';
import { guarded } from '../providers/alerts/outbound.ts';

export const EvaluatePayload = z.object({ rule_id: z.string() });
export const NotifyPayload = z.object({
  rule_id: z.string(), firing: z.number().int(), alert: z.record(z.string(), z.unknown()),
  /** A firing, or its resolve (jobs from before resolves existed are firings). */
  action: z.enum(['trigger', 'resolve']).default('trigger'),
});

const seconds = (s: number) => (s % 3600 === 0 ? `${s / 3600} h` : s % 60 === 0 ? `${s / 60} min` : `${s} s`);

/** What a rule's condition reads now: whether it holds, and the words and figures of a firing. */
async function readCondition(sql: Parameters<typeof countEvents>[0], rule: AlertRule, since: Date, until: Date) {
  const metric = rule.metric as MetricCondition | null;
  if (metric) {
    const value = await metricValue(sql, rule.tenantId, rule.projectId, metric.name, rule.windowS);
    const bound = metric.above ?? metric.below!;
    const holds = value === null ? null : metric.above !== undefined ? value > metric.above : value < metric.below!;
    const shown = value === null ? 'no data' : Number.isInteger(value) ? String(value) : value.toFixed(3);
    return {
      holds, figures: { metric: metric.name, value, ...(metric.above !== undefined ? { above: bound } : { below: bound }) },
      message: `Alert "${rule.name}": ${metric.name} is ${shown}, ${metric.above !== undefined ? 'above' : 'below'} ${bound} (over the last ${seconds(rule.windowS)})`,
      cleared: `Resolved "${rule.name}": ${metric.name} is ${shown}, no longer ${metric.above !== undefined ? 'above' : 'below'} ${bound}`,
    };
  }
  const filter = rule.filter as AlertFilter;
  const count = await countEvents(sql, rule.tenantId, {
    ...filter, projectId: rule.projectId, since: since.toISOString(), until: until.toISOString(), excludeOwnAlerts: true,
  });
  return {
    holds: count >= rule.threshold!, figures: { count, threshold: rule.threshold, filter },
    message: `Alert "${rule.name}": ${count} matching events in the last ${seconds(rule.windowS)} (threshold ${rule.threshold})`,
    cleared: `Resolved "${rule.name}": ${count} matching events in the last ${seconds(rule.windowS)}, under the threshold ${rule.threshold}`,
  };
}

export const evaluateRule = defineTask({
  kind: 'alerts.evaluate',
  payload: EvaluatePayload,
  async run(ctx): Promise<StepOutcome> {
    const rule = await getAlertRule(ctx.deps.db.sql, ctx.job.tenantId, ctx.payload.rule_id);
    if (!rule) return done({ skipped: 'the rule was deleted' });
    const until = new Date();
    const since = new Date(until.getTime() - rule.windowS * 1000);
    const c = await readCondition(ctx.deps.db.sql, rule, since, until);
    // No data (a metric without samples yet) changes nothing: neither a firing nor a resolve.
    if (c.holds === null) return done({ ...c.figures, fired: false });
    if (!c.holds) {
      if (!rule.firingSince) return done({ ...c.figures, fired: false });
      // It was firing and no longer holds: resolved, once, however many evaluations race.
      return done({ ...c.figures, resolved: true }, async (tx) => {
        const resolved = await claimResolve(tx, rule.tenantId, rule.id);
        if (!resolved) return [];
        const alert = {
          rule_id: rule.id, rule_name: rule.name, project_id: rule.projectId, firing: resolved.firing, ...c.figures, window_s: rule.windowS,
          firing_since: new Date(resolved.since).toISOString(), resolved_at: until.toISOString(), message: c.cleared,
        };
        await insertEvents(tx, [{
          ts: until.toISOString(), tenantId: rule.tenantId, projectId: rule.projectId, sourceId: rule.id, provider: 'switchyard',
          service: null, environment: null, level: 'info', kind: 'alert', message: c.cleared, fingerprint: `alert:${rule.id}`,
          attrs: alert, sourceEventId: `resolve:${resolved.firing}`,
        }]);
        await publishRealtime(tx, rule.tenantId, [`project:${rule.projectId}`, `tenant:${rule.tenantId}`], 'log', { type: 'alert_resolved', project_id: rule.projectId, alert });
        return [await notifyJob(tx, ctx.traceparent, rule, resolved.firing, alert, 'resolve')];
      });
    }
    // Fires unless the rule is cooling down (or, a metric rule, already firing): decided in the
    // commit, under the rule's row lock.
    return done({ ...c.figures, threshold_reached: true }, async (tx) => {
      const firing = await claimFiring(tx, rule.tenantId, rule.id, { onlyIfClear: rule.metric !== null });
      if (firing === null) return [];
      ctx.deps.metrics?.inc('alerts_fired_total', {});
      const alert = {
        rule_id: rule.id, rule_name: rule.name, project_id: rule.projectId, firing, ...c.figures,
        window_s: rule.windowS, since: since.toISOString(), until: until.toISOString(), message: c.message,
      };
      await insertEvents(tx, [{
        ts: until.toISOString(), tenantId: rule.tenantId, projectId: rule.projectId, sourceId: rule.id, provider: 'switchyard',
        service: null, environment: null, level: 'error', kind: 'alert', message: c.message, fingerprint: `alert:${rule.id}`,
        attrs: alert, sourceEventId: `firing:${firing}`,
      }]);
      await publishRealtime(tx, rule.tenantId, [`project:${rule.projectId}`, `tenant:${rule.tenantId}`], 'log', { type: 'alert', project_id: rule.projectId, alert });
      return [await notifyJob(tx, ctx.traceparent, rule, firing, alert, 'trigger')];
    });
  },
});

function notifyJob(tx: Parameters<typeof insertJob>[0], traceparent: string | null, rule: AlertRule, firing: number, alert: Record<string, unknown>, action: 'trigger' | 'resolve') {
  return insertJob(tx, {
    id: newId('job'), tenantId: rule.tenantId, kind: 'alerts.notify', subjectType: 'alert_rule', subjectId: rule.id,
    payload: { rule_id: rule.id, firing, alert, action }, maxAttempts: 8, traceparent,
  });
}

export function createNotifyTask(opts: { allowPrivate: boolean; resolve?: Resolver; fetch?: typeof fetch }) {
  return defineTask({
    kind: 'alerts.notify',
    payload: NotifyPayload,
    async run(ctx): Promise<StepOutcome> {
      const rule = await getAlertRule(ctx.deps.db.sql, ctx.job.tenantId, ctx.payload.rule_id);
      if (!rule) return done({ skipped: 'the rule was deleted' });
      const [url, secret] = await Promise.all([
        ctx.deps.box.open(rule.channelUrl, `${rule.id}:url`),
        ctx.deps.box.open(rule.signingSecret, `${rule.id}:secret`),
      ]);
      const alert = ctx.payload.alert;
      // Failures throw: retried with backoff, or not at all for a PermanentError (e.g. a 404).
      // Each outcome is recorded on the rule first, so a channel that keeps failing shows as broken
      // there, and as a warning in the tenant's monitoring store, long before the job is dead.
      let status: number;
      try {
        const resolve = ctx.payload.action === 'resolve';
        status = await ctx.call('alert.notify', (headers) => guarded(ctx.deps.breakers, `webhook:${rule.channelHost ?? url}`, () => deliver({
          id: `alert_${rule.id}_${ctx.payload.firing}${resolve ? '_resolved' : ''}`, type: rule.channelType as 'webhook', url, secret,
          data: alert, text: `${resolve ? ':white_check_mark:' : ':rotating_light:'} ${String(alert.message ?? rule.name)}`,
          eventType: resolve ? 'alert.resolved' : 'alert.fired',
          pagerDuty: { action: ctx.payload.action, dedupKey: `switchyard-${rule.id}`, source: `switchyard/${rule.projectId}`, severity: 'error' },
        }, { ...opts, signal: ctx.signal, headers })), { 'server.address': rule.channelHost ?? '' });
      } catch (err) {
        // Refused by the host's open breaker: not a new failure of the channel; the step waits.
        if (ctx.signal.aborted || err instanceof CircuitOpenError) throw err;
        ctx.deps.metrics?.inc('alert_notifications_total', { outcome: 'failed' });
        const error = redactText(err instanceof Error ? err.message : String(err));
        const failures = await recordChannelOutcome(ctx.deps.db.sql, rule.tenantId, rule.id, { ok: false, error });
        await insertEvents(ctx.deps.db.sql, [channelEvent(rule, ctx.payload.firing, ctx.attempt, 'warn',
          `Alert "${rule.name}": notification to ${rule.channelHost} failed (attempt ${ctx.attempt}, ${failures ?? '?'} failures in a row): ${error}`)]);
        throw err;
      }
      await recordChannelOutcome(ctx.deps.db.sql, rule.tenantId, rule.id, { ok: true });
      ctx.deps.metrics?.inc('alert_notifications_total', { outcome: 'delivered' });
      return done({ delivered: true, host: rule.channelHost, status });
    },
    async onDead(tx, job, error) {
      const payload = NotifyPayload.safeParse(job.payload);
      const rule = payload.success ? await getAlertRule(tx, job.tenantId, payload.data.rule_id) : null;
      if (!rule || !payload.success) return;
      await insertEvents(tx, [channelEvent(rule, payload.data.firing, job.attempts, 'error',
        `Alert "${rule.name}": notification to ${rule.channelHost} abandoned after ${job.attempts} attempts: ${redactText(error)}`)]);
    },
  });
}

/** A channel failure as an event in the tenant's monitoring store (searchable, and can itself alert). */
function channelEvent(rule: AlertRule, firing: number, attempt: number, level: 'warn' | 'error', message: string) {
  return {
    ts: new Date().toISOString(), tenantId: rule.tenantId, projectId: rule.projectId, sourceId: rule.id, provider: 'switchyard',
    service: null, environment: null, level, kind: 'alert' as const, message, fingerprint: `alert-channel:${rule.id}`,
    attrs: { rule_id: rule.id, firing, attempt, channel_host: rule.channelHost }, sourceEventId: `notify:${firing}:${attempt}:${level}`,
  };
}

export function alertTasks(opts: { allowPrivate: boolean; resolve?: Resolver; fetch?: typeof fetch }) {
  return [evaluateRule, createNotifyTask(opts)];
}
