/**
 * runJob: the one way a job runs, whatever signalled it (the local runner, a QStash delivery, a
 * test). Claim by id → validate → one step → one outcome transaction → signal what comes next.
 * A claim that finds nothing to do (a duplicate signal, a job already final, a live lease) is a
 * normal answer, reported as `skipped`.
 */
import type { Sql } from '../db/client.ts';
import {
  checkpointJob,
  lastProgressNote,
  claimJob,
  completeJob,
  continueJob,
  failJob,
  type Job,
  type RetryPolicy,
} from '../db/jobs.repo.ts';
import type { Queue } from './queue/queue.ts';
import type { Completions } from './queue/completions.ts';
import type { Registry, WorkerDeps } from './registry.ts';
import { PermanentError, WaitError, type StepOutcome } from './step.ts';
import { redactText } from '../core/log.ts';
import { EVENTS_CHANNEL } from '../db/notify.repo.ts';
import { isConnectionError, type Availability } from '../db/availability.ts';
import { CircuitOpenError } from '../core/breakers.ts';
import { SpanKind, formatTraceparent, inSpan, markError, startSpan, traceHeaders, type Span } from '../core/trace.ts';

export interface RunnerDeps extends WorkerDeps {
  registry: Registry;
  queue: Queue;
  workerId: string;
  leaseMs: number;
  retry: RetryPolicy;
  /** Batches plain completions (the local runner); without it each job completes on its own. */
  completions?: Completions;
  /** Whether the database answers: claims pause while it doesn't, and outcomes wait for it. */
  availability?: Availability;
}

export type RunResult =
  | { outcome: 'skipped' }
  | { outcome: 'succeeded' | 'continued' | 'retry_scheduled' | 'dead' | 'lost_lease'; job: Job };

export async function runJob(deps: RunnerDeps, ref: { id: string; tenantId: string }): Promise<RunResult> {
  const job = await claimJob(deps.db.sql, ref, deps.workerId, deps.leaseMs);
  if (!job) return { outcome: 'skipped' };
  return executeClaimedJob(deps, job);
}

const STEP_OUTCOME = { succeeded: 'done', continued: 'continue', retry_scheduled: 'retry', dead: 'dead', lost_lease: 'lost' } as const;

export async function executeClaimedJob(deps: RunnerDeps, job: Job): Promise<RunResult> {
  const started = performance.now();
  // Due → claimed (a claim has just happened; the database and this process share a clock).
  deps.metrics?.observe('job_pickup_latency_seconds', { kind: job.kind }, Math.max(0, Date.now() - Date.parse(job.runAt)) / 1000);
  // The step continues the trace its job was created in (a request's, or another job's step).
  const span = deps.tracer
    ? startSpan(deps.tracer, `job ${job.kind}`, job.traceparent, { kind: SpanKind.CONSUMER, attributes: { 'switchyard.job.id': job.id, 'switchyard.job.kind': job.kind, 'switchyard.job.attempt': job.attempts } })
    : null;
  let result: RunResult;
  try {
    result = await executeStep(deps, job, span);
  } catch (err) {
    if (span) (markError(span, err instanceof Error ? err.message : String(err)), span.end());
    throw err;
  }
  if (span) {
    span.setAttribute('switchyard.job.outcome', result.outcome);
    if (result.outcome === 'dead' || result.outcome === 'retry_scheduled') markError(span, result.outcome === 'dead' ? 'dead' : 'retry scheduled');
    span.end();
  }
  if (deps.metrics && result.outcome !== 'skipped') {
    const m = deps.metrics;
    m.observe('job_step_duration_seconds', { kind: job.kind, outcome: STEP_OUTCOME[result.outcome] }, (performance.now() - started) / 1000);
    if (result.outcome === 'retry_scheduled') m.inc('job_retries_total', { kind: job.kind });
    if (result.outcome === 'dead') m.inc('jobs_dead_total', { kind: job.kind });
  }
  if (result.outcome === 'dead') {
    // One event per dead job, grouped by kind: what failed and how often, never its payload.
    deps.errors?.report(new Error(`job ${job.kind} is dead: ${result.job.lastError ?? 'no error recorded'}`), {
      tags: { job_id: job.id, kind: job.kind, tenant_id: job.tenantId },
      extra: { attempts: result.job.attempts, max_attempts: result.job.maxAttempts, last_error: result.job.lastError },
      fingerprint: ['job-dead', job.kind],
    });
  }
  return result;
}

