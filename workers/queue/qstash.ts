/**
 * The production transport (DESIGN.md "The queue contract", QStash delivery). After the intent's
 * transaction commits, each job is published to `${workerUrl}/workers/jobs`; QStash pushes it
 * back, signed, and the worker endpoint claims and runs one step. Every step that ends `queued`
 * (a continuation, a retry) is a new publish with `notBefore`, so no invocation waits.
 *
 * A publish that fails leaves the job queued with no dispatch recorded; the sweeper
 * (`POST /workers/sweep`) sends it later. Nothing here is the source of truth.
 */
import { Client, Receiver } from '@upstash/qstash';
import type { Sql } from '../../db/client.ts';
import { listUndispatched, recordDispatches, requeueExpiredLeases } from '../../db/jobs.repo.ts';
import type { Logger } from '../../core/log.ts';
import type { DispatchableJob, Queue } from './queue.ts';
import { SpanKind, inSpan, traceHeaders, type Tracer } from '../../core/trace.ts';
import type { Breakers } from '../../core/breakers.ts';
import { dependencyFailed } from '../providers/guard.ts';

export interface QStashSettings {
  QSTASH_TOKEN: string;
  /** The API base; absent: QStash's own. Tests point it at the contract fake. */
  QSTASH_URL?: string;
  SWITCHYARD_WORKER_URL: string;
  /** Deliveries at once per tenant (flow control keyed by tenant). */
  SWITCHYARD_QSTASH_PARALLELISM: number;
  /** QStash's own redeliveries of one message (after a non-2xx answer). */
  SWITCHYARD_QSTASH_RETRIES: number;
}

/** The message body a job's delivery carries: which job, and which epoch it was sent for. */
export interface JobMessage {
  job_id: string;
  tenant_id: string;
  step: number;
  attempt: number;
}

export const JOBS_PATH = '/workers/jobs';
export const SWEEP_PATH = '/workers/sweep';

export function createQStashClient(s: Pick<QStashSettings, 'QSTASH_TOKEN' | 'QSTASH_URL'>): Client {
  return new Client({
    token: s.QSTASH_TOKEN,
    ...(s.QSTASH_URL ? { baseUrl: s.QSTASH_URL } : {}),
    // The SDK retries network errors itself; a few quick tries, then the sweeper's turn.
    retry: { retries: 2, backoff: (n) => 100 * 2 ** n },
    enableTelemetry: false,
    devMode: false,
  });
}

/**
 * The deduplication id of one dispatch: the job and its epoch, so the same epoch sent twice (a
 * retried publish, two sweepers) is one message, and each retry or step is a new one. A stale
 * dispatch re-sent by the sweeper names the dispatch it replaces.
 */
export function deduplicationId(job: DispatchableJob): string {
  const base = `${job.id}-s${job.steps}-a${job.attempts}`;
  return job.dispatchedAt ? `${base}-r${Date.parse(job.dispatchedAt)}` : base;
}

