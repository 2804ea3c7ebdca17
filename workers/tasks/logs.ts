/**
 * Log ingestion work. Functions only verify a webhook, keep the raw delivery and enqueue; this
 * task normalizes it into events. The events and the delivery's `processed_at` commit together
 * in the job's outcome transaction, and each event's source id is unique per source, so a step
 * re-run after a crash (or a replay) adds nothing twice.
 */
import { z } from 'zod';
import type { Sql } from '../../db/client.ts';
import { announceEvents, insertEvents, type NewEvent } from '../../db/events.repo.ts';
import type { Metrics } from '../../core/metrics.ts';
import { CircuitOpenError } from '../../core/breakers.ts';
import { getDelivery, getLogSourceById, getLogSourceForWebhook, markDeliveryProcessed, recordPull } from '../../db/log-sources.repo.ts';
import { normalizeRender, normalizeSentry } from '../providers/logs/normalize.ts';
import { ProviderUnavailable, RateLimited } from '../providers/logs/pull/http.ts';
import type { PullPage } from '../providers/logs/pull/puller.ts';
import { defineTask } from '../registry.ts';
import { continueAfter, done, fail, type StepOutcome } from '../step.ts';

export const IngestDeliveryPayload = z.object({ delivery_id: z.string() });

export const ingestDelivery = defineTask({
  kind: 'logs.ingest_delivery',
  payload: IngestDeliveryPayload,
  async run(ctx): Promise<StepOutcome> {
    const sql = ctx.deps.db.sql;
    const delivery = await getDelivery(sql, ctx.job.tenantId, ctx.payload.delivery_id);
    if (!delivery) return fail('delivery not found', { retryable: false });
    const source = await getLogSourceForWebhook(sql, delivery.sourceId, delivery.provider);
    if (!source || source.tenantId !== ctx.job.tenantId) return done({ skipped: 'the log source was deleted' });
    let body: unknown;
    try {
      body = JSON.parse(delivery.body);
    } catch {
      return fail('the delivery body is not JSON', { retryable: false });
    }
    const receivedAt = new Date(delivery.receivedAt).toISOString();
    const normalized = delivery.provider === 'render'
      ? normalizeRender(body, delivery.deliveryId, receivedAt)
      : normalizeSentry(body, delivery.resource, delivery.deliveryId, receivedAt);
    const events = normalized.map((e) => ({ ...e, tenantId: source.tenantId, projectId: source.projectId, sourceId: source.id, provider: source.provider }));
    return done({ delivery_id: delivery.id, events: events.length }, async (tx) => {
      const inserted = await insertEvents(tx, events);
      await announceEvents(tx, events, inserted);
      await markDeliveryProcessed(tx, delivery.tenantId, delivery.id, inserted);
      recordIngest(ctx.deps.metrics, source.provider, 'webhook', events);
    });
  },
});

export const PullPayload = z.object({ source_id: z.string() });

/** Pages one step may read before committing (and how long it may keep reading). */
const PAGES_PER_STEP = 5;
const STEP_BUDGET_MS = 10_000;
/** Consecutive outages a pull rides out (backing off) before it gives up until its next schedule. */
const MAX_OUTAGES = 6;
const outageBackoffMs = (n: number) => Math.min(300_000, 5_000 * 2 ** (n - 1));

interface PullState { pages: number; events: number; outages: number }

/**
 * A scheduled (or requested) pull: a few pages per step, then the source's new high-water mark,
 * until the source is caught up. Each page is stored while the next one is fetched (the database
 * and the provider work at once); the mark commits in the step's outcome only after every page
 * before it is stored. The mark is read from the source at every step, never from the job, so a
 * step re-run after a crash starts from what was committed, and the pages it reads again add
 * nothing (events are unique per source). Rate limits and outages are continuations (no attempt
 * used); a refused key or a bad config ends the pull with the reason on the source, and the next
 * schedule tries again.
 */
