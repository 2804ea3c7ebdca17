/**
 * Alert work. `alerts.evaluate` counts a rule's matching events over its window; at the threshold
 * it fires, in one transaction: the firing is claimed (cooldown: at most one per `cooldown_s`,
 * however many evaluations race), an `alert` event is stored, a realtime `log` event goes to
 * `project:<id>`, and one `alerts.notify` job is created. `alerts.notify` sends that firing's
 * signed notification; the queue retries it with backoff, under the same `webhook-id`.
 */
import { z } from 'zod';
import { claimFiring, getAlertRule, publishRealtime, recordChannelOutcome, type AlertFilter, type AlertRule } from '../../db/alerts.repo.ts';
import { redactText } from '../../functions/lib/log.ts';
import { countEvents, insertEvents } from '../../db/events.repo.ts';
import { insertJob } from '../../db/jobs.repo.ts';
import { newId } from '../../functions/lib/ids.ts';
import { deliver, type Resolver } from '../providers/alerts/outbound.ts';
import { defineTask } from '../registry.ts';
import { done, type StepOutcome } from '../step.ts';
import { CircuitOpenError } from '../../core/breakers.ts';
import { guarded } from '../providers/alerts/outbound.ts';

export const EvaluatePayload = z.object({ rule_id: z.string() });
export const NotifyPayload = z.object({ rule_id: z.string(), firing: z.number().int(), alert: z.record(z.string(), z.unknown()) });

const seconds = (s: number) => (s % 3600 === 0 ? `${s / 3600} h` : s % 60 === 0 ? `${s / 60} min` : `${s} s`);

export const evaluateRule = defineTask({
  kind: 'alerts.evaluate',
  payload: EvaluatePayload,
  async run(ctx): Promise<StepOutcome> {
    const rule = await getAlertRule(ctx.deps.db.sql, ctx.job.tenantId, ctx.payload.rule_id);
    if (!rule) return done({ skipped: 'the rule was deleted' });
    const until = new Date();
    const since = new Date(until.getTime() - rule.windowS * 1000);
    const filter = rule.filter as AlertFilter;
    const count = await countEvents(ctx.deps.db.sql, rule.tenantId, {
      ...filter, projectId: rule.projectId, since: since.toISOString(), until: until.toISOString(), excludeOwnAlerts: true,
    });
    if (count < rule.threshold) return done({ count, fired: false });
    const message = `Alert "${rule.name}": ${count} matching events in the last ${seconds(rule.windowS)} (threshold ${rule.threshold})`;
    // Fires unless the rule is cooling down: decided in the commit, under the rule's row lock.
    return done({ count, threshold_reached: true }, async (tx) => {
      const firing = await claimFiring(tx, rule.tenantId, rule.id);
      if (firing === null) return [];
      ctx.deps.metrics?.inc('alerts_fired_total', {});
      const alert = {
        rule_id: rule.id, rule_name: rule.name, project_id: rule.projectId, firing, count, threshold: rule.threshold,
        window_s: rule.windowS, filter, since: since.toISOString(), until: until.toISOString(), message,
      };
      await insertEvents(tx, [{
        ts: until.toISOString(), tenantId: rule.tenantId, projectId: rule.projectId, sourceId: rule.id, provider: 'switchyard',
        service: null, environment: null, level: 'error', kind: 'alert', message, fingerprint: `alert:${rule.id}`,
        attrs: alert, sourceEventId: `firing:${firing}`,
      }]);
      await publishRealtime(tx, rule.tenantId, [`project:${rule.projectId}`, `tenant:${rule.tenantId}`], 'log', { type: 'alert', alert });
      const notify = await insertJob(tx, {
        id: newId('job'), tenantId: rule.tenantId, kind: 'alerts.notify', subjectType: 'alert_rule', subjectId: rule.id,
        payload: { rule_id: rule.id, firing, alert }, maxAttempts: 8, traceparent: ctx.traceparent,
      });
      return [notify];
    });
  },
});

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
        status = await ctx.call('alert.notify', (headers) => guarded(ctx.deps.breakers, `webhook:${rule.channelHost ?? url}`, () => deliver({
          id: `alert_${rule.id}_${ctx.payload.firing}`, type: rule.channelType as 'webhook', url, secret,
          data: alert, text: `:rotating_light: ${String(alert.message ?? rule.name)}`,
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