/** How long past its deadline a task that checks its own deadline may still run a step. */
export const DEADLINE_GRACE_MS = 60_000;

async function executeStep(deps: RunnerDeps, job: Job, span: Span | null): Promise<RunResult> {
  const traceparent = span ? formatTraceparent(span.spanContext()) : job.traceparent;
  const log = deps.log.child({ job_id: job.id, kind: job.kind, attempt: job.attempts, ...(traceparent ? { trace_id: traceparent.slice(3, 35) } : {}) });
  const call = <T>(name: string, fn: (headers: Record<string, string>) => Promise<T>, attributes?: Record<string, string | number | boolean>) =>
    deps.tracer && span
      ? inSpan(deps.tracer, name, span, (child) => fn(traceHeaders(child)), { kind: SpanKind.CLIENT, ...(attributes ? { attributes } : {}) })
      : fn({});
  const wake = () => void deps.signals.signal(EVENTS_CHANNEL); // best effort: readers also poll
  wake(); // the claim published `running`
  const task = deps.registry.get(job.kind);

  let outcome: StepOutcome;
  let payload: unknown;
  if (!task) {
    outcome = { type: 'fail', error: `unknown job kind "${job.kind}"`, retryable: false };
  } else if (job.attempts > job.maxAttempts) {
    // Only reachable when earlier attempts died with their worker (lease expiry re-claims).
    outcome = { type: 'fail', error: `gave up after ${job.maxAttempts} attempts: ${job.lastError ?? 'worker lost'}`, retryable: false };
  } else if (job.deadlineAt && Date.parse(job.deadlineAt) + (task.ownsDeadline ? DEADLINE_GRACE_MS : 0) < Date.now()) {
    // Keep the reason: what the job was last waiting for (e.g. a pod in ImagePullBackOff).
    const note = await lastProgressNote(deps.db.sql, job).catch(() => null);
    outcome = { type: 'fail', error: `not done by its deadline (${job.deadlineAt})${note ? `: ${note}` : ''}`, retryable: false };
  } else {
    const parsed = task.payload.safeParse(job.payload);
    if (!parsed.success) {
      outcome = { type: 'fail', error: `invalid payload: ${parsed.error.issues.map((i) => `${i.path.join('.')}: ${i.message}`).join('; ')}`, retryable: false };
    } else {
      payload = parsed.data;
      // Stop the step shortly before the lease runs out, so it doesn't outlive its claim.
      const controller = new AbortController();
      const timer = setTimeout(() => controller.abort(new Error('lease about to expire')), Math.max(deps.leaseMs - 250, 50));
      // The latest checkpoint: where a wait (below) continues from.
      let checkpointed = job.state;
      try {
        const ctx = {
          job, payload, state: job.state, attempt: job.attempts, signal: controller.signal, deps, call, traceparent: traceparent ?? null,
          async checkpoint(state: unknown) {
            if (!(await checkpointJob(deps.db.sql, job, state))) throw new Error('checkpoint refused: the lease was lost to another worker');
            ctx.state = checkpointed = state;
          },
        };
        outcome = await task.run(ctx);
      } catch (err) {
        // A dependency whose breaker is open, or one that asked us to wait (a rate limit): wait for
        // it from the last checkpoint (a continuation uses no attempt).
        outcome = err instanceof CircuitOpenError || err instanceof WaitError
          ? { type: 'continue', delayMs: err instanceof WaitError ? err.delayMs : err.retryAfterMs, state: checkpointed, note: err.message, keepAttempts: true }
          : { type: 'fail', error: errorMessage(err), retryable: !(err instanceof PermanentError) };
      } finally {
        clearTimeout(timer);
      }
    }
  }

  // An outcome that only touches the job is one statement; anything more gets a transaction.
  const needsTx = (outcome.type !== 'fail' && outcome.commit) || (outcome.type === 'fail' && task?.onDead);
  const persist = () => needsTx
    ? deps.db.sql.begin(async (tx) => persistOutcome(tx, deps, task?.onDead, job, outcome))
    : outcome.type === 'done' && deps.completions
      ? deps.completions.complete(job, outcome.result).then((next) => next && { next, label: 'succeeded' as const, spawned: [] })
      : persistOutcome(deps.db.sql, deps, undefined, job, outcome);
  const result = await persistThroughOutage(deps, job, log, persist);
  if (!result) {
    log.warn('job outcome discarded: lease lost to another worker');
    return { outcome: 'lost_lease', job };
  }
  const { next, label, spawned } = result;
  wake();
  const due = [...(next.status === 'queued' ? [next] : []), ...spawned];
  if (due.length) {
    await deps.queue.dispatch(due).catch((err) => log.warn('dispatch failed; the sweeper will resend', { err }));
  }
  log[label === 'dead' ? 'warn' : 'info'](`job ${label}`, label === 'dead' || label === 'retry_scheduled' ? { error: next.lastError } : {});
  return { outcome: label, job: next };
}

