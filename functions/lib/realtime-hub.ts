/**
 * The realtime hub: one process-wide reader of the realtime outbox, fanning events out to
 * in-memory subscribers (SSE streams). It reads when woken by a `switchyard_events` NOTIFY (sent
 * after each commit that published something) and on a fallback poll, so a lost wake-up delays
 * an event by at most one poll interval and never drops it. While nobody is subscribed it only
 * moves its horizon forward, on the poll. Subscribers filter by tenant first,
 * then topic: an event never reaches another tenant's stream. Node-only (holds a LISTEN).
 */
import type postgres from 'postgres';
import { EVENTS_CHANNEL } from '../../db/notify.repo.ts';
import { readHorizon, readOutbox, type RealtimeEvent } from '../../db/realtime.repo.ts';
import type { Logger } from '../../core/log.ts';
import type { Metrics } from '../../core/metrics.ts';

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

export async function createRealtimeHub(sql: postgres.Sql, log: Logger, opts: { pollMs: number; metrics?: Metrics }): Promise<RealtimeHub> {
  const subs = new Set<Subscriber>();
  // Delivered ids whose transactions are still at or above the horizon (they may be read again).
  const delivered = new Map<string, bigint>();
  let horizon: string | null = null;
  let reading = false;
  let again = false;
  let closed = false;
  let lastWarnAt = 0;

  // Subscriptions made so far: a read that began before the latest one can't vouch for it.
  let joined = 0;

  async function read(reason: 'wake' | 'poll'): Promise<void> {
    // With nobody subscribed a wake-up has no one to deliver to; the poll keeps the horizon fresh.
    if (reason === 'wake' && subs.size === 0) return;
    if (reading) {
      again = true;
      return;
    }
    reading = true;
    try {
      do {
        again = false;
        const seen = joined;
        if (subs.size === 0) {
          // Only the horizon: otherwise a busy API reads and parses every event of every tenant,
          // on every wake-up, for no one. If someone subscribes while this is in
          // flight, its snapshot may postdate an event they must get, so the old horizon stays and
          // the loop reads again, in full: every event committed since then is at or above it.
          const h = await readHorizon(sql);
          if (joined !== seen) {
            again = true;
            continue;
          }
          horizon = h;
        } else {
          const page = await readOutbox(sql, horizon);
          for (const e of page.events) {
            if (delivered.has(e.id)) continue;
            delivered.set(e.id, BigInt(e.tx));
            opts.metrics?.inc('realtime_events_published_total', { event: e.event });
            for (const s of subs) {
              if (s.tenantId === e.tenantId && e.topics.some((t) => s.topics.has(t))) s.deliver(e);
            }
          }
          horizon = page.horizon;
        }
        const h = BigInt(horizon);
        for (const [id, tx] of delivered) if (tx < h) delivered.delete(id);
      } while (again && !closed);
    } catch (err) {
      // Polled every few hundred ms: during an outage, say so once a minute, not four times a second.
      if (!closed && Date.now() - lastWarnAt > 60_000) {
        lastWarnAt = Date.now();
        log.warn('realtime outbox read failed; retrying on every poll (logged once a minute)', { err });
      }
    } finally {
      reading = false;
    }
  }

  await read('poll'); // sets the starting horizon: only events committed from now on are live
  const listener = await sql.listen(EVENTS_CHANNEL, () => void read('wake'), () => void read('wake'));
  const timer = setInterval(() => void read('poll'), opts.pollMs);
  return {
    subscribe(sub) {
      joined++;
      subs.add(sub);
      return () => subs.delete(sub);
    },
    get size() {
      return subs.size;
    },
    async close() {
      closed = true;
      clearInterval(timer);
      await listener.unlisten();
    },
  };
}
