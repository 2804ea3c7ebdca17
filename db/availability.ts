/**
 * Whether the database answers, known without waiting on it. A probe runs `select 1` on a
 * connection of its own every `intervalMs` (faster while down), bounded by `timeoutMs`; a probe
 * that times out or fails marks the database down, and the next one that answers marks it up.
 *
 * Why a probe and not per-query timeouts: postgres.js has no acquire or query timeout on the
 * client side, and a frozen server (SIGSTOP, a hung host, a dropped network without RST) keeps
 * TCP connections open, so queries wait forever. Statement timeouts are enforced by the server,
 * which is the thing not answering. So requests race their work against `watchDown()` and answer
 * 503 the moment the probe gives up (HTTP edge, functions/middleware/availability.ts); the local
 * runner stops claiming while down; a finished step waits for `whenUp()` to record its outcome.
 *
 * Errors that can only mean the connection is gone (refused, reset, closed, server shutting down)
 * also mark the database suspect, which probes at once instead of at the next tick.
 */
import postgres from 'postgres';
import { reconnectBackoff } from './client.ts';

export interface Availability {
  readonly up: boolean;
  /** Why the database is down (for /readyz and 503 details); null while up. */
  readonly reason: string | null;
  /**
   * `down` resolves when the database is next marked down (at once if it is down). Call `cancel`
   * when done waiting: a watcher is a callback in a set, not a reaction on a shared promise,
   * so finished requests leave nothing behind.
   */
  watchDown(): { down: Promise<void>; cancel(): void };
  /** Resolves when the database is up (at once if it is), or after `timeoutMs`; true when up. */
  whenUp(timeoutMs: number): Promise<boolean>;
  /** A query failed in a way that says the connection is gone: probe now. */
  suspect(err: unknown): void;
  /** Called on every change between up and down. */
  onChange(fn: (up: boolean, reason: string | null) => void): () => void;
  close(): Promise<void>;
}

export interface AvailabilityOptions {
  intervalMs?: number;
  /** A probe not answered in this time marks the database down. */
  timeoutMs?: number;
  connectTimeoutS?: number;
}

/** SQLSTATEs and client codes that say the server is unreachable or going away. */
const CONNECTION_CODES = new Set([
  'ECONNREFUSED', 'ECONNRESET', 'EPIPE', 'ETIMEDOUT', 'EHOSTUNREACH', 'ENETUNREACH', 'ENOTFOUND', 'EAI_AGAIN',
  'CONNECTION_CLOSED', 'CONNECTION_ENDED', 'CONNECTION_DESTROYED', 'CONNECT_TIMEOUT',
  '57P01', '57P02', '57P03', // admin_shutdown, crash_shutdown, cannot_connect_now
  '08000', '08003', '08006', '08001', '08004', // connection exceptions
]);

/** True for an error that means "the database can't be reached", not "this query is wrong". */
export function isConnectionError(err: unknown): boolean {
  for (let e = err as { code?: unknown; cause?: unknown } | undefined, depth = 0; e && depth < 5; e = e.cause as typeof e, depth++) {
    if (typeof e.code === 'string' && CONNECTION_CODES.has(e.code)) return true;
    if (e instanceof DatabaseUnavailableError) return true;
  }
  return false;
}

/** Thrown where work gives up because the database is down. */
export class DatabaseUnavailableError extends Error {
  override name = 'DatabaseUnavailableError';
}

export function createAvailability(url: string, opts: AvailabilityOptions = {}): Availability {
  const intervalMs = opts.intervalMs ?? 500;
  const timeoutMs = opts.timeoutMs ?? 1000;
  let up = true;
  let reason: string | null = null;
  let closed = false;
  let timer: ReturnType<typeof setTimeout> | undefined;
  let probing = false;
  const downWaiters = new Set<() => void>();
  let upWaiters: Array<() => void> = [];
  const listeners = new Set<(up: boolean, reason: string | null) => void>();

  // fetch_types off: the probe only asks `select 1`, and a connection still fetching array types
  // when the probe is closed (end with timeout 0) rejected that query with nobody to catch it.
  const connect = () => postgres(url, {
    max: 1, onnotice: () => {}, idle_timeout: 0, backoff: reconnectBackoff, connect_timeout: opts.connectTimeoutS ?? 2, fetch_types: false,
    connection: { application_name: 'switchyard-probe' },
  });
  let client = connect();

  const set = (nowUp: boolean, why: string | null) => {
    reason = why;
    if (nowUp === up) return;
    up = nowUp;
    if (nowUp) {
      const waiters = upWaiters;
      upWaiters = [];
      waiters.forEach((w) => w());
    } else {
      const waiters = [...downWaiters];
      downWaiters.clear();
      waiters.forEach((w) => w());
    }
    for (const l of listeners) l(up, reason);
  };

  const probe = async () => {
    if (probing || closed) return;
    probing = true;
    clearTimeout(timer);
    let t: ReturnType<typeof setTimeout> | undefined;
    try {
      const answered = await Promise.race([
        client`select 1`.then(() => true),
        new Promise<false>((r) => (t = setTimeout(() => r(false), timeoutMs))),
      ]);
      if (answered) set(true, null);
      else {
        // The connection is stuck (a frozen server): drop it, the next probe connects afresh.
        const stuck = client;
        client = connect();
        void stuck.end({ timeout: 0 }).catch(() => {});
        set(false, `the database did not answer within ${timeoutMs} ms`);
      }
    } catch (err) {
      const e = err as { code?: string; message?: string };
      set(false, `the database is unreachable (${e.code ?? e.message ?? 'unknown error'})`);
    } finally {
      clearTimeout(t);
      probing = false;
      if (!closed) timer = setTimeout(() => void probe(), up ? intervalMs : Math.max(100, intervalMs / 2));
    }
  };
  timer = setTimeout(() => void probe(), 0);

  return {
    get up() {
      return up;
    },
    get reason() {
      return reason;
    },
    watchDown() {
      if (!up) return { down: Promise.resolve(), cancel: () => {} };
      let waiter!: () => void;
      const down = new Promise<void>((r) => (waiter = r));
      downWaiters.add(waiter);
      return { down, cancel: () => void downWaiters.delete(waiter) };
    },
    whenUp(ms) {
      if (up) return Promise.resolve(true);
      return new Promise<boolean>((res) => {
        const t = setTimeout(() => res(false), ms);
        upWaiters.push(() => {
          clearTimeout(t);
          res(true);
        });
      });
    },
    suspect(err) {
      if (isConnectionError(err)) void probe();
    },
    onChange(fn) {
      listeners.add(fn);
      return () => listeners.delete(fn);
    },
    async close() {
      closed = true;
      clearTimeout(timer);
      await client.end({ timeout: 0 }).catch(() => {});
    },
  };
}
