/**
 * Request bodies (functions/middleware/body.ts): read straight off the socket on Node, through
 * Hono's bodyLimit elsewhere, bounded either way, and always the exact bytes the client sent.
 */
import { request as httpRequest } from 'node:http';
import type { AddressInfo } from 'node:net';
import { serve, type ServerType } from '@hono/node-server';
import { Hono } from 'hono';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { AppEnv } from '../functions/deps.ts';
import { createErrorHandler } from '../functions/errors.ts';
import { createLogger } from '../core/log.ts';
import { readBody } from '../functions/middleware/body.ts';

const LIMIT = 64;
const app = new Hono<AppEnv>();
app.use(readBody(LIMIT));
app.post('/text', async (c) => c.json({ text: await c.req.text() }));
app.post('/json', async (c) => c.json({ json: await c.req.json() }));
app.post('/bytes', async (c) => c.json({ bytes: [...new Uint8Array(await c.req.arrayBuffer())] }));
app.post('/blob', async (c) => c.json({ size: (await c.req.blob()).size }));
app.post('/both', async (c) => c.json({ text: await c.req.text(), json: await c.req.json() }));
// How the body was read: off the socket into Hono's cache (Node), or left to the fetch Request.
app.post('/how', (c) => c.json({
  fromSocket: (c.env as { incoming?: { readableEnded: boolean } } | undefined)?.incoming?.readableEnded ?? null,
  cached: Object.keys(c.req.bodyCache).sort(),
}));
app.onError(createErrorHandler(createLogger('silent')));

let server: ServerType;
let port = 0;
beforeAll(async () => {
  await new Promise<void>((ready) => {
    server = serve({ fetch: app.fetch, hostname: '127.0.0.1', port: 0 }, (info: AddressInfo) => {
      port = info.port;
      ready();
    });
  });
});
afterAll(() => new Promise<void>((done) => server.close(() => done())));

/** A raw HTTP/1.1 request, its body written in `parts` with a pause between them. */
function send(path: string, parts: Uint8Array[], headers: Record<string, string | number> = {}): Promise<{ status: number; type: string; body: any }> {
  return new Promise((resolve, reject) => {
    const req = httpRequest({ host: '127.0.0.1', port, path, method: 'POST', headers }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => resolve({ status: res.statusCode!, type: String(res.headers['content-type']), body: JSON.parse(Buffer.concat(chunks).toString('utf8')) }));
    });
    req.on('error', (err) => ((err as NodeJS.ErrnoException).code === 'ECONNRESET' || (err as NodeJS.ErrnoException).code === 'EPIPE' ? undefined : reject(err)));
    void (async () => {
      for (const [i, p] of parts.entries()) {
        if (i > 0) await new Promise((r) => setTimeout(r, 15));
        if (!req.destroyed) req.write(p);
      }
      if (!req.destroyed) req.end();
    })();
  });
}

const utf8 = (s: string) => new TextEncoder().encode(s);

describe('request bodies on Node', () => {
  it('reassembles a body sent in pieces, a character split between them', async () => {
    const bytes = utf8('{"name":"Zoë ☃"}');
    const cut = bytes.indexOf(0xc3) + 1; // inside "ë"
    const res = await send('/json', [bytes.slice(0, 3), bytes.slice(3, cut), bytes.slice(cut)], { 'content-type': 'application/json', 'content-length': bytes.length });
    expect(res).toMatchObject({ status: 200, body: { json: { name: 'Zoë ☃' } } });
  });

  it('reads the body off the socket into Hono\'s body cache, building no fetch Request', async () => {
    const res = await send('/how', [utf8('{}')], { 'content-length': 2 });
    expect(res.body).toEqual({ fromSocket: true, cached: ['arrayBuffer', 'text'] });
  });

  it('gives text, JSON, bytes and blob the exact bytes sent, chunked or not', async () => {
    const bytes = utf8('{"a":1,  "b":"é"}\n');
    const chunked = { 'transfer-encoding': 'chunked' };
    expect((await send('/text', [bytes.slice(0, 5), bytes.slice(5)], chunked)).body.text).toBe('{"a":1,  "b":"é"}\n');
    expect((await send('/bytes', [bytes], chunked)).body.bytes).toEqual([...bytes]);
    expect((await send('/blob', [bytes], { 'content-length': bytes.length })).body.size).toBe(bytes.length);
    expect((await send('/both', [bytes], { 'content-length': bytes.length })).body).toEqual({ text: '{"a":1,  "b":"é"}\n', json: { a: 1, b: 'é' } });
  });

  it('answers 413 problem+json past the limit, declared or not', async () => {
    const big = utf8(`{"name":"${'x'.repeat(LIMIT)}"}`);
    const declared = await send('/json', [big], { 'content-length': big.length });
    expect(declared).toMatchObject({ status: 413, body: { status: 413 } });
    expect(declared.type).toContain('application/problem+json');
    // Chunked: no length up front, so the limit is enforced on what arrives.
    const chunked = await send('/json', [big.slice(0, 40), big.slice(40)], { 'transfer-encoding': 'chunked' });
    expect(chunked).toMatchObject({ status: 413, body: { status: 413 } });
    // Exactly at the limit is fine.
    const edge = utf8(`"${'y'.repeat(LIMIT - 2)}"`);
    expect(await send('/json', [edge], { 'transfer-encoding': 'chunked' })).toMatchObject({ status: 200, body: { json: 'y'.repeat(LIMIT - 2) } });
  });
});

describe('request bodies elsewhere (a fetch Request, as on Workers)', () => {
  it('reads the body and enforces the same limit', async () => {
    const ok = await app.request('/both', { method: 'POST', body: '{"k":"v"}' });
    expect(await ok.json()).toEqual({ text: '{"k":"v"}', json: { k: 'v' } });
    const tooBig = await app.request('/text', { method: 'POST', body: 'z'.repeat(LIMIT + 1) });
    expect(tooBig.status).toBe(413);
    expect(tooBig.headers.get('content-type')).toContain('application/problem+json');
  });
});
