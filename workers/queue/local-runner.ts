/**
 * The local runner (embedded default and self-hosted workers): LISTEN for immediate pickup, a
 * poll as the fallback for lost signals and delayed jobs, `concurrency` slots, and round-robin
 * across tenants so one tenant's backlog can't starve another. Node-only (long-lived process).
 *
 * Claims and completions go over a connection of the runner's own, with up to two calls in
 * flight. The second is pipelined behind the first, so Postgres starts it the moment the first
 * ends, while Node is still handing out the first one's jobs; one call at a time left each side
 * idle while the other worked. Over the pool, the two calls ran side by side instead, and their
 * claims contended for the same index head (Postgres CPU per job 0.6 → 0.9–1.3 ms).
 *
 * Because every call is answered in order on that connection, a slot is free for the next claim
 * from the moment its job's completion is sent (see `releasing`). Counting it taken until the
 * job's code had unwound made batches go out with nothing to claim, then a lone claim after them:
 * ~3 jobs per call. Now no-op jobs finish, complete and are replaced together, `concurrency` to a
 * call (Postgres CPU per job roughly halved in a 10,000-job scratch run).
 */
import { claimDueJobs, nextRunAt, requeueExpiredLeases, type Job } from '../../db/jobs.repo.ts';
import { executeClaimedJob, type RunnerDeps } from '../run-job.ts';
import { JOBS_CHANNEL } from '../../db/notify.repo.ts';
import { housekeep, type HousekeepingOptions } from '../scheduler.ts';
import { createCompletions } from './completions.ts';

export interface LocalRunnerOptions {
  concurrency: number;
  pollIntervalMs: number;
  sweepIntervalMs: number;
  /** Pruning, and the periodic work (pulls, alert evaluations, retention) each sweep enqueues. */
  housekeeping: HousekeepingOptions;
}

export interface LocalRunner {
  start(): Promise<void>;
  /** Stops claiming, waits up to graceMs for running steps, then resolves. */
  stop(graceMs: number): Promise<{ unfinished: number }>;
  readonly active: number;
}