export const pullSource = defineTask({
  kind: 'logs.pull',
  payload: PullPayload,
  async run(ctx): Promise<StepOutcome> {
    const sql = ctx.deps.db.sql;
    const source = await getLogSourceById(sql, ctx.job.tenantId, ctx.payload.source_id);
    if (!source) return done({ skipped: 'the log source was deleted' });
    const puller = ctx.deps.providers.logs[source.provider];
    const st: PullState = { pages: 0, events: 0, outages: 0, ...(ctx.state as Partial<PullState> | null) };
    // One step reads up to PAGES_PER_STEP pages (fewer when the provider wants them paced, or
    // time runs short) and commits them together with the mark after the last one. A crash
    // re-reads at most that many pages; their rows are unique per source, so nothing repeats.
    const events: NewEvent[] = [];
    let cursor = source.cursor as Record<string, unknown>;
    let pages = 0;
    // Pages are stored one after another, each while the next is fetched.
    let inserted = 0;
    let storing: Promise<void> = Promise.resolve();
    const store = (batch: NewEvent[]) => {
      storing = storing.then(async () => {
        inserted += await insertEvents(sql, batch);
      });
      storing.catch(() => {}); // awaited below, before any outcome; never unhandled meanwhile
    };
    const commit = (finished: boolean, lastError?: string | null) => async (tx: Sql) => {
      await announceEvents(tx, events, inserted);
      await recordPull(tx, source.tenantId, source.id, { cursor, finished, ...(lastError !== undefined ? { lastError } : {}) });
      ctx.deps.metrics?.inc('log_events_pulled_total', { provider: source.provider }, inserted);
      recordIngest(ctx.deps.metrics, source.provider, 'pull', events);
    };
    const progress = (): PullState => ({ pages: st.pages + pages, events: st.events + events.length, outages: 0 });
    /** The pull ends short: pages already read commit, and the reason goes on the source. */
    const stop = (error: string) => done({ ...progress(), error }, commit(true, error));
    if (!puller) return stop(`pulling from ${source.provider} is not configured on this worker`);
    let creds: { api_key?: string } = {};
    try {
      if (source.credentials) creds = JSON.parse(await ctx.deps.box.open(source.credentials, source.id));
    } catch {
      return fail("the source's credentials can't be opened: this worker's SWITCHYARD_SECRET_KEY is not the one that sealed them", { retryable: false });
    }
    if (!creds.api_key) return stop('the source has no API key to pull with');

    let page: PullPage | null = null;
    const started = Date.now();
    try {
      do {
        page = await puller.pull({
          config: source.config as Record<string, unknown>, apiKey: creds.api_key, cursor, now: new Date(), signal: ctx.signal,
        });
        pages++;
        cursor = page.cursor;
        const batch = page.events.map((e) => ({ ...e, tenantId: source.tenantId, projectId: source.projectId, sourceId: source.id, provider: source.provider }));
        for (const e of batch) events.push(e);
        store(batch);
      } while (page.more && page.minDelayMs === 0 && pages < PAGES_PER_STEP && Date.now() - started < STEP_BUDGET_MS);
    } catch (err) {
      // What was read is stored before the outcome commits its mark (a failed store fails the step).
      await storing;
      if (ctx.signal.aborted) throw err; // the lease ran out: an ordinary retry
      // Keep the pages already read: they commit with their mark, whatever comes next.
      if (err instanceof RateLimited) {
        return continueAfter(Math.max(1000, err.retryAfterMs), progress(), err.message, commit(false));
      }
      if (err instanceof ProviderUnavailable) {
        const outages = st.outages + 1;
        if (outages > MAX_OUTAGES) {
          ctx.deps.errors?.report(new Error(`log pull from ${source.provider} gave up after ${MAX_OUTAGES} outages: ${err.message}`), {
            level: 'warning', tags: { tenant_id: source.tenantId, source_id: source.id, provider: source.provider, job_id: ctx.job.id },
            fingerprint: ['log-pull-gave-up', source.provider],
          });
          return stop(`${err.message} (gave up after ${MAX_OUTAGES} tries; the next scheduled pull tries again)`);
        }
        const wait = Math.max(err.retryAfterMs ?? 0, outageBackoffMs(outages));
        return continueAfter(wait, { ...progress(), outages }, `${err.message}; retrying in ${Math.ceil(wait / 1000)} s`, commit(false));
      }
      // The provider's breaker is open: wait for it, keeping what was read.
      if (err instanceof CircuitOpenError) return continueAfter(err.retryAfterMs, { ...progress(), outages: st.outages }, err.message, commit(false));
      if (err instanceof Error) return stop(err.message);
      throw err;
    }
    await storing;
    if (page.more) return continueAfter(page.minDelayMs, progress(), page.note, commit(false));
    return done(progress(), commit(true, null));
  },
});

/** From each event's own time to now, when it is stored (recorded as the storing transaction ends). */
function recordIngest(metrics: Metrics | undefined, provider: string, via: 'webhook' | 'pull', events: NewEvent[]) {
  if (!metrics) return;
  const now = Date.now();
  for (const e of events) metrics.observe('log_ingest_lag_seconds', { provider, via }, Math.max(0, now - Date.parse(e.ts)) / 1000);
}

export const logTasks = [ingestDelivery, pullSource];
