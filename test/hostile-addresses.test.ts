/**
 * Addresses an attacker would give as an alert channel to reach our own network: every spelling
 * of loopback, private, link-local and metadata addresses (IPv4-mapped, -compatible and
 * -translated IPv6, NAT64, 6to4, Teredo, numeric IPv4 forms, trailing-dot names). Each is refused
 * at create over the API, and refused at send by the guarded fetch, which a listener on loopback
 * checks: it must see no connection. A name that resolves to loopback when the send happens
 * (DNS rebinding after the check) is refused at connect time too.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createServer, type Server } from 'node:net';
import { isPrivateAddress, nonPublicReason, normalizeHost } from '../core/addresses.ts';
import { createGuardedFetch } from '../workers/providers/alerts/guarded-fetch.ts';
import { createTenant, one, startTestSystem, type TestSystem } from './helpers/system.ts';

/** Hosts (as a URL would carry them) that all mean a non-public address. */
const HOSTILE = [
  '[::ffff:127.0.0.1]', '[0:0:0:0:0:ffff:7f00:1]', '[::ffff:7f00:1]', '[::ffff:169.254.169.254]', '[::ffff:10.0.0.1]',
  '[64:ff9b::7f00:1]', '[64:ff9b::a9fe:a9fe]', '[64:ff9b:1::1]', '[2002:7f00:1::]', '[2002:a00:1::1]', '[2001::1]',
  '[::127.0.0.1]', '[::7f00:1]', '[::ffff:0:7f00:1]', '[::]', '[::1]', '[0::1]', '[fe80::1]', '[fc00::1]', '[fd12:3456::1]',
  '[fec0::1]', '[ff02::1]', '[100::1]', '[2001:db8::1]',
  '127.0.0.1', '127.1', '2130706433', '0x7f000001', '0x7f.1', '0177.0.0.1', '017700000001', '0.0.0.0', '0',
  '10.0.0.1', '172.16.0.1', '192.168.0.1', '169.254.169.254', '100.64.0.1', '198.18.0.1', '224.0.0.1', '255.255.255.255',
  'localhost', 'localhost.', 'LOCALHOST', 'foo.localhost', 'foo.localhost.', 'metadata.google.internal', 'router.local', 'intranet',
];

describe('address normalization', () => {
  it('judges every spelling by the address it means', () => {
    for (const host of HOSTILE) {
      const parsed = normalizeHost(new URL(`https://${host}/`).hostname);
      if (/^[a-z]/.test(parsed) && !parsed.includes(':')) continue; // names: judged by resolution below
      expect(isPrivateAddress(parsed), `${host} → ${parsed}`).toBe(true);
    }
    for (const ip of ['8.8.8.8', '1.1.1.1', '93.184.216.34', '2606:4700::1111', '::ffff:8.8.8.8', '64:ff9b::808:808', '2002:808:808::1', '172.32.0.1']) {
      expect(nonPublicReason(ip), ip).toBeNull();
    }
  });
});

describe('hostile alert channels', () => {
  let sys: TestSystem;
  let listener: Server;
  let port: number;
  let connections = 0;
  beforeAll(async () => {
    sys = await startTestSystem({}); // production mode: private URLs not allowed
    listener = createServer((s) => {
      connections++;
      s.destroy();
    });
    await new Promise<void>((r) => listener.listen(0, '127.0.0.1', () => r()));
    port = (listener.address() as { port: number }).port;
  });
  afterAll(async () => {
    await new Promise<void>((r) => listener.close(() => r()));
    await sys?.stop();
  });

  it('refuses every form at create, with the field named and nothing stored', async () => {
    const t = await createTenant(sys, 'hostile');
    const project = (await t.api('POST', '/v1/projects', { body: { name: 'hostile' } })).body.project.id;
    for (const host of HOSTILE) {
      const url = `https://${host}:${port}/hook`;
      const res = await t.api('POST', '/v1/alert-rules', { body: { project, name: 'x', threshold: 1, window: '1m', channel: { type: 'webhook', url } } });
      expect(res.status, url).toBe(400);
      expect(res.body.errors[0].field).toBe('channel.url');
    }
    expect(await one(sys.db.sql`select count(*)::int as n from alert_rules`)).toEqual({ n: 0 });
    // A rollout's decision webhook goes through the same check.
    const yaml = 'interval: 1s\nwindow: 2s\nsteps: [{weight: 100}]\nmetrics: [{name: e, kind: error_rate, max: 1%}]\n';
    expect((await t.api('POST', '/v1/canary-policies', { body: { name: 'hostile', yaml } })).status).toBe(201);
    for (const host of HOSTILE) {
      const url = `https://${host}:${port}/hook`;
      const res = await t.api('POST', '/v1/rollouts', { body: {
        project, service: 's', baseline: { version: 'a' }, canary: { version: 'b' }, policy: 'hostile', notify: { url, secret: `whsec_${'A'.repeat(32)}` },
      } });
      expect(res.status, url).toBe(400);
      expect(res.body.errors[0].field).toBe('notify.url');
    }
    expect(await one(sys.db.sql`select count(*)::int as n from rollouts`)).toEqual({ n: 0 });
    expect(connections).toBe(0);
  });

  it('refuses every form at send, before any connection, and a name that resolves to loopback at connect time', async () => {
    const guarded = createGuardedFetch({ allowPrivate: false });
    // 127.0.0.1 spellings reach the listener's port if anything connects at all.
    const loopbackForms = ['[::ffff:127.0.0.1]', '[::ffff:7f00:1]', '[0:0:0:0:0:ffff:7f00:1]', '127.1', '2130706433', '0x7f.1', '0177.0.0.1', 'localhost', 'localhost.'];
    for (const host of [...loopbackForms, ...HOSTILE]) {
      await expect(guarded(`http://${host}:${port}/hook`, { method: 'POST', body: '{}' }), host).rejects.toThrow(/not public|no address|ENOTFOUND|EAI_AGAIN|getaddrinfo/);
    }
    expect(connections).toBe(0);
    // The control: the same fetch with private addresses allowed does reach the listener.
    await createGuardedFetch({ allowPrivate: true })(`http://127.0.0.1:${port}/hook`, { method: 'POST', body: '{}' }).catch(() => {});
    expect(connections).toBe(1);
  });
});
