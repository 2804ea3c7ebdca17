/**
 * The fetch every call goes through: an Idempotency-Key on each mutating call of an operation
 * that honours one (the same key on every retry of that call, so the server replays instead of
 * doing it twice), and retries:
 *
 * - 429: always (the limiter refused it before anything ran), after Retry-After;
 * - 503, 502, 504, 500 and network errors: only when a repeat can't do the work twice (GET, or a
 *   call carrying an Idempotency-Key), after Retry-After when given, else exponential backoff
 *   with full jitter.
 *
 * A wait longer than `maxDelayMs`, or past the last attempt, returns the answer as it is.
 */
import { IDEMPOTENT } from './operations.js';

export interface RetryOptions {
  /** Attempts in all, the first included (default 4). */
  attempts?: number;
  /** The first backoff step (default 250 ms); each retry doubles it. */
  baseDelayMs?: number;
  /** The longest wait the client accepts, Retry-After included (default 30 s). */
  maxDelayMs?: number;
}

const idempotent = IDEMPOTENT.map((op) => {
  const [method, template] = op.split(' ') as [string, string];
  return { method, re: new RegExp(`^${template.replace(/\{[^}]+\}/g, '[^/]+')}$`) };
});

export function takesIdempotencyKey(method: string, path: string): boolean {
  return idempotent.some((o) => o.method === method && o.re.test(path));
}

const sleep = (ms: number, signal?: AbortSignal | null) => new Promise<void>((resolve, reject) => {
  if (signal?.aborted) return reject(signal.reason);
  const t = setTimeout(resolve, ms);
  signal?.addEventListener('abort', () => {
    clearTimeout(t);
    reject(signal.reason);
  }, { once: true });
});

/** Seconds, or an HTTP date (RFC 9110 §10.2.3), as milliseconds from now. */
export function retryAfterMs(value: string | null, now = Date.now()): number | null {
  if (!value) return null;
  if (/^\d+$/.test(value.trim())) return Number(value.trim()) * 1000;
  const at = Date.parse(value);
  return Number.isNaN(at) ? null : Math.max(0, at - now);
}

export function retrying(inner: (req: Request) => Promise<Response>, opts: RetryOptions = {}, newKey: () => string = () => crypto.randomUUID()) {
  const attempts = Math.max(1, opts.attempts ?? 4);
  const base = opts.baseDelayMs ?? 250;
  const max = opts.maxDelayMs ?? 30_000;
  return async (request: Request): Promise<Response> => {
    const path = new URL(request.url).pathname;
    let req = request;
    if (request.method !== 'GET' && request.method !== 'HEAD' && !request.headers.has('Idempotency-Key') && takesIdempotencyKey(request.method, path)) {
      const headers = new Headers(request.headers);
      headers.set('Idempotency-Key', newKey());
      req = new Request(request, { headers });
    }
    const replayable = req.method === 'GET' || req.method === 'HEAD' || req.headers.has('Idempotency-Key');
    for (let attempt = 1; ; attempt++) {
      let res: Response | undefined;
      let failure: unknown;
      try {
        res = await inner(req.clone());
      } catch (err) {
        if (req.signal.aborted) throw err;
        failure = err;
      }
      const retryable = res
        ? res.status === 429 || (replayable && (res.status === 500 || res.status === 502 || res.status === 503 || res.status === 504))
        : replayable;
      if (!retryable || attempt >= attempts) {
        if (res) return res;
        throw failure;
      }
      // Full jitter (AWS architecture blog, "Exponential Backoff And Jitter"): spreads clients out.
      const asked = res ? retryAfterMs(res.headers.get('Retry-After')) : null;
      const wait = asked ?? Math.random() * base * 2 ** (attempt - 1);
      if (wait > max) {
        if (res) return res;
        throw failure;
      }
      await res?.body?.cancel().catch(() => {});
      await sleep(wait, req.signal);
    }
  };
}
