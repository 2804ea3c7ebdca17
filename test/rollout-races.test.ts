/**
 * Canary decisions under the queue's worst days, with real worker processes: one decision per
 * rollout and window, and no verdict recorded about a step that is already over, when five
 * evaluation jobs for one rollout race across two workers, and when the worker evaluating a window
 * is SIGKILLed between judging it and committing.
 */
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { insertJobs, type Job } from '../db/jobs.repo.ts';
import { advanceRollout, transitionRollout } from '../db/rollouts.repo.ts';
import { evaluateRollout } from '../workers/tasks/rollouts.ts';
import { newId } from '../core/ids.ts';
import { workerPool } from './helpers/workers.ts';
import { createTenant, dbUrl, one, startTestSystem, waitFor, type Api, type TestSystem } from './helpers/system.ts';
import { untraced } from '../workers/registry.ts';

let sys: TestSystem;
let api: Api;
let tenantId: string;
let projectId: string;
let url: string;
const workers = workerPool();
const spawnWorker = (env: Record<string, string> = {}) =>
  workers.spawn(url, { SWITCHYARD_POLL_INTERVAL_MS: '100', SWITCHYARD_SWEEP_INTERVAL_MS: '300', ...env });

const POLICY = `
interval: 1s
window: 3s
min_requests: 20
on_no_data: pause
steps:
  - {weight: 10, min_duration: 1s}
  - {weight: 30, min_duration: 1s}
  - {weight: 60, min_duration: 1s}
  - {weight: 100}
metrics:
  - {name: errors, kind: error_rate, max_increase: 10%, slack: 1%, on_breach: rollback}
`;

beforeAll(async () => {
  // API only in this process: the children are the only workers.
  sys = await startTestSystem({ SWITCHYARD_ROLE: 'api', LOG_LEVEL: 'error' });
  ({ api, tenantId } = await createTenant(sys, 'races'));
  url = dbUrl((await one(sys.db.sql`select current_database() as db`)).db);
  projectId = (await api('POST', '/v1/projects', { body: { name: 'race target' } })).body.project.id;
  expect((await api('POST', '/v1/canary-policies', { body: { name: 'race', yaml: POLICY } })).status).toBe(201);
});
afterEach(() => workers.killAll());
afterAll(async () => {
  workers.killAll();
  await sys?.stop();
});

/** Healthy traffic on both tracks every 200 ms until stopped (or the rollout is over). */
function feed(rolloutId: string) {
  let stopped = false;
  const loop = (async () => {
    while (!stopped) {
      const ts = new Date().toISOString();
      const res = await api('POST', `/v1/rollouts/${rolloutId}/telemetry`, {
        body: { points: [{ ts, track: 'baseline', requests: 60, errors: 0 }, { ts, track: 'canary', requests: 20, errors: 0 }] },
      });
      if (res.status === 409) break;
      await new Promise((r) => setTimeout(r, 200));
    }
  })();
  return async () => {
    stopped = true;
    await loop;
  };
}

const startRollout = async () => {
  const res = await api('POST', '/v1/rollouts', { body: { project: projectId, service: 'cart', baseline: { version: 'v1' }, canary: { version: 'v2' }, policy: 'race' } });
  expect(res.status, JSON.stringify(res.body)).toBe(202);
  return res.body.rollout.id as string;
};

/** Every decision of the rollout, oldest first, and the windows that have more than one. */
async function decisionsOf(rolloutId: string) {
  const rows = await sys.db.sql<{ windowEnd: string; stepIndex: number; verdict: string }[]>`
    select window_end, step_index, verdict from rollout_decisions where rollout_id = ${rolloutId} order by window_end`;
  const seen = new Map<string, number>();
  for (const r of rows) seen.set(r.windowEnd, (seen.get(r.windowEnd) ?? 0) + 1);
  return { rows, repeated: [...seen].filter(([, n]) => n > 1) };
}

/**
 * The timeline a single honest evaluator would write: each step before the last promoted exactly
 * once, in order (reaching 100% is the promotion), and every decision about the step the rollout
 * was at when its window closed.
 */
function expectCoherent(rows: { stepIndex: number; verdict: string }[], steps: number) {
  const promotes = rows.filter((r) => r.verdict === 'promote').map((r) => r.stepIndex);
  expect(promotes).toEqual(Array.from({ length: steps }, (_, i) => i));
  let step = 0;
  for (const r of rows) {
    expect(r.stepIndex, JSON.stringify(rows)).toBe(step);
    if (r.verdict === 'promote') step++;
  }
}

