import { describe, expect, it } from 'vitest';
import { Webhook } from 'standardwebhooks';
import { assertDeliverable, isPrivateAddress, signedRequest } from './outbound.ts';

describe('alert channel guard', () => {
  it('knows private, loopback, link-local and mapped addresses', () => {
    for (const ip of ['127.0.0.1', '10.1.2.3', '172.16.0.1', '172.31.255.255', '192.168.1.1', '169.254.169.254', '100.64.0.1', '0.0.0.0', '::1', '::', 'fd00::1', 'fe80::1', '::ffff:127.0.0.1', '224.0.0.1']) {
      expect(isPrivateAddress(ip), ip).toBe(true);
    }
    for (const ip of ['8.8.8.8', '172.32.0.1', '1.1.1.1', '2606:4700::1111', '::ffff:8.8.8.8']) expect(isPrivateAddress(ip), ip).toBe(false);
  });

  it('refuses what a tenant must not reach, resolving names, unless development allows it', async () => {
    const resolve = async (host: string) => (host === 'evil.example' ? ['93.184.216.34', '10.0.0.5'] : ['93.184.216.34']);
    const strict = { allowPrivate: false, resolve };
    await expect(assertDeliverable('http://hooks.example/x', strict)).rejects.toThrow(/https/);
    await expect(assertDeliverable('https://127.0.0.1/x', strict)).rejects.toThrow(/private/);
    await expect(assertDeliverable('https://[::1]/x', strict)).rejects.toThrow(/private/);
    await expect(assertDeliverable('https://localhost/x', strict)).rejects.toThrow(/not public/);
    await expect(assertDeliverable('https://evil.example/x', strict)).rejects.toThrow(/resolves to a private/);
    await expect(assertDeliverable('https://user:pw@hooks.example/x', strict)).rejects.toThrow(/credentials/);
    await expect(assertDeliverable('https://hooks.example/x', strict)).resolves.toBeInstanceOf(URL);
    await expect(assertDeliverable('http://127.0.0.1:9999/x', { allowPrivate: true })).resolves.toBeInstanceOf(URL);
  });

  it('signs with Standard Webhooks so the reference library verifies it', () => {
    const secret = `whsec_${Buffer.from('0123456789abcdef0123456789abcdef').toString('base64')}`;
    const { headers, body } = signedRequest({ id: 'alert_x_1', type: 'webhook', url: 'https://h.example', secret, data: { count: 3 }, text: '' });
    const verified = new Webhook(secret).verify(body, headers) as { type: string; data: { count: number } };
    expect(verified).toMatchObject({ type: 'alert.fired', data: { count: 3 } });
    expect(() => new Webhook(secret).verify(body.replace('3', '4'), headers)).toThrow();
  });
});