export function createLocalRunner(baseDeps: RunnerDeps, opts: LocalRunnerOptions): LocalRunner {
  const log = baseDeps.log.child({ component: 'runner', worker: baseDeps.workerId });
  let active = 0;
  /** Slots promised to a claim in flight (the runner's own, or one riding on a completion batch). */
  let reserved = 0;
  /**
   * Running jobs whose completion is in flight. Their slots count as free for the next claim:
   * every call goes over the one connection below and is answered in order, so those completions
   * commit before any claim sent after them. Counting them as taken left the next batch nothing
   * to claim, and a lone claim followed when they finished.
   */
  let releasing = 0;
  /**
   * Jobs whose completion has answered, on their way out (their callers resume a few ticks
   * later). Their slots are free from the answer on: the claim that rode on it replaced them.
   */
  const released = new Set<string>();
  let stopping = false;
  let filling = false;
  let fillAgain = false;
  let lastTenant = '';
  let pollTimer: ReturnType<typeof setTimeout> | undefined;
  let sweepTimer: ReturnType<typeof setInterval> | undefined;
  let unlisten: (() => Promise<void>) | undefined;
  const idle: Array<() => void> = [];

  // Connects on first use; closed by stop().
  const queueDb = baseDeps.db.dedicated('switchyard-runner');
  // Steps that finish together complete in one statement, which also claims their successors.
  const deps: RunnerDeps = {
    ...baseDeps,
    completions: baseDeps.completions ?? createCompletions(queueDb.sql, {
      maxInFlight: 2,
      refill: {
        request(freeing) {
          releasing += freeing;
          const limit = stopping ? 0 : Math.max(0, free());
          reserved += limit;
          return { workerId: baseDeps.workerId, leaseMs: baseDeps.leaseMs, afterTenant: lastTenant, limit };
        },
        claimed(jobs, request, finished) {
          reserved -= request.limit;
          releasing -= finished.length;
          for (const job of finished) released.add(job.id);
          start(jobs);
          settle();
        },
      },
    }),
  };

  /** Slots neither taken by a running job nor promised to a claim in flight. */
  function free(): number {
    return opts.concurrency - (active - releasing - released.size) - reserved;
  }

  function schedulePoll(ms: number) {
    if (stopping) return;
    clearTimeout(pollTimer);
    pollTimer = setTimeout(() => void fill(), Math.max(0, Math.min(ms, opts.pollIntervalMs)));
  }

  /** Wakes stop() once nothing runs and no claim is in flight. */
  function settle() {
    if (active === 0 && reserved === 0) idle.splice(0).forEach((r) => r());
  }

  function start(claimed: Job[]) {
    for (const job of claimed) {
      lastTenant = job.tenantId;
      active++;
      void executeClaimedJob(deps, job)
        .catch((err) => log.error('job execution failed', { job_id: job.id, err }))
        .finally(() => {
          active--;
          released.delete(job.id);
          settle();
          void fill();
        });
    }
  }

  /** While the database is down nothing is claimed: no busy loop, no attempts spent. */
  let waitingForDb = false;
  function pauseUntilDbUp(): boolean {
    const availability = deps.availability;
    if (!availability || availability.up) return false;
    if (!waitingForDb) {
      waitingForDb = true;
      log.warn('database unavailable; claims paused', { reason: availability.reason });
      const wait = () => void availability.whenUp(opts.pollIntervalMs * 10).then((up) => {
        if (stopping) return;
        if (!up) return wait();
        waitingForDb = false;
        log.info('database back; claiming again');
        void fill();
      });
      wait();
    }
    return true;
  }

  async function fill(): Promise<void> {
    if (stopping || pauseUntilDbUp()) return;
    if (filling) {
      fillAgain = true;
      return;
    }
    filling = true;
    try {
      do {
        fillAgain = false;
        const limit = free();
        if (limit <= 0) break;
        reserved += limit;
        let claimed: Job[];
        try {
          claimed = await claimDueJobs(queueDb.sql, deps.workerId, deps.leaseMs, lastTenant, limit);
        } finally {
          reserved -= limit;
        }
        start(claimed); // even when stopping meanwhile: they hold leases, and stop() waits for them
        settle();
        if (stopping) break;
        if (claimed.length === limit) fillAgain = true;
        if (claimed.length === 0) {
          // Idle: sleep until the next delayed job is due, or the poll interval, whichever is first.
          const next = await nextRunAt(queueDb.sql);
          schedulePoll(next ? Date.parse(next) - Date.now() + 5 : opts.pollIntervalMs);
        }
      } while (fillAgain && !stopping);
    } catch (err) {
      settle();
      deps.availability?.suspect(err);
      if (!stopping) log.error('runner poll failed', { err });
      schedulePoll(opts.pollIntervalMs);
    } finally {
      filling = false;
    }
  }

  async function sweep() {
    if (deps.availability && !deps.availability.up) return;
    try {
      const requeued = await requeueExpiredLeases(deps.db.sql);
      if (requeued.length) {
        log.warn('requeued jobs with expired leases', { jobs: requeued.map((j) => j.id) });
        deps.metrics?.inc('job_lease_expiries_recovered_total', {}, requeued.length);
      }
      const scheduled = await housekeep(deps.db.sql, opts.housekeeping);
      if (scheduled.retention?.droppedPartitions.length || scheduled.retention?.deletedRows) log.info('retention', { ...scheduled.retention });
      if (scheduled.realtimeDropped) log.warn('Supabase Realtime broadcasts were dropped', { ...scheduled.realtimeDropped });
      if (scheduled.jobs.length) await deps.queue.dispatch(scheduled.jobs);
      if (requeued.length || scheduled.jobs.length) void fill();
    } catch (err) {
      if (!stopping) log.error('sweep failed', { err });
    }
  }

  return {
    get active() {
      return active;
    },
    async start() {
      const sub = await deps.db.sql.listen(JOBS_CHANNEL, () => void fill(), () => void fill());
      unlisten = () => sub.unlisten();
      sweepTimer = setInterval(() => void sweep(), opts.sweepIntervalMs);
      void sweep();
      log.info('runner started', { concurrency: opts.concurrency });
    },
    async stop(graceMs) {
      stopping = true;
      clearTimeout(pollTimer);
      clearInterval(sweepTimer);
      await unlisten?.().catch(() => {});
      if (active > 0 || reserved > 0) {
        await Promise.race([
          new Promise<void>((r) => idle.push(r)),
          new Promise<void>((r) => setTimeout(r, graceMs)),
        ]);
      }
      if (active > 0) log.warn('stopped with steps still running; their leases will expire and be re-claimed', { active });
      await queueDb.close().catch((err) => log.warn('could not close the runner connection', { err }));
      return { unfinished: active };
    },
  };
}
