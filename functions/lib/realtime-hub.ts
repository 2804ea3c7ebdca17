/**
 * The realtime hub: one LISTEN connection per process fanning `switchyard_events` notifications
 * out to in-memory subscribers (SSE streams). Subscribers filter by tenant first, then topic, so
 * an event never reaches another tenant's stream. Node-only: it holds a connection open.
 */
import type postgres from 'postgres';
import { getEventById, type RealtimeEvent } from '../../db/realtime.repo.ts';
import type { Logger } from './log.ts';

export const EVENTS_CHANNEL = 'switchyard_events';

export interface Subscriber {
  tenantId: string;
  topics: Set<string>;
  deliver(event: RealtimeEvent): void;
}

export interface RealtimeHub {
  subscribe(sub: Subscriber): () => void;
  readonly size: number;
  close(): Promise<void>;
}

export async function createRealtimeHub(sql: postgres.Sql, log: Logger): Promise<RealtimeHub> {
  const subs = new Set<Subscriber>();

  async function onMessage(text: string) {
    if (subs.size === 0) return;
    let event: RealtimeEvent & { truncated?: boolean };
    try {
      const raw = JSON.parse(text);
      event = { id: String(raw.id), tenantId: raw.tenant_id, topics: raw.topics, event: raw.event, payload: raw.payload, truncated: raw.truncated };
    } catch (err) {
      log.warn('ignored a malformed realtime notification', { err });
      return;
    }
    const targets = [...subs].filter((s) => s.tenantId === event.tenantId && event.topics.some((t) => s.topics.has(t)));
    if (targets.length === 0) return;
    if (event.truncated) {
      const full = await getEventById(sql, event.id);
      if (!full) return;
      event = full;
    }
    for (const s of targets) s.deliver(event);
  }

  const listener = await sql.listen(EVENTS_CHANNEL, (text) => void onMessage(text));
  return {
    subscribe(sub) {
      subs.add(sub);
      return () => subs.delete(sub);
    },
    get size() {
      return subs.size;
    },
    close: () => listener.unlisten(),
  };
}
