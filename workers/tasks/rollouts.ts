/**
 * `rollout.evaluate`: one job per rollout, continuing every policy interval while the rollout is
 * live. Each step judges the window that ended at the last interval boundary and, in the job's
 * outcome transaction, writes that window's decision (unique per rollout, policy and window) and
 * acts on it, provided the rollout is still at the step it was judged at (checked under the row's
 * lock, so a second evaluation that read it before the first moved it on records nothing). A
 * re-run of a window that already has its decision (a crash after the commit can't leave one
 * without the other) reads it back and acts on nothing.
 */
import { z } from 'zod';
import { judge } from '../../core/canary/judge.ts';
import type { Policy } from '../../core/canary/policy.ts';
import {
  advanceRollout, findDecision, getDecision, getPoliciesByIds, getPolicyById, getRollout, insertDecision, loadBuckets, recordNotifyOutcome, stillJudgedAs,
  transitionRollout, type Decision, type Rollout,
} from '../../db/rollouts.repo.ts';
import { isFinalRolloutStatus } from '../../db/status.ts';
import type { Sql } from '../../db/client.ts';
import { defineTask } from '../registry.ts';
import { insertJob, type Job } from '../../db/jobs.repo.ts';
import { insertEvents } from '../../db/events.repo.ts';
import { newId } from '../../core/ids.ts';
import { redactText } from '../../core/log.ts';
import { deliver, type Resolver } from '../providers/alerts/outbound.ts';
import { continueAfter, done, fail, type StepOutcome } from '../step.ts';
import { CircuitOpenError } from '../../core/breakers.ts';
import { guarded } from '../providers/alerts/outbound.ts';

export const RolloutJobPayload = z.object({ rollout_id: z.string() });

/** The end of the window judged at `now`: the last boundary of the interval grid. */
export const windowEndAt = (now: number, intervalMs: number) => Math.floor(now / intervalMs) * intervalMs;

