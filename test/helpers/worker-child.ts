/**
 * A real worker process for crash tests: the ordinary Node composition root in the worker role,
 * plus a `test.slow` task whose first attempt hangs mid-step (so it can be killed there).
 */
import { z } from 'zod';
import { parseConfig } from '../../core/env.ts';
import { startSwitchyard } from '../../functions/entry/server.ts';
import { defineTask } from '../../workers/registry.ts';
import { done } from '../../workers/step.ts';
import { evaluateRollout } from '../../workers/tasks/rollouts.ts';

const slow = defineTask({
  kind: 'test.slow',
  payload: z.object({}),
  async run(ctx) {
    await ctx.deps.db.sql`insert into test_runs (job_id, attempt, phase) values (${ctx.job.id}, ${ctx.attempt}, 'started')`;
    if (ctx.attempt === 1) await new Promise((r) => setTimeout(r, 60_000));
    return done({ finished_on_attempt: ctx.attempt }, async (tx) => {
      await tx`insert into test_runs (job_id, attempt, phase) values (${ctx.job.id}, ${ctx.attempt}, 'completed')`;
    });
  },
});

/**
 * With HANG_ROLLOUT_EVALUATE=1, the first evaluation that reaches a decision hangs between judging
 * and its outcome transaction (it prints the window first), so a test can SIGKILL it there.
 */
let hung = false;
const hangingEvaluate = defineTask({
  ...evaluateRollout,
  async run(ctx) {
    const outcome = await evaluateRollout.run(ctx);
    // A commit with a verdict (the first step's commit only starts the rollout).
    const verdict = outcome.type === 'continue' ? (outcome.note !== 'started' ? outcome.note : null) : outcome.type === 'done' ? JSON.stringify(outcome.result) : null;
    if (outcome.type !== 'fail' && outcome.commit && verdict && !hung) {
      hung = true;
      console.log(`evaluate judged ${ctx.payload.rollout_id}: ${verdict}`);
      await new Promise((r) => setTimeout(r, 60_000));
    }
    return outcome;
  },
});

const running = await startSwitchyard(parseConfig(process.env), {
  extraTasks: [slow, ...(process.env.HANG_ROLLOUT_EVALUATE === '1' ? [hangingEvaluate] : [])],
});
console.log('worker ready');
process.on('SIGTERM', () => void running.stop().then(() => process.exit(0)));
