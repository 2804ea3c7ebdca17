/**
 * The Queue port: how a committed job is signalled to whatever will run it. A signal can be lost
 * (a crashed process, a failed publish); the jobs table still says what is due and the sweeper or
 * the poller finds it.
 */
import { JOBS_CHANNEL, type Signaler } from '../../db/notify.repo.ts';
import type { DispatchRef } from '../../db/jobs.repo.ts';

/** A job as a transport needs it: which epoch (step, attempt) is due, and when. */
export interface DispatchableJob extends DispatchRef {
  runAt: string;
  /** Set when the sweeper re-sends a dispatch that went stale. */
  dispatchedAt?: string | null;
  /** The job's trace: a transport that makes a request (QStash) sends it on. */
  traceparent?: string | null;
}

export interface Queue {
  readonly name: string;
  /** Called after the job's transaction has committed. */
  dispatch(jobs: DispatchableJob[]): Promise<void>;
}

/**
 * The embedded transport: a NOTIFY wakes local runners in any process on the same database; they
 * look for due jobs themselves, so the signal needs no payload and many coalesce into one.
 */
export function createLocalQueue(signals: Signaler): Queue {
  return {
    name: 'local',
    async dispatch(jobs) {
      if (jobs.length) await signals.signal(JOBS_CHANNEL);
    },
  };
}
