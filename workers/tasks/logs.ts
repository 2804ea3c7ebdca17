/**
 * Log ingestion work. Functions only verify a webhook, keep the raw delivery and enqueue; this
 * task normalizes it into events. The events and the delivery's `processed_at` commit together
 * in the job's outcome transaction, and each event's source id is unique per source, so a step
 * re-run after a crash (or a replay) adds nothing twice.
 */
import { z } from 'zod';
import { insertEvents } from '../../db/events.repo.ts';
import { getDelivery, getLogSourceForWebhook, markDeliveryProcessed } from '../../db/log-sources.repo.ts';
import { normalizeRender, normalizeSentry } from '../providers/logs/normalize.ts';
import { defineTask } from '../registry.ts';
import { done, fail, type StepOutcome } from '../step.ts';

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
      await markDeliveryProcessed(tx, delivery.tenantId, delivery.id, inserted);
    });
  },
});

export const logTasks = [ingestDelivery];