export const evaluateRollout = defineTask({
  kind: 'rollout.evaluate',
  payload: RolloutJobPayload,
  async run(ctx): Promise<StepOutcome> {
    const sql = ctx.deps.db.sql;
    const rollout = await getRollout(sql, ctx.job.tenantId, ctx.payload.rollout_id);
    if (!rollout) return fail('rollout not found', { retryable: false });
    if (isFinalRolloutStatus(rollout.status)) return done({ rollout_id: rollout.id, status: rollout.status });
    const policyRow = await getPolicyById(sql, rollout.tenantId, rollout.policyId);
    if (!policyRow) return fail('the rollout\'s policy version is gone', { retryable: false });
    const policy = policyRow.document as Policy;
    const now = Date.now();
    const nextWindow = (at: number) => Math.max(50, at + policy.intervalMs - now + 25);

    if (rollout.status === 'pending') {
      // The first step starts the rollout; its first window ends one interval later.
      return continueAfter(policy.intervalMs, null, 'started', async (tx) => {
        await transitionRollout(tx, rollout.tenantId, rollout.id, 'start', { startStep: true });
      });
    }
    const at = windowEndAt(now, policy.intervalMs);
    if (rollout.status === 'paused') return continueAfter(nextWindow(at), null, 'paused: waiting for a person');

    const stepStartedAt = Date.parse(rollout.stepStartedAt ?? rollout.createdAt);
    if (at <= stepStartedAt) return continueAfter(nextWindow(at), null, 'waiting for the first window of this step');
    const stored = await findDecision(sql, rollout.id, rollout.policyId, new Date(at));
    if (stored) return continueAfter(nextWindow(at), null, `window ${new Date(at).toISOString()} already decided: ${stored.verdict}`);

    const buckets = await loadBuckets(sql, rollout, new Date(at), policy.windowMs, policy.intervalMs);
    const j = judge({ policy, at, stepIndex: rollout.stepIndex, stepStartedAt, buckets });
    const explanation = { ...j, policy: { id: policyRow.id, name: policyRow.name, version: policyRow.version, hash: policyRow.hash } };
    // Shadow policies judge the same window end, each over its own window, at the step the rollout
    // is really at (the last of theirs if they have fewer): what they would say now, never done.
    const shadows = await Promise.all((await getPoliciesByIds(sql, rollout.tenantId, rollout.shadowPolicyIds)).map(async (row) => {
      const doc = row.document as Policy;
      const sj = judge({
        policy: doc, at, stepIndex: Math.min(rollout.stepIndex, doc.steps.length - 1), stepStartedAt,
        buckets: await loadBuckets(sql, rollout, new Date(at), doc.windowMs, doc.intervalMs),
      });
      return { row, j: sj, explanation: { ...sj, policy: { id: row.id, name: row.name, version: row.version, hash: row.hash } } };
    }));
    const finishes = j.verdict === 'rollback' || (j.verdict === 'promote' && j.next_step === null);
    const commit = async (tx: Sql): Promise<Job[]> => {
      if (!(await stillJudgedAs(tx, rollout.tenantId, rollout.id, rollout.stepIndex, rollout.stepStartedAt))) return [];
      const decision = await insertDecision(tx, {
        rolloutId: rollout.id, tenantId: rollout.tenantId, policyId: rollout.policyId,
        windowStart: j.window.start, windowEnd: j.window.end, stepIndex: rollout.stepIndex,
        verdict: j.verdict, sentence: j.sentence, explanation, shadow: false,
      });
      if (!decision) return [];
      for (const sh of shadows) {
        await insertDecision(tx, {
          rolloutId: rollout.id, tenantId: rollout.tenantId, policyId: sh.row.id,
          windowStart: sh.j.window.start, windowEnd: sh.j.window.end, stepIndex: rollout.stepIndex,
          verdict: sh.j.verdict, sentence: sh.j.sentence, explanation: sh.explanation, shadow: true,
        });
      }
      await act(tx, rollout, policy, j.verdict, j.next_step, at);
      if (!rollout.notifyUrl) return [];
      return [await insertJob(tx, {
        id: newId('job'), tenantId: rollout.tenantId, kind: 'rollouts.notify', subjectType: 'rollout', subjectId: rollout.id,
        payload: { rollout_id: rollout.id, decision_id: decision.id }, maxAttempts: 8, concurrencyKey: `rollouts.notify:${rollout.id}`,
        traceparent: ctx.traceparent,
      })];
    };
    const note = `${j.verdict}: ${j.sentence}`;
    return finishes ? done({ rollout_id: rollout.id, verdict: j.verdict, window_end: j.window.end }, commit) : continueAfter(nextWindow(at), null, note.slice(0, 500), commit);
  },
  async onDead(tx, job, error) {
    const id = (job.payload as { rollout_id?: string }).rollout_id;
    if (id) await transitionRollout(tx, job.tenantId, id, 'pause', { lastError: `evaluation failed: ${error}` });
  },
});

/** Acts on a decision, only if the rollout is still where it was judged (a person may have moved it). */
async function act(tx: Sql, r: Rollout, policy: Policy, verdict: string, nextStep: number | null, at: number) {
  if (verdict === 'rollback') await transitionRollout(tx, r.tenantId, r.id, 'rollback', { onlyAtStep: r.stepIndex });
  else if (verdict === 'pause') await transitionRollout(tx, r.tenantId, r.id, 'pause', { onlyAtStep: r.stepIndex });
  else if (verdict === 'promote' && nextStep === null) await transitionRollout(tx, r.tenantId, r.id, 'promoted', { onlyAtStep: r.stepIndex });
  else if (verdict === 'promote') await advanceRollout(tx, r.tenantId, r.id, r.stepIndex, { index: nextStep!, weight: policy.steps[nextStep!]!.weight }, new Date(at));
}

export const NotifyPayload = z.object({ rollout_id: z.string(), decision_id: z.string() });

