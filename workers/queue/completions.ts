/**
 * Batched completions for the local runner. Its no-op-sized steps finish many at a time, and one
 * UPDATE per finished job was the largest cost left per job (pg_stat_statements over 10,000 jobs).
 * Completions asked for in the same turn of the event loop, or while a batch is being written,
 * go out together in one statement; a lone completion goes out at once, so nothing waits on a
 * timer. Each caller still gets its own answer: its job's new row, or null if its lease was lost.
 */
import type { Sql } from '../../db/client.ts';
import { completeJobs, type Job } from '../../db/jobs.repo.ts';

export interface Completions {
  complete(job: Job, result: unknown): Promise<Job | null>;
}

interface Waiting {
  job: Job;
  result: unknown;
  resolve(row: Job | null): void;
  reject(err: unknown): void;
}

export function createCompletions(sql: Sql, maxBatch = 100): Completions {
  let waiting: Waiting[] = [];
  let writing = false;
  let scheduled = false;

  async function flush(): Promise<void> {
    scheduled = false;
    if (writing) return; // the write in flight flushes again when it ends
    writing = true;
    try {
      while (waiting.length > 0) {
        const batch = waiting.slice(0, maxBatch);
        waiting = waiting.slice(batch.length);
        try {
          const rows = await completeJobs(sql, batch);
          const byId = new Map(rows.map((r) => [r.id, r]));
          for (const w of batch) w.resolve(byId.get(w.job.id) ?? null);
        } catch (err) {
          for (const w of batch) w.reject(err);
        }
      }
    } finally {
      writing = false;
    }
  }

  return {
    complete(job, result) {
      return new Promise<Job | null>((resolve, reject) => {
        waiting.push({ job, result, resolve, reject });
        if (!scheduled && !writing) {
          scheduled = true;
          setImmediate(() => void flush());
        }
      });
    },
  };
}
