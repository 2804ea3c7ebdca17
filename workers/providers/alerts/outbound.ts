/**
 * Outbound alert notifications: where they may go (no loopback, private, link-local or other
 * special-use addresses unless development explicitly allows them — an alert URL is tenant input,
 * and the worker sits inside our network), how they are signed (Standard Webhooks: `webhook-id`,
 * `webhook-timestamp`, `webhook-signature: v1,<base64 HMAC-SHA256 of id.timestamp.body>`), and the
 * POST itself, failing as the queue expects: retryable errors, or a PermanentError when a retry can't help.
 *
 * The address check (core/addresses.ts) normalizes every form first. On Node the send
 * goes through guarded-fetch.ts, which checks every address the connection resolves to; Workers
 * can't reach private addresses anyway.
 */
import { Webhook } from 'standardwebhooks';
import { PermanentError } from '../../step.ts';
import { isIpLiteral, isLocalName, isPrivateAddress, nonPublicReason, normalizeHost } from '../../../core/addresses.ts';
import type { Breakers } from '../../../core/breakers.ts';

export type Resolver = (host: string) => Promise<string[]>;
export { isPrivateAddress };

/**
 * Throws a PermanentError (never retried) when the URL may not be called. This is the check at
 * create (and again before each send); the connection itself is guarded too, where the runtime
 * lets us see the addresses it connects to (Node: guarded-fetch.ts), so a DNS answer that
 * changes between this check and the connect (rebinding) is refused as well.
 */
export async function assertDeliverable(url: string, opts: { allowPrivate: boolean; resolve?: Resolver }): Promise<URL> {
  let u: URL;
  try {
    u = new URL(url);
  } catch {
    throw new PermanentError('the channel URL is not a URL');
  }
  if (u.username || u.password) throw new PermanentError('the channel URL must not carry credentials in its authority');
  if (opts.allowPrivate) {
    if (u.protocol !== 'https:' && u.protocol !== 'http:') throw new PermanentError('the channel URL must be http(s)');
    return u;
  }
  if (u.protocol !== 'https:') throw new PermanentError('the channel URL must be https');
  const host = normalizeHost(u.hostname);
  if (isIpLiteral(host)) {
    const why = nonPublicReason(host);
    if (why) throw new PermanentError(`the channel host ${host} is a private address: ${why}`);
    return u;
  }
  if (isLocalName(host)) throw new PermanentError(`the channel host ${host} is not public`);
  for (const a of (await opts.resolve?.(host)) ?? []) {
    const why = nonPublicReason(a);
    if (why) throw new PermanentError(`the channel host ${host} resolves to a private address (${a}: ${why})`);
  }
  return u;
}

export interface Notification {
  /** Stable per firing: a retried delivery carries the same id, so receivers can drop repeats. */
  id: string;
  type: 'slack' | 'webhook' | 'pagerduty';
  url: string;
  /** The signing secret (webhook), or PagerDuty's routing key. */
  secret: string;
  /** PagerDuty: trigger on firing, resolve when the rule clears, under one dedup key per rule. */
  pagerDuty?: { action: 'trigger' | 'resolve'; dedupKey: string; source: string; severity: 'critical' | 'error' | 'warning' | 'info' };
  /** The Standard Webhooks envelope's data. */
  data: Record<string, unknown>;
  text: string;
  /** The envelope's `type` (default `alert.fired`). */
  eventType?: string;
  /** The sender named in User-Agent (default Switchyard-Alerts/1). */
  userAgent?: string;
}

export function signedRequest(n: Notification, now = new Date()): { headers: Record<string, string>; body: string } {
  if (n.type === 'pagerduty') {
    // Events API v2: the routing key in the body is the authentication; nothing is signed.
    const pd = n.pagerDuty ?? { action: 'trigger', dedupKey: n.id, source: 'switchyard', severity: 'error' };
    const body = JSON.stringify({
      routing_key: n.secret, event_action: pd.action, dedup_key: pd.dedupKey,
      ...(pd.action === 'trigger' ? { payload: { summary: n.text.slice(0, 1024), source: pd.source, severity: pd.severity, timestamp: now.toISOString(), custom_details: n.data } } : {}),
    });
    return { body, headers: { 'content-type': 'application/json', 'user-agent': n.userAgent ?? 'Switchyard-Alerts/1' } };
  }
  const body = n.type === 'slack'
    ? JSON.stringify({ text: n.text })
    : JSON.stringify({ type: n.eventType ?? 'alert.fired', timestamp: now.toISOString(), data: n.data });
  const signature = new Webhook(n.secret).sign(n.id, now, body);
  return {
    body,
    headers: {
      'content-type': 'application/json',
      'user-agent': n.userAgent ?? 'Switchyard-Alerts/1',
      'webhook-id': n.id,
      'webhook-timestamp': String(Math.floor(now.getTime() / 1000)),
      'webhook-signature': signature,
    },
  };
}

/**
 * POSTs once. 2xx: delivered. 408/429/5xx/network: an Error, which the queue retries with backoff.
 * Other 4xx: PermanentError (not retried).
 */
export async function deliver(n: Notification, opts: { allowPrivate: boolean; resolve?: Resolver; signal: AbortSignal; fetch?: typeof fetch; headers?: Record<string, string> }): Promise<number> {
  const url = await assertDeliverable(n.url, opts);
  const signed = signedRequest(n);
  // Trace context travels with the notification (it is not part of what is signed).
  const headers = { ...opts.headers, ...signed.headers };
  const { body } = signed;
  let res: Response;
  try {
    res = await (opts.fetch ?? fetch)(url, {
      method: 'POST', headers, body, redirect: 'manual',
      signal: AbortSignal.any([opts.signal, AbortSignal.timeout(10_000)]),
    });
  } catch (err) {
    if (opts.signal.aborted) throw err;
    throw new Error(`could not reach ${url.host}: ${(err as Error).message}`);
  }
  await res.body?.cancel();
  if (res.ok) return res.status;
  if (res.status === 408 || res.status === 429 || res.status >= 500) throw new Error(`${url.host} answered HTTP ${res.status}`);
  throw new PermanentError(`${url.host} refused the notification (HTTP ${res.status})`);
}

/**
 * A webhook call through its host's breaker: an unreachable host or a 5xx counts, an answer such
 * as a 404 (a PermanentError) doesn't.
 */
export function guarded<T>(breakers: Breakers | undefined, dependency: string, fn: () => Promise<T>): Promise<T> {
  return breakers ? breakers.run(dependency, fn, (err) => !(err instanceof PermanentError) && (err as { name?: string } | null)?.name !== 'AbortError') : fn();
}
