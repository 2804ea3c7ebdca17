/**
 * A real worker process for crash tests: the ordinary Node composition root in the worker role,
 * plus a `test.slow` task whose first attempt hangs mid-step (so it can be killed there).
 */
import { z } from 'zod';
import { parseConfig } from '../../functions/env.ts';
import { startSwitchyard } from '../../functions/entry/server.ts';
import { defineTask } from '../../workers/registry.ts';
import { done } from '../../workers/step.ts';

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

const running = await startSwitchyard(parseConfig(process.env), { extraTasks: [slow] });
console.log('worker ready');
process.on('SIGTERM', () => void running.stop().then(() => process.exit(0)));