/** The decision as a notification carries it (the same fields as GET /v1/rollouts/:id/decisions). */
const decisionData = (r: Rollout, d: Decision) => ({
  rollout: { id: r.id, project_id: r.projectId, service: r.service, baseline: r.baselineVersion, canary: r.canaryVersion, status: r.status },
  decision: {
    id: d.id, policy_id: d.policyId, window: { start: d.windowStart, end: d.windowEnd }, step_index: d.stepIndex,
    verdict: d.verdict, sentence: d.sentence, explanation: d.explanation,
  },
});

/**
 * `rollouts.notify`: one decision to the rollout's `notify` URL, signed (Standard Webhooks, type
 * `rollout.decision`, id `decision_<id>` on every retry so receivers can drop repeats), through
 * the same address guard and retries as alert notifications. Each outcome is recorded on the
 * rollout, and a failure is also a warning in the tenant's monitoring store.
 */
export function createRolloutNotifyTask(opts: { allowPrivate: boolean; resolve?: Resolver; fetch?: typeof fetch }) {
  return defineTask({
    kind: 'rollouts.notify',
    payload: NotifyPayload,
    async run(ctx): Promise<StepOutcome> {
      const sql = ctx.deps.db.sql;
      const rollout = await getRollout(sql, ctx.job.tenantId, ctx.payload.rollout_id);
      const decision = rollout && await getDecision(sql, rollout.tenantId, rollout.id, ctx.payload.decision_id);
      if (!rollout || !decision || !rollout.notifyUrl || !rollout.notifySecret) return done({ skipped: 'nothing to notify' });
      const [url, secret] = await Promise.all([
        ctx.deps.box.open(rollout.notifyUrl, `${rollout.id}:notify-url`),
        ctx.deps.box.open(rollout.notifySecret, `${rollout.id}:notify-secret`),
      ]);
      let status: number;
      try {
        status = await ctx.call('rollout.notify', (headers) => guarded(ctx.deps.breakers, `webhook:${rollout.notifyHost ?? url}`, () => deliver({
          id: `decision_${decision.id}`, type: 'webhook', url, secret, eventType: 'rollout.decision', userAgent: 'Switchyard-Rollouts/1',
          data: decisionData(rollout, decision), text: decision.sentence,
        }, { ...opts, signal: ctx.signal, headers })), { 'server.address': rollout.notifyHost ?? '' });
      } catch (err) {
        // Refused by the host's open breaker: not a new failure of the channel; the step waits.
        if (ctx.signal.aborted || err instanceof CircuitOpenError) throw err;
        const error = redactText(err instanceof Error ? err.message : String(err));
        const failures = await recordNotifyOutcome(sql, rollout.tenantId, rollout.id, { ok: false, error });
        await insertEvents(sql, [{
          ts: new Date().toISOString(), tenantId: rollout.tenantId, projectId: rollout.projectId, sourceId: rollout.id, provider: 'switchyard',
          service: rollout.service, environment: null, level: 'warn', kind: 'alert', fingerprint: `rollout-notify:${rollout.id}`,
          message: `Rollout ${rollout.id}: decision notification to ${rollout.notifyHost} failed (attempt ${ctx.attempt}, ${failures ?? '?'} failures in a row): ${error}`,
          attrs: { rollout_id: rollout.id, decision_id: decision.id, attempt: ctx.attempt, channel_host: rollout.notifyHost },
          sourceEventId: `rollout-notify:${decision.id}:${ctx.attempt}`,
        }]);
        throw err;
      }
      await recordNotifyOutcome(sql, rollout.tenantId, rollout.id, { ok: true });
      return done({ delivered: true, host: rollout.notifyHost, status });
    },
  });
}

export function rolloutTasks(opts: { allowPrivate: boolean; resolve?: Resolver; fetch?: typeof fetch }) {
  return [evaluateRollout, createRolloutNotifyTask(opts)];
}
