import { describe, expect, it } from 'vitest';
import { createSecretBox, fromBase64Url, generateSecretKey, parseSecretKey, randomToken, scramSha256Verifier } from './crypto.ts';

const box = async () => createSecretBox(parseSecretKey(generateSecretKey())!);

describe('crypto', () => {
  it('seals and opens a value bound to its row', async () => {
    const b = await box();
    const sealed = await b.seal('postgres://u:secret@h/db', 'prj_1');
    expect(sealed).not.toContain('secret');
    expect(await b.open(sealed, 'prj_1')).toBe('postgres://u:secret@h/db');
    await expect(b.open(sealed, 'prj_2')).rejects.toThrow(); // moved to another row
    await expect((await box()).open(sealed, 'prj_1')).rejects.toThrow(); // another key
  });

  it('signs tokens and refuses tampered or foreign ones', async () => {
    const b = await box();
    const token = await b.sign({ t: 'ten_a', exp: 1 });
    expect(await b.verify(token)).toEqual({ t: 'ten_a', exp: 1 });
    const [body, mac] = token.split('.');
    const forged = Buffer.from(JSON.stringify({ t: 'ten_b', exp: 1 })).toString('base64url');
    expect(await b.verify(`${forged}.${mac}`)).toBeNull();
    expect(await b.verify(`${body}.${mac![0] === 'A' ? 'B' : 'A'}${mac!.slice(1)}`)).toBeNull(); // first char: data bits, not padding
    expect(await (await box()).verify(token)).toBeNull();
    expect(await b.verify('garbage')).toBeNull();
  });

  it('rejects secret keys that are not 32 bytes', () => {
    expect(parseSecretKey('c2hvcnQ')).toBeNull();
    expect(parseSecretKey(generateSecretKey())).toHaveLength(32);
  });

  it('makes uniform base62 tokens', () => {
    const t = randomToken(4000);
    expect(t).toMatch(/^[0-9A-Za-z]{4000}$/);
    expect(new Set(t).size).toBe(62);
  });

  it('builds SCRAM-SHA-256 verifiers in the form Postgres stores', async () => {
    const v = await scramSha256Verifier('pw');
    expect(v).toMatch(/^SCRAM-SHA-256\$4096:[A-Za-z0-9+/=]{24}\$[A-Za-z0-9+/=]{44}:[A-Za-z0-9+/=]{44}$/);
    expect(fromBase64Url(v.split('$')[1]!.split(':')[1]!)).toHaveLength(16);
  });
});

describe('sha256Hex', () => {
  it('gives the same digest through node:crypto and WebCrypto, for any text', async () => {
    const { sha256Hex, sha256HexWeb } = await import('./crypto.ts');
    expect(await sha256Hex('abc')).toBe('ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad');
    for (const text of ['', 'abc', 'päivää 🌍 \u0000 x'.repeat(50), '{"name":"a"}']) expect(await sha256Hex(text)).toBe(await sha256HexWeb(text));
  });
});
