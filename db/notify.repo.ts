/**
 * Signals (NOTIFY) sent after a commit: "there are jobs due" and "there are new realtime events".
 *
 * Two costs shape this file. Postgres gives a notifying transaction an xid and holds a global
 * lock from pre-commit until its commit record is flushed, so each NOTIFY costs a serialised
 * fsync system-wide; a signal needs no durability (what it points at is already committed, and
 * readers also poll), so its transaction commits with synchronous_commit off. And a busy API
 * would send one per request: the signaler coalesces every signal asked for in one turn of the
 * event loop into a single statement, and sends at most one statement per `minIntervalMs` (a
 * NOTIFY per request was about a tenth of the API's CPU per create). Signals carry no payload;
 * readers look in the tables.
 */
import type { Sql } from './client.ts';

export const JOBS_CHANNEL = 'switchyard_jobs';
export const EVENTS_CHANNEL = 'switchyard_events';
export type Channel = typeof JOBS_CHANNEL | typeof EVENTS_CHANNEL;

export async function sendSignals(sql: Sql, channels: string[]): Promise<void> {
  if (channels.length === 0) return;
  await sql`select set_config('synchronous_commit', 'off', true), pg_notify(c, '') from unnest(${channels}::text[]) as c`;
}

export interface Signaler {
  /** Resolves when a NOTIFY covering this signal has been sent (or failed; readers poll anyway). */
  signal(channel: Channel): Promise<void>;
}

export interface SignalerOptions {
  onError?: (err: unknown) => void;
  /**
   * The least time between two NOTIFY statements from this signaler. A signal after a quiet spell
   * goes out on the next turn of the event loop; under load, signals wait up to this long and
   * share one statement. Default 5 ms.
   */
  minIntervalMs?: number;
}

export function createSignaler(sql: Sql, options: SignalerOptions = {}): Signaler {
  const onError = options.onError ?? (() => {});
  const minIntervalMs = options.minIntervalMs ?? 5;
  let pending = new Set<Channel>();
  let flushing: Promise<void> | null = null;
  let scheduled: Promise<void> | null = null;
  let lastSent = -Infinity;

  const flush = async () => {
    // One flush at a time: signals raised while one is in flight ride on the next.
    if (flushing) await flushing.catch(() => {});
    const channels = [...pending];
    pending = new Set();
    scheduled = null;
    lastSent = performance.now();
    flushing = sendSignals(sql, channels).catch(onError);
    await flushing;
  };

  return {
    signal(channel) {
      pending.add(channel);
      scheduled ??= new Promise<void>((r) => setTimeout(r, Math.max(0, lastSent + minIntervalMs - performance.now()))).then(flush);
      return scheduled;
    },
  };
}
