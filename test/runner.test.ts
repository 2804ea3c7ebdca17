/**
 * The local runner's slots: never more than `concurrency` steps at once, and all of them kept busy.
 *
 * The runner counts a slot as free as soon as the completion of the job holding it is on its way
 * (the claim riding on that completion, or any claim sent after it on the runner's one connection,
 * commits after it). That bookkeeping has three moving parts (completions in flight, answered but
 * not yet unwound, claims in flight), so it is checked here from both sides: the steps themselves
 * count how many run at once, and the database counts how many jobs the worker holds.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { z } from 'zod';
import { insertJobs, type NewJob } from '../db/jobs.repo.ts';
import { createDb, type Db } from '../db/client.ts';
import { createSignaler } from '../db/notify.repo.ts';
import { newId } from '../core/ids.ts';
import { createLogger } from '../core/log.ts';
import { createSecretBox, generateSecretKey, parseSecretKey } from '../core/crypto.ts';
import { createLocalRunner } from '../workers/queue/local-runner.ts';
import { createLocalQueue } from '../workers/queue/queue.ts';
import { createRegistry, defineTask } from '../workers/registry.ts';
import type { RunnerDeps } from '../workers/run-job.ts';
import { done } from '../workers/step.ts';
import { createTestDatabase } from './helpers/system.ts';

let db: Db;
beforeAll(async () => {
  db = createDb(await createTestDatabase(), { max: 6 });
});
afterAll(async () => {
  await db?.close();
});

describe('the local runner', () => {
  it('never runs more steps than its concurrency, and fills every slot', async () => {
    const CONCURRENCY = 3;
    const JOBS = 300;
    const workerId = newId('wrk');
    let running = 0;
    let maxRunning = 0;
    let finished = 0;
    const held: number[] = [];
    let allDone!: () => void;
    const whenDone = new Promise<void>((r) => (allDone = r));
    const step = defineTask({
      kind: 'test.slot',
      // ms: how long the step takes. 0 finishes at once, so many finish together and their
      // completions go out batched with the claims that replace them.
      payload: z.object({ ms: z.number(), sample: z.boolean() }),
      async run(ctx) {
        running++;
        maxRunning = Math.max(maxRunning, running);
        try {
          if (ctx.payload.sample) {
            const [row] = await db.sql<{ n: number }[]>`
              select count(*)::int as n from jobs where status = 'running' and locked_by = ${workerId}`;
            held.push(row!.n);
          }
          if (ctx.payload.ms > 0) await new Promise((r) => setTimeout(r, ctx.payload.ms));
          return done();
        } finally {
          running--;
          if (++finished === JOBS) allDone();
        }
      },
    });
    const tenantId = newId('ten');
    await db.sql`insert into tenants (id, name) values (${tenantId}, 'slots')`;
    const jobs: NewJob[] = Array.from({ length: JOBS }, (_, i) => ({
      id: newId('job'), tenantId, kind: 'test.slot', maxAttempts: 1,
      payload: { ms: i % 3 === 0 ? 0 : (i % 7), sample: i % 10 === 0 },
    }));
    await insertJobs(db.sql, jobs);

    const signals = createSignaler(db.sql);
    const deps: RunnerDeps = {
      db, signals, log: createLogger('warn'), box: await createSecretBox(parseSecretKey(generateSecretKey())!),
      registry: createRegistry([step]), queue: createLocalQueue(signals),
      providers: { projects: {}, stores: {}, logs: {} }, workerId, leaseMs: 60_000, retry: { baseMs: 100, maxMs: 1000 },
    };
    const runner = createLocalRunner(deps, {
      concurrency: CONCURRENCY, pollIntervalMs: 200, sweepIntervalMs: 60_000,
      housekeeping: { realtimeRetentionHours: 24, retention: { free: 14, pro: 30, enterprise: 90 } },
    });
    await runner.start();
    try {
      await whenDone;
    } finally {
      await runner.stop(5000);
    }

    expect(maxRunning).toBe(CONCURRENCY);
    expect(held.length).toBe(JOBS / 10);
    expect(Math.max(...held)).toBeLessThanOrEqual(CONCURRENCY);
    const [row] = await db.sql<{ n: number }[]>`
      select count(*)::int as n from jobs where tenant_id = ${tenantId} and status = 'succeeded' and attempts = 1`;
    expect(row!.n).toBe(JOBS);
  });
});
