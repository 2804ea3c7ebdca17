/**
 * Revoking a key reaches realtime: its open SSE streams (by header, and by an event token it
 * minted) end within seconds, and its tokens stop working. The check is against the database, not
 * a process's cache, so it holds for streams on other API processes too.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createTenant, startTestSystem, type TestSystem } from './helpers/system.ts';

let sys: TestSystem;
beforeAll(async () => {
  sys = await startTestSystem({ SWITCHYARD_SSE_REVOCATION_CHECK_MS: '500', SWITCHYARD_SSE_HEARTBEAT_MS: '60000' });
});
afterAll(async () => {
  await sys?.stop();
});

/** Opens a stream; `ended` resolves with how long after `since()` the server closed it. */
async function stream(url: string, headers: Record<string, string> = {}) {
  const res = await fetch(url, { headers });
  expect(res.status).toBe(200);
  const reader = res.body!.getReader();
  let endedAt = 0;
  const ended = (async () => {
    for (;;) {
      const { done } = await reader.read();
      if (done) return (endedAt = Date.now());
    }
  })();
  return { ended, isOpen: () => endedAt === 0, cancel: () => reader.cancel() };
}

describe('revocation and realtime', () => {
  it('ends the revoked key’s open streams within seconds and refuses its tokens', async () => {
    const admin = await createTenant(sys, 'revoker');
    const member = await admin.api('POST', '/v1/api-keys', { body: { name: 'laptop', role: 'member' } });
    expect(member.status).toBe(201);
    const { id: keyId, secret } = member.body.api_key;
    const other = await admin.api('POST', '/v1/api-keys', { body: { name: 'kept', role: 'viewer' } });
    const topic = `tenant:${admin.tenantId}`;
    const token = (await fetch(`${sys.url}/v1/events/token`, { method: 'POST', headers: { Authorization: `Bearer ${secret}` } }).then((r) => r.json()) as { token: string }).token;

    const byHeader = await stream(`${sys.url}/v1/events?topic=${topic}`, { Authorization: `Bearer ${secret}` });
    const byToken = await stream(`${sys.url}/v1/events?topic=${topic}&token=${encodeURIComponent(token)}`);
    const kept = await stream(`${sys.url}/v1/events?topic=${topic}`, { Authorization: `Bearer ${other.body.api_key.secret}` });
    await new Promise((r) => setTimeout(r, 700));
    expect(byHeader.isOpen() && byToken.isOpen() && kept.isOpen()).toBe(true);

    const revokedAt = Date.now();
    expect((await admin.api('DELETE', `/v1/api-keys/${keyId}`)).status).toBe(200);
    const [a, b] = await Promise.all([byHeader.ended, byToken.ended]);
    expect(a - revokedAt).toBeLessThan(3000);
    expect(b - revokedAt).toBeLessThan(3000);
    expect(kept.isOpen()).toBe(true); // other keys' streams go on
    kept.cancel();

    // The token it minted, and the key itself, are refused from now on.
    expect((await fetch(`${sys.url}/v1/events?topic=${topic}&token=${encodeURIComponent(token)}`)).status).toBe(401);
    expect((await fetch(`${sys.url}/v1/events/token`, { method: 'POST', headers: { Authorization: `Bearer ${secret}` } })).status).toBe(401);
  });
});
