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
  advanceRollout, findDecision, getPolicyById, getRollout, insertDecision, loadBuckets, stillJudgedAs, transitionRollout, type Rollout,
} from '../../db/rollouts.repo.ts';
import { isFinalRolloutStatus } from '../../db/status.ts';
import type { Sql } from '../../db/client.ts';
import { defineTask } from '../registry.ts';
import { continueAfter, done, fail, type StepOutcome } from '../step.ts';

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
    const finishes = j.verdict === 'rollback' || (j.verdict === 'promote' && j.next_step === null);
    const commit = async (tx: Sql) => {
      if (!(await stillJudgedAs(tx, rollout.tenantId, rollout.id, rollout.stepIndex, rollout.stepStartedAt))) return;
      const decision = await insertDecision(tx, {
        rolloutId: rollout.id, tenantId: rollout.tenantId, policyId: rollout.policyId,
        windowStart: j.window.start, windowEnd: j.window.end, stepIndex: rollout.stepIndex,
        verdict: j.verdict, sentence: j.sentence, explanation, shadow: false,
      });
      if (decision) await act(tx, rollout, policy, j.verdict, j.next_step, at);
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

export const rolloutTasks = [evaluateRollout];
