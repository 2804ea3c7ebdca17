/** Bad input gets a clear problem+json answer and changes nothing. */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestSystem, type TestSystem } from './helpers/system.ts';

let sys: TestSystem;
beforeAll(async () => {
  sys = await startTestSystem({ SWITCHYARD_BODY_LIMIT_BYTES: '2048' });
});
afterAll(async () => {
  await sys?.stop();
});

async function counts() {
  const [r] = await sys.db.sql`select (select count(*) from projects)::int as p, (select count(*) from jobs)::int as j,
                                      (select count(*) from idempotency_keys)::int as k`;
  return r;
}

describe('bad input', () => {
  it.each([
    ['malformed JSON', { raw: '{"name": "x",' }, 400, null],
    ['a JSON array', { raw: '[1,2]' }, 400, null],
    ['wrong types', { body: { name: 42, plan: 'gold' } }, 400, ['name', 'plan']],
    ['unknown fields', { body: { name: 'x', owner: 'me' } }, 400, ['owner']],
    ['a bad slug', { body: { name: 'x', slug: 'Not A Slug!' } }, 400, ['slug']],
    ['an empty name', { body: { name: '   ' } }, 400, ['name']],
    ['an oversize body', { body: { name: 'x'.repeat(5000) } }, 413, null],
  ] as const)('rejects %s with problem+json and writes nothing', async (_label, input, status, fields) => {
    const before = await counts();
    const res = await sys.api('POST', '/v1/projects', { ...input, headers: { 'Idempotency-Key': `bad-${_label}` } } as never);
    expect(res.status).toBe(status);
    expect(res.headers.get('content-type')).toContain('application/problem+json');
    expect(res.headers.get('x-content-type-options')).toBe('nosniff');
    expect(res.body).toMatchObject({ status, title: expect.any(String), request_id: expect.stringMatching(/^req_/) });
    if (fields) expect(res.body.errors.map((e: { field: string }) => e.field).sort()).toEqual([...fields].sort());
    expect(JSON.stringify(res.body)).not.toMatch(/at \w+ \(|node_modules/); // no stack traces
    expect(await counts()).toEqual(before);
  });

  it('answers 404 for ids that are malformed or do not exist', async () => {
    for (const path of ['/v1/projects/not-an-id', '/v1/projects/prj_00000000000000000000000000', '/v1/jobs/%00', '/v1/jobs/job_zzzz']) {
      const res = await sys.api('GET', path);
      expect(res.status, path).toBe(404);
      expect(res.headers.get('content-type')).toContain('problem+json');
      expect(res.headers.get('x-content-type-options')).toBe('nosniff');
    }
    // An unknown route too, and a success.
    expect((await sys.api('GET', '/v1/nowhere')).headers.get('x-content-type-options')).toBe('nosniff');
    expect((await sys.api('GET', '/v1/projects')).headers.get('x-content-type-options')).toBe('nosniff');
    expect((await sys.api('POST', '/v1/projects/nope/suspend')).status).toBe(404);
  });

  it('rejects bad query parameters and cursors with 400', async () => {
    expect((await sys.api('GET', '/v1/projects?limit=0')).status).toBe(400);
    expect((await sys.api('GET', '/v1/projects?limit=abc')).status).toBe(400);
    expect((await sys.api('GET', '/v1/projects?cursor=garbage!')).status).toBe(400);
    expect((await sys.api('GET', '/v1/projects?status=sleeping')).status).toBe(400);
    expect((await sys.api('GET', '/v1/jobs?subject=project')).status).toBe(400);
    expect((await sys.api('GET', '/v1/events?topic=everything')).status).toBe(400);
  });

  it('rejects missing, malformed and unknown credentials with 401', async () => {
    for (const key of [null, 'nope', 'sk_unknownkeyunknownkeyunknownkey']) {
      const res = await sys.api('GET', '/v1/projects', { key });
      expect(res.status).toBe(401);
      expect(res.headers.get('www-authenticate')).toContain('Bearer');
    }
    const forged = await sys.api('GET', `/v1/events?topic=tenant:ten_00000000000000000000000000&token=eyJ0eXAiOiJldmVudHMifQ.AAAA`, { key: null });
    expect(forged.status).toBe(401);
  });

  it('rejects an Idempotency-Key that is too long', async () => {
    const res = await sys.api('POST', '/v1/projects', { body: { name: 'x' }, headers: { 'Idempotency-Key': 'k'.repeat(300) } });
    expect(res.status).toBe(400);
  });

  it('answers unknown routes with a 404 problem', async () => {
    const res = await sys.api('GET', '/v1/nothing-here');
    expect(res.status).toBe(404);
    expect(res.headers.get('content-type')).toContain('problem+json');
  });

  it('refuses text Postgres cannot store, naming the field, and writes nothing', async () => {
    const before = await counts();
    const tenantsBefore = (await sys.db.sql`select count(*)::int as n from tenants`)[0]!.n;
    const cases: [string, string, string][] = [
      ['/v1/projects', '{"name":"nul\\u0000here"}', 'name'],
      ['/v1/projects', '{"name":"lone \\ud800 surrogate"}', 'name'],
      ['/v1/projects', '{"name":"low \\udc00 first"}', 'name'],
      ['/v1/tenants', '{"name":"ten\\u0000ant"}', 'name'],
      ['/v1/api-keys', '{"name":"key\\u0000name","role":"viewer"}', 'name'],
    ];
    for (const [path, raw, field] of cases) {
      const res = await sys.api('POST', path, { raw });
      expect(res.status, raw).toBe(400);
      expect(res.headers.get('content-type')).toContain('application/problem+json');
      expect(res.body.errors[0].field, raw).toBe(field);
    }
    // Bytes that aren't UTF-8 are refused, not stored as U+FFFD.
    const invalid = await fetch(`${sys.url}/v1/projects`, {
      method: 'POST', headers: { Authorization: `Bearer ${sys.adminKey}`, 'Content-Type': 'application/json' },
      body: new Uint8Array([...Buffer.from('{"name":"caf'), 0xe9, ...Buffer.from('"}')]),
    });
    expect(invalid.status).toBe(400);
    expect(((await invalid.json()) as { detail: string }).detail).toMatch(/UTF-8/);
    // A surrogate pair is a real character and is fine.
    const emoji = await sys.api('POST', '/v1/projects', { raw: '{"name":"rocket \\ud83d\\ude80"}' });
    expect(emoji.status).toBe(202);
    expect(emoji.body.project.name).toBe('rocket \u{1F680}');
    const after = await counts();
    expect(after!.p).toBe(before!.p + 1);
    expect((await sys.db.sql`select count(*)::int as n from tenants`)[0]!.n).toBe(tenantsBefore);
    // Query parameters too.
    expect((await sys.api('GET', '/v1/logs?q=%00')).status).toBe(400);
    expect((await sys.api('GET', '/v1/logs?q=%ED%A0%80')).status).toBe(400); // an encoded surrogate: not UTF-8
    expect((await sys.api('GET', '/v1/logs?q=%FF')).status).toBe(400);
  });

  it('refuses numbers, times and ids outside what the database holds, with a 400 naming the field', async () => {
    for (const path of ['/v1/projects?limit=0x10', '/v1/projects?limit=1e1', '/v1/projects?limit=%2010', '/v1/logs?limit=0x10']) {
      const res = await sys.api('GET', path);
      expect(res.status, path).toBe(400);
      expect(res.body.errors[0].field).toBe('limit');
    }
    expect((await sys.api('GET', '/v1/projects?limit=16')).status).toBe(200);
    for (const path of ['/v1/logs?until=0000-01-01T00:00:00Z', '/v1/logs/stats?until=0000-01-01T00:00:00Z', '/v1/logs?since=0000-12-31T23:59:59Z']) {
      const res = await sys.api('GET', path);
      expect(res.status, path).toBe(400);
      expect(res.headers.get('content-type')).toContain('problem+json');
    }
    const farCursor = Buffer.from('+275760-09-13T00:00:00.000Z|1').toString('base64url');
    expect((await sys.api('GET', `/v1/logs?cursor=${farCursor}`)).status).toBe(400);
    const bigId = Buffer.from('2026-01-01T00:00:00.000Z|99999999999999999999').toString('base64url');
    expect((await sys.api('GET', `/v1/logs?cursor=${bigId}`)).status).toBe(400);
    const tenant = (await sys.api('GET', '/v1/me')).body.tenant.id;
    const sse = await sys.api('GET', `/v1/events?topic=tenant:${tenant}`, { headers: { 'Last-Event-ID': '9223372036854775808' } });
    expect(sse.status).toBe(400);
    expect(sse.body.errors[0].field).toBe('Last-Event-ID');
  });

  it('answers what the HTTP parser refuses with problem+json too', async () => {
    const { connect } = await import('node:net');
    const port = Number(new URL(sys.url).port);
    const raw = (request: string) => new Promise<string>((res) => {
      const s = connect(port, '127.0.0.1', () => s.write(request));
      let out = '';
      s.on('data', (d) => (out += d));
      s.on('close', () => res(out));
      s.on('error', () => res(out));
    });
    const huge = await raw(`GET /v1/projects HTTP/1.1\r\nHost: x\r\nX-Big: ${'a'.repeat(20_000)}\r\n\r\n`);
    expect(huge).toMatch(/^HTTP\/1\.1 431/);
    expect(huge).toContain('application/problem+json');
    expect(JSON.parse(huge.slice(huge.indexOf('\r\n\r\n') + 4)).status).toBe(431);
    const garbage = await raw('NOT A REQUEST\r\n\r\n');
    expect(garbage).toMatch(/^HTTP\/1\.1 400/);
    expect(JSON.parse(garbage.slice(garbage.indexOf('\r\n\r\n') + 4)).title).toBe('Invalid request');
  });
});
