/**
 * Task registry: job kind → { payload schema, run }. Transports know nothing of kinds; runJob looks
 * the kind up here. Tests may build registries with extra tasks of their own.
 */
import type { Metrics } from '../core/metrics.ts';
import type { ErrorReporter } from '../core/errors.ts';
import type { Tracer } from '../core/trace.ts';
import type { Breakers } from '../core/breakers.ts';
import type { z } from 'zod';
import type { Sql } from '../db/client.ts';
import type { Job } from '../db/jobs.repo.ts';
import type { Db } from '../db/client.ts';
import type { Signaler } from '../db/notify.repo.ts';
import type { SecretBox } from '../core/crypto.ts';
import type { Logger } from '../core/log.ts';
import type { ProjectProvider } from './providers/project/provisioner.ts';
import type { StoreRuntime } from './providers/store/runtime.ts';
import type { LogPuller } from './providers/logs/pull/puller.ts';
import type { StepOutcome } from './step.ts';

export interface WorkerDeps {
  db: Db;
  signals: Signaler;
  box: SecretBox;
  log: Logger;
  /** Where steps, retries, pulls and notifications are counted (default: nowhere). */
  metrics?: Metrics;
  /** Where dead jobs and given-up outbound calls are reported (Sentry, when configured). */
  errors?: ErrorReporter;
  /** Makes each step's span (a child of the job's stored traceparent) and its calls' spans. */
  tracer?: Tracer;
  /** Circuit breakers for calls a task makes itself (webhooks, per host); providers come wrapped. */
  breakers?: Breakers;
  providers: {
    projects: Partial<Record<string, ProjectProvider>>;
    stores: Partial<Record<string, StoreRuntime>>;
    logs: Partial<Record<string, LogPuller>>;
  };
}

export interface TaskContext<P> {
  job: Job;
  payload: P;
  /** The checkpoint the previous step left (continueAfter), or null on the first step. */
  state: unknown;
  attempt: number;
  /** Aborted when the lease is about to run out. */
  signal: AbortSignal;
  deps: WorkerDeps;
  /**
   * Runs an outside call (a provider, a webhook, an API) as a child span of this step; `headers`
   * carries its `traceparent` for an outbound HTTP request.
   */
  call<T>(name: string, fn: (headers: Record<string, string>) => Promise<T>, attributes?: Record<string, string | number | boolean>): Promise<T>;
  /** This step's traceparent: jobs the step creates store it, and continue the trace. */
  traceparent: string | null;
  /**
   * Commits `state` as the job's checkpoint now (it becomes `ctx.state`), before a call that must
   * not be repeated blindly; throws when the lease is lost. A continuation or retry after a crash
   * starts from it.
   */
  checkpoint(state: unknown): Promise<void>;
}

/** For running a task's step directly (tests, benches): its calls run without spans. */
export const untraced = { call: <T>(_name: string, fn: (headers: Record<string, string>) => Promise<T>) => fn({}), traceparent: null, checkpoint: async () => {} };

export interface Task<P = unknown> {
  kind: string;
  payload: z.ZodType<P>;
  run(ctx: TaskContext<P>): Promise<StepOutcome>;
  /**
   * The task checks `deadline_at` itself at every wait (`pastDeadline`), with the provider's own
   * status as the reason: a step claimed just past the deadline still runs, so it can finish, or
   * fail (or degrade) with that reason. The runner's backstop then waits `DEADLINE_GRACE_MS` more.
   */
  ownsDeadline?: boolean;
  /** Runs in the transaction that marks the job dead: fail the subject, record why. */
  onDead?(tx: Sql, job: Job, error: string): Promise<void>;
}

export type Registry = ReadonlyMap<string, Task<any>>;

export function defineTask<P>(task: Task<P>): Task<P> {
  return task;
}

export function createRegistry(tasks: Task<any>[]): Registry {
  const map = new Map<string, Task<any>>();
  for (const t of tasks) {
    if (map.has(t.kind)) throw new Error(`duplicate task kind ${t.kind}`);
    map.set(t.kind, t);
  }
  return map;
}
