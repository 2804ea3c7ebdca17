/**
 * The one HTTP call every log puller makes: a bearer-token GET with a timeout, whose failures are
 * sorted into what the pull task does next. A 429 is `RateLimited` (wait as long as the provider
 * said), a 5xx or a network failure is `ProviderUnavailable` (back off), a refused key or a bad
 * request is a `PermanentError` (stop and show it on the source). Bodies of errors are never
 * echoed whole: they may quote the request, and the request carries the token.
 */
import { PermanentError } from '../../../step.ts';
import { redactText } from '../../../../core/log.ts';

export class RateLimited extends Error {
  override name = 'RateLimited';
  constructor(readonly provider: string, readonly retryAfterMs: number) {
    super(`${provider} rate limit reached; retrying in ${Math.ceil(retryAfterMs / 1000)} s`);
  }
}

export class ProviderUnavailable extends Error {
  override name = 'ProviderUnavailable';
  constructor(readonly provider: string, detail: string, readonly retryAfterMs: number | null = null) {
    super(`${provider} is unavailable: ${detail}`);
  }
}

export interface HttpOptions {
  provider: string;
  token: string;
  signal: AbortSignal;
  timeoutMs?: number;
  fetch?: typeof fetch;
}

/**
 * How long a 429 (or a 503) asks us to wait. Providers say it differently: `Retry-After` (seconds
 * or an HTTP date; Render), `X-RateLimit-Reset` (seconds until the window resets; Supabase),
 * `X-Sentry-Rate-Limit-Reset` (a UNIX time; Sentry), `RateLimit-Reset` (seconds; Render).
 */
export function retryAfterMs(headers: Headers, now = Date.now()): number | null {
  const after = headers.get('retry-after');
  if (after) {
    const secs = Number(after);
    if (Number.isFinite(secs)) return Math.max(0, secs * 1000);
    const at = Date.parse(after);
    if (!Number.isNaN(at)) return Math.max(0, at - now);
  }
  const sentry = Number(headers.get('x-sentry-rate-limit-reset'));
  if (headers.has('x-sentry-rate-limit-reset') && Number.isFinite(sentry)) return Math.max(0, sentry * 1000 - now);
  for (const name of ['x-ratelimit-reset', 'ratelimit-reset']) {
    const secs = Number(headers.get(name));
    if (headers.has(name) && Number.isFinite(secs)) return Math.max(0, secs * 1000);
  }
  return null;
}

export async function getJson<T>(url: URL, opts: HttpOptions): Promise<{ body: T; headers: Headers }> {
  const timeout = AbortSignal.timeout(opts.timeoutMs ?? 20_000);
  let res: Response;
  try {
    res = await (opts.fetch ?? fetch)(url, {
      headers: { authorization: `Bearer ${opts.token}`, accept: 'application/json' },
      signal: AbortSignal.any([opts.signal, timeout]),
    });
  } catch (err) {
    if (opts.signal.aborted) throw err;
    throw new ProviderUnavailable(opts.provider, timeout.aborted ? 'timed out' : (err as Error).message);
  }
  if (res.status === 429) {
    await res.body?.cancel();
    throw new RateLimited(opts.provider, retryAfterMs(res.headers) ?? 60_000);
  }
  if (res.status >= 500) {
    await res.body?.cancel();
    throw new ProviderUnavailable(opts.provider, `HTTP ${res.status}`, retryAfterMs(res.headers));
  }
  if (res.status === 401 || res.status === 403) {
    await res.body?.cancel();
    throw new PermanentError(`${opts.provider} refused the API key (HTTP ${res.status})`);
  }
  const text = await res.text();
  if (!res.ok) throw new PermanentError(`${opts.provider} answered HTTP ${res.status}: ${redactText(text).slice(0, 200)}`);
  try {
    return { body: JSON.parse(text) as T, headers: res.headers };
  } catch {
    throw new ProviderUnavailable(opts.provider, 'the response was not JSON');
  }
}