describe('canary decisions with real worker processes', () => {
  it('five evaluation jobs for one rollout on two workers: one decision per window, each step promoted once', async () => {
    await spawnWorker();
    await spawnWorker();
    const id = await startRollout();
    // Four more evaluation jobs for the same rollout, as a duplicated delivery or a buggy caller
    // would leave: they claim, judge and commit alongside the real one.
    const extra = Array.from({ length: 4 }, () => ({
      id: newId('job'), tenantId, kind: 'rollout.evaluate', subjectType: 'rollout', subjectId: id, payload: { rollout_id: id }, maxAttempts: 5,
    }));
    await insertJobs(sys.db.sql, extra);
    await sys.runnerDeps.queue.dispatch(extra.map((j) => ({ id: j.id, tenantId, runAt: '', steps: 0, attempts: 0 })));
    const stop = feed(id);
    const rollout = await waitFor(async () => {
      const r = (await api('GET', `/v1/rollouts/${id}`)).body.rollout;
      return r.status === 'promoted' || r.status === 'rolled_back' || r.status === 'paused' ? r : null;
    }, 45_000, 'the rollout to finish');
    await stop();
    expect(rollout.status).toBe('promoted');
    const { rows, repeated } = await decisionsOf(id);
    expect(repeated).toEqual([]);
    expectCoherent(rows, 3);
    // All five jobs saw the end and stopped.
    await waitFor(async () => (await sys.db.sql`select 1 from jobs where subject_id = ${id} and status not in ('succeeded', 'dead', 'cancelled')`).length === 0, 15_000, 'every evaluation job to finish');
  });

  it('a worker SIGKILLed between judging a window and committing it: the window is decided once, by the next worker', async () => {
    const first = await spawnWorker({ HANG_ROLLOUT_EVALUATE: '1' });
    let output = '';
    first.stdout!.on('data', (d) => (output += d));
    const id = await startRollout();
    const stop = feed(id);
    await waitFor(async () => output.includes(`evaluate judged ${id}`), 20_000, 'the first evaluation to judge a window and hang');
    first.kill('SIGKILL');
    await new Promise((r) => first.once('exit', r));
    // Judged but not committed: nothing recorded, the job still leased to the dead worker.
    expect((await decisionsOf(id)).rows).toEqual([]);
    const [job] = await sys.db.sql`select id, status from jobs where subject_id = ${id}`;
    expect(job!.status).toBe('running');

    await spawnWorker();
    const rollout = await waitFor(async () => {
      const r = (await api('GET', `/v1/rollouts/${id}`)).body.rollout;
      return r.status === 'promoted' || r.status === 'rolled_back' || r.status === 'paused' ? r : null;
    }, 45_000, 'the rollout to finish on the second worker');
    await stop();
    expect(rollout.status).toBe('promoted');
    const { rows, repeated } = await decisionsOf(id);
    expect(repeated).toEqual([]);
    expectCoherent(rows, 3);
    const events = (await api('GET', `/v1/jobs/${job!.id}`)).body.job.events.map((e: { type: string }) => e.type);
    expect(events).toContain('lease_expired');
  });

  it('an evaluation that read the rollout before another moved it on records nothing about the step that is over', async () => {
    // No worker runs here: this test plays both evaluators itself, in the order that hurts.
    const id = await startRollout();
    await transitionRollout(sys.db.sql, tenantId, id, 'start', { startStep: true });
    const [row] = await sys.db.sql`select * from jobs where subject_id = ${id}`;
    const stop = feed(id);
    const step = async () => evaluateRollout.run({
      job: row as unknown as Job, payload: { rollout_id: id }, state: null, attempt: 1, signal: new AbortController().signal, deps: sys.runnerDeps, ...untraced,
    });
    // Judge until the verdict is a promotion, without committing it.
    const stale = await waitFor(async () => {
      const out = await step();
      return out.type === 'continue' && out.note?.startsWith('promote') ? out : null;
    }, 20_000, 'a promote verdict');
    await stop();
    // Meanwhile another evaluator promoted the step.
    const moved = await advanceRollout(sys.db.sql, tenantId, id, 0, { index: 1, weight: 30 }, new Date());
    expect(moved?.stepIndex).toBe(1);
    await sys.db.sql.begin(async (tx) => {
      if (stale.type !== 'continue') throw new Error('unreachable');
      await stale.commit!(tx);
    });
    expect((await decisionsOf(id)).rows).toEqual([]);
    const after = (await api('GET', `/v1/rollouts/${id}`)).body.rollout;
    expect(after).toMatchObject({ status: 'running', step: { index: 1, weight: 30 } });
    await api('POST', `/v1/rollouts/${id}/abort`);
  });
});
