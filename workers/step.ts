/**
 * The handler shape (DESIGN.md, "The queue contract"): a task's `run` performs one short step and
 * says what happens next. Long waits are continuations, never sleeps, so every invocation fits
 * inside an edge timeout and a job can outlive any of them.
 */
import type { Sql } from '../db/client.ts';
import type { Job } from '../db/jobs.repo.ts';
import { formatDuration } from '../core/deadlines.ts';

/**
 * Runs inside the outcome transaction, with the job's own update, so both commit or neither. It
 * may create follow-up jobs there (insertJob) and return them: they are dispatched after commit.
 */
export type Commit = (tx: Sql) => Promise<void | Job[]>;

export type StepOutcome =
  | { type: 'done'; result: unknown; commit?: Commit }
  | { type: 'continue'; delayMs: number; state: unknown; note: string | null; commit?: Commit; keepAttempts?: boolean }
  | { type: 'fail'; error: string; retryable: boolean };

/** Finished. `result` is stored on the job and shown to clients: never put secrets in it. */
export const done = (result: unknown = null, commit?: Commit): StepOutcome => ({ type: 'done', result, commit });

/** Run again after `delayMs` with `state` as the checkpoint. Does not use up an attempt. */
export const continueAfter = (delayMs: number, state: unknown, note: string | null = null, commit?: Commit): StepOutcome =>
  ({ type: 'continue', delayMs, state, note, commit });

export const fail = (error: string, opts: { retryable: boolean }): StepOutcome =>
  ({ type: 'fail', error, retryable: opts.retryable });

/**
 * Thrown by a provider (or anything a step calls) that must wait for something outside, not fail:
 * a rate limit that resets in `delayMs`. The step becomes a continuation with the job's current
 * state, and uses no attempt.
 */
export class WaitError extends Error {
  override name = 'WaitError';
  constructor(readonly delayMs: number, message: string) {
    super(message);
  }
}

/** Thrown by providers for errors a retry can't fix (bad input, a refusal that will repeat). */
export class PermanentError extends Error {
  override name = 'PermanentError';
}

/**
 * The reason to end a job whose next wait would end past its deadline (`deadline_at`), else null:
 * what it was waiting for, the provider's own status and how long it has been in it. One rule for
 * every resource with transitional statuses (projects and stores).
 */
export function pastDeadline(
  job: Pick<Job, 'deadlineAt' | 'createdAt'>,
  wait: { delayMs: number; note: string; providerStatus?: string; since?: number },
  what: string,
  now = Date.now(),
): string | null {
  if (!job.deadlineAt) return null;
  const deadline = Date.parse(job.deadlineAt);
  if (now + wait.delayMs <= deadline) return null;
  const allowed = formatDuration(deadline - Date.parse(job.createdAt));
  const stuck = wait.providerStatus
    ? `stuck in ${wait.providerStatus}${wait.since ? ` for ${formatDuration(now - wait.since)}` : ''}`
    : 'not finished';
  return `${stuck}, past the ${allowed} deadline for ${what}: ${wait.note}`;
}
