/**
 * Outbound alert notifications: where they may go (no loopback, private, link-local or other
 * special-use addresses unless development explicitly allows them — an alert URL is tenant input,
 * and the worker sits inside our network), how they are signed (Standard Webhooks: `webhook-id`,
 * `webhook-timestamp`, `webhook-signature: v1,<base64 HMAC-SHA256 of id.timestamp.body>`), and the
 * POST itself, failing as the queue expects: retryable errors, or a PermanentError when a retry can't help.
 *
 * The address check resolves the host when the runtime can (Node); the connection then resolves
 * again, so a DNS answer that changes in between (rebinding) is not caught. Workers can't reach
 * private addresses anyway.
 */
import { Webhook } from 'standardwebhooks';
import { PermanentError } from '../../step.ts';

export type Resolver = (host: string) => Promise<string[]>;

/** True for addresses a tenant's webhook must never reach. */
export function isPrivateAddress(ip: string): boolean {
  const v4 = /^(\d{1,3})\.(\d{1,3})\.(\d{1,3})\.(\d{1,3})$/.exec(ip);
  if (v4) {
    const [a, b] = [Number(v4[1]), Number(v4[2])];
    return a === 0 || a === 10 || a === 127 || (a === 100 && b >= 64 && b <= 127) || (a === 169 && b === 254)
      || (a === 172 && b >= 16 && b <= 31) || (a === 192 && b === 168) || (a === 192 && b === 0) || (a === 198 && (b === 18 || b === 19))
      || a >= 224;
  }
  const v6 = ip.toLowerCase().replace(/^\[|\]$/g, '');
  if (!v6.includes(':')) return false;
  const mapped = /^::ffff:(\d+\.\d+\.\d+\.\d+)$/.exec(v6);
  if (mapped) return isPrivateAddress(mapped[1]!);
  return v6 === '::' || v6 === '::1' || /^f[cd]/.test(v6) || /^fe[89ab]/.test(v6) || /^ff/.test(v6);
}

/** Throws a PermanentError (never retried) when the URL may not be called. */
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
  const host = u.hostname.replace(/^\[|\]$/g, '');
  if (host === 'localhost' || host.endsWith('.localhost') || host.endsWith('.internal') || host.endsWith('.local')) {
    throw new PermanentError(`the channel host ${host} is not public`);
  }
  const addresses = /^[\d.]+$|:/.test(host) ? [host] : ((await opts.resolve?.(host)) ?? []);
  for (const a of addresses) {
    if (isPrivateAddress(a)) throw new PermanentError(`the channel host ${host} resolves to a private address`);
  }
  return u;
}

export interface Notification {
  /** Stable per firing: a retried delivery carries the same id, so receivers can drop repeats. */
  id: string;
  type: 'slack' | 'webhook';
  url: string;
  secret: string;
  /** The Standard Webhooks envelope's data. */
  data: Record<string, unknown>;
  text: string;
}

export function signedRequest(n: Notification, now = new Date()): { headers: Record<string, string>; body: string } {
  const body = n.type === 'slack'
    ? JSON.stringify({ text: n.text })
    : JSON.stringify({ type: 'alert.fired', timestamp: now.toISOString(), data: n.data });
  const signature = new Webhook(n.secret).sign(n.id, now, body);
  return {
    body,
    headers: {
      'content-type': 'application/json',
      'user-agent': 'Switchyard-Alerts/1',
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
export async function deliver(n: Notification, opts: { allowPrivate: boolean; resolve?: Resolver; signal: AbortSignal; fetch?: typeof fetch }): Promise<number> {
  const url = await assertDeliverable(n.url, opts);
  const { headers, body } = signedRequest(n);
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
