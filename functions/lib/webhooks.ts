/**
 * Signature checks for incoming webhooks, always on the raw body as received (never re-serialized
 * JSON): Render signs with Standard Webhooks (`webhook-id`, `webhook-timestamp`,
 * `webhook-signature`; ±5 minutes), verified by the `standardwebhooks` library; Sentry signs the
 * body with HMAC-SHA256 (lowercase hex in `Sentry-Hook-Signature`, keyed with the integration's
 * client secret), compared in constant time. Web Crypto only, so this runs on every runtime.
 */
import { Webhook } from 'standardwebhooks';

export type Verified = { ok: true; deliveryId: string; resource: string | null } | { ok: false; reason: string };

/** Standard Webhooks secrets are `whsec_` + base64 of the key; anything else is refused up front. */
export function isStandardWebhookSecret(secret: string): boolean {
  try {
    new Webhook(secret);
    return /^whsec_[A-Za-z0-9+/=]{16,}$/.test(secret);
  } catch {
    return false;
  }
}

const encoder = new TextEncoder();
const TOLERANCE_S = 5 * 60;

export function constantTimeEqual(a: string, b: string): boolean {
  if (a.length !== b.length) return false;
  let diff = 0;
  for (let i = 0; i < a.length; i++) diff |= a.charCodeAt(i) ^ b.charCodeAt(i);
  return diff === 0;
}

async function hmacSha256(key: Uint8Array<ArrayBuffer>, parts: Uint8Array[]): Promise<Uint8Array> {
  const k = await crypto.subtle.importKey('raw', key, { name: 'HMAC', hash: 'SHA-256' }, false, ['sign']);
  const size = parts.reduce((n, p) => n + p.byteLength, 0);
  const data = new Uint8Array(size);
  let at = 0;
  for (const p of parts) {
    data.set(p, at);
    at += p.byteLength;
  }
  return new Uint8Array(await crypto.subtle.sign('HMAC', k, data));
}

const toBase64 = (bytes: Uint8Array) => btoa(String.fromCharCode(...bytes));
const toHex = (bytes: Uint8Array) => [...bytes].map((b) => b.toString(16).padStart(2, '0')).join('');

function freshness(timestamp: string | null, now: number): string | null {
  if (!timestamp || !/^\d{1,12}$/.test(timestamp)) return 'missing or malformed timestamp';
  const skew = Number(timestamp) - Math.floor(now / 1000);
  if (skew < -TOLERANCE_S) return 'message timestamp too old';
  if (skew > TOLERANCE_S) return 'message timestamp too new';
  return null;
}

/**
 * Standard Webhooks (Render): HMAC-SHA256 over `${id}.${timestamp}.` followed by the body's exact
 * bytes, any `v1,` entry of `webhook-signature` matching, the timestamp within ±5 minutes. Done
 * here rather than by the `standardwebhooks` library, which builds the signed content as a string
 * and so signs decoded text: a body whose invalid UTF-8 was replaced by U+FFFD verified with the
 * signature of other bytes, and a genuine body with such bytes did not.
 */
export async function verifyRender(secret: string, rawBody: Uint8Array, headers: Headers, now = Date.now()): Promise<Verified> {
  const id = headers.get('webhook-id') ?? '';
  const timestamp = headers.get('webhook-timestamp') ?? '';
  const signatures = headers.get('webhook-signature') ?? '';
  if (!id || !timestamp || !signatures) return { ok: false, reason: 'missing webhook-id, webhook-timestamp or webhook-signature' };
  const stale = freshness(timestamp, now);
  if (stale) return { ok: false, reason: stale };
  let key: Uint8Array<ArrayBuffer>;
  try {
    key = Uint8Array.from(atob(secret.replace(/^whsec_/, '')), (ch) => ch.charCodeAt(0));
  } catch {
    return { ok: false, reason: 'the source\'s webhook secret is not a Standard Webhooks secret' };
  }
  const expected = toBase64(await hmacSha256(key, [encoder.encode(`${id}.${timestamp}.`), rawBody]));
  for (const entry of signatures.split(' ')) {
    const [version, signature] = entry.split(',', 2);
    if (version === 'v1' && signature && constantTimeEqual(signature, expected)) return { ok: true, deliveryId: id, resource: null };
  }
  return { ok: false, reason: 'no matching signature found' };
}

export async function sentrySignature(secret: string, rawBody: Uint8Array | string): Promise<string> {
  const body = typeof rawBody === 'string' ? encoder.encode(rawBody) : rawBody;
  return toHex(await hmacSha256(encoder.encode(secret), [body]));
}

/**
 * Sentry: HMAC-SHA256 (lowercase hex) of the body's exact bytes. Sentry signs only the body: its
 * `Request-ID` and `Sentry-Hook-Timestamp` headers are not covered, so a captured delivery could
 * be sent again with new ones. The delivery is therefore identified by what was signed (a hash of
 * the body, which carries the event's own ids and times), and a timestamp outside ±5 minutes is
 * refused as well.
 */
export async function verifySentry(secret: string, rawBody: Uint8Array, headers: Headers, now = Date.now()): Promise<Verified> {
  const signature = headers.get('sentry-hook-signature');
  if (!signature) return { ok: false, reason: 'missing Sentry-Hook-Signature' };
  const stale = freshness(headers.get('sentry-hook-timestamp'), now);
  if (stale) return { ok: false, reason: `Sentry-Hook-Timestamp: ${stale}` };
  if (!constantTimeEqual(await sentrySignature(secret, rawBody), signature.trim().toLowerCase())) {
    return { ok: false, reason: 'signature does not match the body' };
  }
  const digest = toHex(new Uint8Array(await crypto.subtle.digest('SHA-256', rawBody as Uint8Array<ArrayBuffer>)));
  return { ok: true, deliveryId: `sha256:${digest}`, resource: headers.get('sentry-hook-resource') };
}
