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
});