async function persistOutcome(
  tx: Sql,
  deps: RunnerDeps,
  onDead: ((tx: Sql, job: Job, error: string) => Promise<void>) | undefined,
  job: Job,
  outcome: StepOutcome,
): Promise<{ next: Job; label: Exclude<RunResult['outcome'], 'skipped' | 'lost_lease'>; spawned: Job[] } | null> {
  switch (outcome.type) {
    case 'done': {
      const next = await completeJob(tx, job, outcome.result);
      if (!next) return null;
      const spawned = (await outcome.commit?.(tx)) ?? [];
      return { next, label: 'succeeded', spawned };
    }
    case 'continue': {
      const next = await continueJob(tx, job, outcome.delayMs, outcome.state, outcome.note, { keepAttempts: outcome.keepAttempts ?? false });
      if (!next) return null;
      const spawned = (await outcome.commit?.(tx)) ?? [];
      return { next, label: 'continued', spawned };
    }
    case 'fail': {
      const next = await failJob(tx, job, outcome.error, outcome.retryable, deps.retry);
      if (!next) return null;
      if (next.status === 'dead') {
        await onDead?.(tx, next, outcome.error);
        return { next, label: 'dead', spawned: [] };
      }
      return { next, label: 'retry_scheduled', spawned: [] };
    }
  }
}

/**
 * A step that finished while the database was unreachable keeps its outcome and records it once
 * the database answers again, as long as its lease lasts; only then is the attempt given up (its
 * lease expires and the job is claimed again). Without this, every step running during an
 * outage cost an attempt and a lease's wait.
 */
async function persistThroughOutage<T>(deps: RunnerDeps, job: Job, log: RunnerDeps['log'], persist: () => Promise<T>): Promise<T> {
  const leaseEnds = job.leaseExpiresAt ? Date.parse(job.leaseExpiresAt) : Date.now() + deps.leaseMs;
  for (let tries = 1; ; tries++) {
    try {
      return await persist();
    } catch (err) {
      const left = leaseEnds - Date.now() - 500;
      if (!isConnectionError(err) || !deps.availability || left <= 0) throw err;
      deps.availability.suspect(err);
      if (tries === 1) log.warn('database unreachable while recording the outcome; waiting for it', { code: (err as { code?: string }).code });
      const up = await deps.availability.whenUp(left);
      if (!up) throw err;
      await new Promise((r) => setTimeout(r, Math.min(100 * tries, 1000)));
    }
  }
}

function errorMessage(err: unknown): string {
  // Stored on the job and shown to the tenant: never let a credential through.
  const text = err instanceof Error ? err.message || err.name : String(err);
  return redactText(text).slice(0, 2000);
}