export function createQStashQueue(opts: {
  client: Client;
  sql: Sql;
  settings: QStashSettings;
  log: Logger;
  /** Each publish is a span of its job's trace, and the delivery carries its traceparent. */
  tracer?: Tracer;
  /** Publishes go through the `qstash` breaker: while QStash fails, jobs wait for the sweeper instead of each timing out. */
  breakers?: Breakers;
}): Queue {
  const { client, settings, log } = opts;
  const url = `${settings.SWITCHYARD_WORKER_URL.replace(/\/+$/, '')}${JOBS_PATH}`;

  async function publish(job: DispatchableJob): Promise<string> {
    if (!opts.tracer || !job.traceparent) return send(job, job.traceparent ? { traceparent: job.traceparent } : {});
    return inSpan(opts.tracer, 'qstash.publish', job.traceparent, (span) => send(job, traceHeaders(span)), {
      kind: SpanKind.PRODUCER, attributes: { 'messaging.system': 'qstash', 'switchyard.job.id': job.id },
    });
  }

  async function send(job: DispatchableJob, headers: Record<string, string>): Promise<string> {
    const due = Date.parse(job.runAt);
    const body: JobMessage = { job_id: job.id, tenant_id: job.tenantId, step: job.steps, attempt: job.attempts };
    const call = (f: () => Promise<{ messageId: string }>) => (opts.breakers ? opts.breakers.run('qstash', f, dependencyFailed) : f());
    const res = await call(() => client.publishJSON({
      url,
      body,
      // Sent to QStash as Upstash-Forward-traceparent; the delivery to the worker carries it.
      headers,
      deduplicationId: deduplicationId(job),
      // Whole seconds, rounded up: a delivery must not arrive before the job is due.
      ...(due > Date.now() + 500 ? { notBefore: Math.ceil(due / 1000) } : {}),
      retries: settings.SWITCHYARD_QSTASH_RETRIES,
      flowControl: { key: `tenant-${job.tenantId}`, parallelism: settings.SWITCHYARD_QSTASH_PARALLELISM },
    }));
    return res.messageId;
  }

  return {
    name: 'qstash',
    async dispatch(jobs) {
      const results = await Promise.allSettled(jobs.map(publish));
      const sent = jobs.flatMap((job, i) => {
        const r = results[i]!;
        return r.status === 'fulfilled' ? [{ ...job, messageId: r.value }] : [];
      });
      // Recording is bookkeeping for the sweeper and the timeline; a failure here only means a
      // later, deduplicated, re-send.
      await recordDispatches(opts.sql, sent).catch((err) => log.warn('could not record dispatches', { err }));
      const failed = results.flatMap((r, i) => (r.status === 'rejected' ? [{ job: jobs[i]!.id, err: r.reason }] : []));
      if (failed.length) {
        throw new AggregateError(failed.map((f) => f.err), `publish failed for ${failed.map((f) => f.job).join(', ')}`);
      }
    },
  };
}

export interface SweepResult {
  requeued: number;
  dispatched: number;
  failed: number;
}

/**
 * One sweep: leases that expired go back to queued, then every due job with no live dispatch is
 * sent again. Idempotent: two sweeps at once send deduplicated messages.
 */
export async function sweepDispatches(
  sql: Sql,
  queue: Queue,
  opts: { staleMs: number; limit: number },
): Promise<SweepResult> {
  const requeued = await requeueExpiredLeases(sql);
  const due = await listUndispatched(sql, opts);
  let failed = 0;
  if (due.length) {
    await queue.dispatch(due).catch((err: unknown) => {
      failed = err instanceof AggregateError ? err.errors.length : due.length;
    });
  }
  return { requeued: requeued.length, dispatched: due.length - failed, failed };
}

/** Checks `Upstash-Signature` on a raw body, for the current and the next signing key. */
export interface SignatureVerifier {
  verify(req: { signature: string; body: string; url: string }): Promise<boolean>;
}

export function createSignatureVerifier(keys: { current: string; next: string }, clockToleranceS = 5): SignatureVerifier {
  const receiver = new Receiver({ currentSigningKey: keys.current, nextSigningKey: keys.next, devMode: false });
  return {
    async verify(req) {
      try {
        return await receiver.verify({ ...req, clockTolerance: clockToleranceS });
      } catch {
        return false; // SignatureError: neither key verifies, or the body or url doesn't match
      }
    },
  };
}

export const SWEEP_SCHEDULE_ID = 'switchyard-sweep';

/**
 * Creates (or updates: the id is fixed) the QStash schedule that calls the sweeper every minute.
 * `npm run setup:qstash` runs it; running it twice leaves one schedule.
 */
export async function ensureSweepSchedule(client: Client, workerUrl: string, cron = '* * * * *'): Promise<string> {
  const { scheduleId } = await client.schedules.create({
    destination: `${workerUrl.replace(/\/+$/, '')}${SWEEP_PATH}`,
    cron,
    scheduleId: SWEEP_SCHEDULE_ID,
    // A missed sweep is replaced by the next one a minute later.
    retries: 0,
    body: '{}',
  });
  return scheduleId;
}
