/**
 * The worker host's HTTP face (flow ④ on QStash): `POST /workers/jobs` runs one step of the job a
 * signed delivery names; `POST /workers/sweep` re-sends what was never dispatched. The same routes
 * serve from Node (SWITCHYARD_ROLE=worker), Cloudflare Workers and Deno.
 *
 * Answers follow QStash's delivery contract (DESIGN.md "QStash delivery"): 2xx ends a message,
 * 429 + Retry-After asks for it later, 489 + Upstash-NonRetryable-Error ends it in the DLQ, any
 * other failure is retried by QStash.
 */
import { Hono, type Context } from 'hono';
import { z } from 'zod';
import { getJob } from '../../../db/jobs.repo.ts';
import { runJob, type RunnerDeps } from '../../../workers/run-job.ts';
import { housekeep, housekeepingOptions, type HousekeepingOptions } from '../../../workers/scheduler.ts';
import { createSignatureVerifier, JOBS_PATH, SWEEP_PATH, sweepDispatches, type SignatureVerifier } from '../../../workers/queue/qstash.ts';
import type { Config, QStashConfig } from '../../../core/env.ts';
import type { AppEnv } from '../../deps.ts';
import { Problem, unauthorized } from '../../errors.ts';

export interface WorkerHost {
  runner: RunnerDeps;
  verifier: SignatureVerifier;
  /** SWITCHYARD_WORKER_URL: signatures are checked against the URL QStash was asked to call. */
  workerUrl: string;
  sweep: { staleMs: number; limit: number; housekeeping: HousekeepingOptions };
}

/** The worker host every runtime builds from its runner and the QStash settings. */
export function createWorkerHost(
  runner: RunnerDeps,
  qstash: QStashConfig,
  config: Pick<Config, 'SWITCHYARD_REDISPATCH_AFTER_MS'> & Parameters<typeof housekeepingOptions>[0],
): WorkerHost {
  return {
    runner,
    verifier: createSignatureVerifier({ current: qstash.QSTASH_CURRENT_SIGNING_KEY, next: qstash.QSTASH_NEXT_SIGNING_KEY }),
    workerUrl: qstash.SWITCHYARD_WORKER_URL,
    sweep: { staleMs: config.SWITCHYARD_REDISPATCH_AFTER_MS, limit: 500, housekeeping: housekeepingOptions(config) },
  };
}

const JobMessage = z.object({
  job_id: z.string().regex(/^job_[0-9a-z]{26}$/),
  tenant_id: z.string().regex(/^ten_[0-9a-z]{26}$/),
  step: z.number().int().min(0),
  attempt: z.number().int().min(0),
});

const FINAL = new Set(['succeeded', 'dead', 'canceled']);

/** 489: QStash stops retrying and moves the message to its DLQ. */
const nonRetryable = (detail: string) =>
  new Problem(489 as never, 'Invalid message', detail, {}, { 'Upstash-NonRetryable-Error': 'true' });

const later = (c: Context, seconds: number, reason: string) =>
  c.json({ outcome: 'later', reason, retry_after_s: seconds }, 429, { 'Retry-After': String(seconds) });

export function workersRouter(host: WorkerHost) {
  const app = new Hono<AppEnv>();
  const base = host.workerUrl.replace(/\/+$/, '');

  /** The raw body, verified before anything reads it as JSON. */
  async function verified(c: Context<AppEnv>, path: string): Promise<string> {
    const body = await c.req.text();
    const signature = c.req.header('Upstash-Signature');
    if (!signature) throw unauthorized('the Upstash-Signature header is missing');
    if (!(await host.verifier.verify({ signature, body, url: `${base}${path}` }))) {
      throw unauthorized('the Upstash-Signature does not verify for this body and URL');
    }
    return body;
  }

  app.post(JOBS_PATH, async (c) => {
    const body = await verified(c, JOBS_PATH);
    let parsed: z.infer<typeof JobMessage>;
    try {
      parsed = JobMessage.parse(JSON.parse(body));
    } catch {
      throw nonRetryable('the message body is not a job message {job_id, tenant_id, step, attempt}');
    }
    const ref = { id: parsed.job_id, tenantId: parsed.tenant_id };
    const log = host.runner.log.child({ job_id: ref.id, message_id: c.req.header('Upstash-Message-Id'), retried: c.req.header('Upstash-Retried') });

    const result = await runJob(host.runner, ref);
    if (result.outcome !== 'skipped') {
      return c.json({ job_id: ref.id, outcome: result.outcome, status: result.job.status }, 200);
    }

    // Not claimed: say why, in QStash's terms.
    const job = await getJob(host.runner.db.sql, ref.tenantId, ref.id);
    if (!job) throw nonRetryable(`job ${ref.id} does not exist`);
    if (FINAL.has(job.status)) {
      log.debug('duplicate delivery for a finished job');
      return c.json({ job_id: job.id, outcome: 'duplicate', status: job.status }, 200);
    }
    const now = Date.now();
    if (job.status === 'running') {
      const left = job.leaseExpiresAt ? Date.parse(job.leaseExpiresAt) - now : 0;
      return later(c, Math.max(1, Math.ceil(left / 1000)), 'the job is running under a live lease');
    }
    // queued
    const due = Date.parse(job.runAt);
    if (due > now) {
      const sameEpoch = job.steps === parsed.step && job.attempts === parsed.attempt;
      // An older epoch's message (the job has moved on; its own dispatch is on its way): done.
      if (!sameEpoch) return c.json({ job_id: job.id, outcome: 'superseded', status: job.status }, 200);
      return later(c, Math.max(1, Math.ceil((due - now) / 1000)), 'the job is not due yet');
    }
    // Due but not claimable: another job on the same subject holds its concurrency key.
    return later(c, 2, 'another job for the same subject is running');
  });

  app.post(SWEEP_PATH, async (c) => {
    await verified(c, SWEEP_PATH);
    return c.json(await sweepOnce(host), 200);
  });

  return app;
}

/** One sweep plus housekeeping: the QStash schedule's and the Cron Trigger's work. */
export async function sweepOnce(host: WorkerHost) {
  const sql = host.runner.db.sql;
  // Housekeeping first, so this sweep's dispatch pass sends the periodic jobs it makes.
  const scheduled = await housekeep(sql, host.sweep.housekeeping);
  const result = await sweepDispatches(sql, host.runner.queue, host.sweep);
  if (result.requeued) host.runner.metrics?.inc('job_lease_expiries_recovered_total', {}, result.requeued);
  const summary = { ...result, pulls: scheduled.pulls, evaluations: scheduled.evaluations, retention: scheduled.retention };
  if (result.requeued || result.dispatched || result.failed || scheduled.retention) host.runner.log.info('sweep', summary);
  if (scheduled.realtimeDropped) host.runner.log.warn('Supabase Realtime broadcasts were dropped', { ...scheduled.realtimeDropped });
  return summary;
}
