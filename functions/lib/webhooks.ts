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

export function verifyRender(secret: string, rawBody: string, headers: Headers): Verified {
  const h = { 'webhook-id': headers.get('webhook-id') ?? '', 'webhook-timestamp': headers.get('webhook-timestamp') ?? '', 'webhook-signature': headers.get('webhook-signature') ?? '' };
  if (!h['webhook-id'] || !h['webhook-timestamp'] || !h['webhook-signature']) return { ok: false, reason: 'missing webhook-id, webhook-timestamp or webhook-signature' };
  try {
    new Webhook(secret).verify(rawBody, h);
  } catch (e) {
    return { ok: false, reason: e instanceof Error ? e.message : 'invalid signature' };
  }
  return { ok: true, deliveryId: h['webhook-id'], resource: null };
}

const encoder = new TextEncoder();

function constantTimeEqual(a: string, b: string): boolean {
  if (a.length !== b.length) return false;
  let diff = 0;
  for (let i = 0; i < a.length; i++) diff |= a.charCodeAt(i) ^ b.charCodeAt(i);
  return diff === 0;
}

export async function sentrySignature(secret: string, rawBody: string): Promise<string> {
  const key = await crypto.subtle.importKey('raw', encoder.encode(secret), { name: 'HMAC', hash: 'SHA-256' }, false, ['sign']);
  const mac = new Uint8Array(await crypto.subtle.sign('HMAC', key, encoder.encode(rawBody)));
  return [...mac].map((b) => b.toString(16).padStart(2, '0')).join('');
}

export async function verifySentry(secret: string, rawBody: string, headers: Headers): Promise<Verified> {
  const signature = headers.get('sentry-hook-signature');
  const requestId = headers.get('request-id');
  if (!signature || !requestId) return { ok: false, reason: 'missing Sentry-Hook-Signature or Request-ID' };
  if (!constantTimeEqual(await sentrySignature(secret, rawBody), signature.trim().toLowerCase())) {
    return { ok: false, reason: 'signature does not match the body' };
  }
  return { ok: true, deliveryId: requestId, resource: headers.get('sentry-hook-resource') };
}
