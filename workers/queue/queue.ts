/**
 * The Queue port: how a committed job is signalled to whatever will run it. A signal can be lost
 * (a crashed process, a failed publish); the jobs table still says what is due and the sweeper or
 * the poller finds it.
 */
import type postgres from 'postgres';
import { sendSignal } from '../../db/notify.repo.ts';

export interface DispatchableJob {
  id: string;
  tenantId: string;
  runAt: string;
}

export interface Queue {
  readonly name: string;
  /** Called after the job's transaction has committed. */
  dispatch(jobs: DispatchableJob[]): Promise<void>;
}

export const JOBS_CHANNEL = 'switchyard_jobs';

/** The embedded transport: NOTIFY wakes local runners in any process on the same database. */
export function createLocalQueue(sql: postgres.Sql): Queue {
  return {
    name: 'local',
    async dispatch(jobs) {
      for (const job of jobs) await sendSignal(sql, JOBS_CHANNEL, job.id);
    },
  };
}
