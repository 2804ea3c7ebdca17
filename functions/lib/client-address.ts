import type { Context } from 'hono';

/**
 * The caller's address as this runtime knows it: the socket's peer on Node (a proxy's, behind
 * one), Cloudflare's `CF-Connecting-IP` on Workers, the platform's `X-Forwarded-For` elsewhere.
 */
export function clientAddress(c: Context): string {
  const incoming = (c.env as { incoming?: { socket?: { remoteAddress?: string } } } | undefined)?.incoming;
  if (incoming?.socket) return incoming.socket.remoteAddress ?? 'unknown';
  return c.req.header('cf-connecting-ip') ?? c.req.header('x-forwarded-for')?.split(',')[0]?.trim() ?? 'unknown';
}
