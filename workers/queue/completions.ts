/**
 * Batched completions for the local runner, each batch carrying the runner's next claim.
 *
 * Its no-op-sized steps finish many at a time, and one UPDATE per finished job was the largest
 * cost left per job (pg_stat_statements over 10,000 jobs). Completions asked for in the same turn
 * of the event loop, or while a batch is being written, go out together in one statement; a lone
 * completion goes out at once, so nothing waits on a timer. Each caller still gets its own answer:
 * its job's new row, or null if its lease was lost.
 *
 * A finished job frees a slot, and the runner's next move is to fill it. With `refill`, each batch
 * asks the runner how many jobs to claim and claims them in the same call
 * (switchyard_complete_and_claim), so a job's turn costs one round trip and one commit, not two.
 */
import type { Sql } from '../../db/client.ts';
import { completeAndClaim, type ClaimRequest, type Job } from '../../db/jobs.repo.ts';

export interface Completions {
  complete(job: Job, result: unknown): Promise<Job | null>;
}

export interface Refill {
  /**
   * Called as a batch goes out, with the number of slots its jobs will free: the claim to make
   * with it (a limit of 0 claims nothing). The caller reserves the slots it asks for until
   * `claimed`.
   */
  request(freeing: number): ClaimRequest;
  /**
   * Called for every batch once its call has answered, before any of the batch's callers hear
   * back, so the new jobs hold their slots before the finished ones give theirs up: the claimed
   * jobs (none when the call failed), the request, and the batch's finished jobs, which are done
   * with their slots whatever the answer.
   */
  claimed(jobs: Job[], request: ClaimRequest, finished: Job[]): void;
}

interface Waiting {
  job: Job;
  result: unknown;
  resolve(row: Job | null): void;
  reject(err: unknown): void;
}

export interface CompletionsOptions {
  maxBatch?: number;
  refill?: Refill;
  /**
   * Writes in flight at once (default 1). More than one only pays on a dedicated connection,
   * where the next call is pipelined behind the one running (see workers/queue/local-runner.ts);
   * on a pool the calls run side by side and their claims contend for the same queue head.
   */
  maxInFlight?: number;
}

export function createCompletions(sql: Sql, options: CompletionsOptions = {}): Completions {
  const maxBatch = options.maxBatch ?? 100;
  const maxInFlight = options.maxInFlight ?? 1;
  let waiting: Waiting[] = [];
  let scheduled = false;
  let writing = 0;

  async function write(batch: Waiting[]): Promise<void> {
    const claim = options.refill?.request(batch.length) ?? null;
    try {
      const { completed, claimed } = await completeAndClaim(sql, batch, claim && claim.limit > 0 ? claim : null);
      if (claim) options.refill!.claimed(claimed, claim, batch.map((w) => w.job));
      const byId = new Map(completed.map((r) => [r.id, r]));
      for (const w of batch) w.resolve(byId.get(w.job.id) ?? null);
    } catch (err) {
      if (claim) options.refill!.claimed([], claim, batch.map((w) => w.job));
      for (const w of batch) w.reject(err);
    }
  }

  // Up to maxInFlight writes at a time: what finishes meanwhile waits and goes out with the next
  // one. Each flusher keeps writing until nothing waits.
  async function flush(): Promise<void> {
    scheduled = false;
    if (writing >= maxInFlight) return; // a write in flight flushes again when it ends
    writing++;
    try {
      while (waiting.length > 0) {
        const batch = waiting.slice(0, maxBatch);
        waiting = waiting.slice(batch.length);
        await write(batch);
      }
    } finally {
      writing--;
    }
  }

  return {
    complete(job, result) {
      return new Promise<Job | null>((resolve, reject) => {
        waiting.push({ job, result, resolve, reject });
        if (!scheduled && writing < maxInFlight) {
          scheduled = true;
          setImmediate(() => void flush());
        }
      });
    },
  };
}
