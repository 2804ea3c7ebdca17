/**
 * The SDK (sdk/) against the real system (test/openapi.test.ts checks it is not stale): typed
 * errors, every item of a paged listing (in both list shapes), an Idempotency-Key kept across a
 * retry whose first answer was lost, 429s waited out as Retry-After says, no blind retry of a
 * call that could run twice, and live events over the transport the deployment names.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createSwitchyard, SwitchyardError, type LiveEvent } from '../sdk/src/index.ts';
import { ROOMY_RATE_LIMITS, createTenant, startTestSystem, waitFor, type TestSystem } from './helpers/system.ts';

let sys: TestSystem;
beforeAll(async () => {
  // Token minting refills one a second with no burst, so a second mint at once is a real 429.
  sys = await startTestSystem({ SWITCHYARD_RATE_LIMIT_CLASSES: ROOMY_RATE_LIMITS.SWITCHYARD_RATE_LIMIT_CLASSES.replace(/tokens=[^,]+/, 'tokens=60/1') });
}, 120_000);
afterAll(async () => {
  await sys?.stop();
});

/** A fetch that records what it sends, and may tamper with the answers. */
function recording(tamper?: (req: Request, n: number) => Promise<Response | null> | Response | null) {
  const sent: Request[] = [];
  const fetch = async (req: Request) => {
    sent.push(req.clone());
    const fake = tamper ? await tamper(req, sent.length) : null;
    return fake ?? globalThis.fetch(req);
  };
  return { sent, fetch };
}

/** The error a call must fail with. */
async function failure(p: Promise<unknown>): Promise<SwitchyardError> {
  return p.then(() => { throw new Error('the call succeeded; it should have failed'); }, (e: SwitchyardError) => e);
}

describe('the SDK', () => {
  it('returns typed data, throws typed problems, and iterates every page in either version', async () => {
    const { key, tenantId } = await createTenant(sys, 'sdk-pages');
    const sy = createSwitchyard({ baseUrl: sys.url, apiKey: key });
    const me = await sy.GET('/v1/me');
    expect(me.tenant.id).toBe(tenantId);

    const err = await failure(sy.GET('/v1/projects/{id}', { params: { path: { id: 'prj_00000000000000000000000000' } } }));
    expect(err).toBeInstanceOf(SwitchyardError);
    expect(err).toMatchObject({ status: 404, problem: { instance: '/v1/projects/prj_00000000000000000000000000' } });
    expect(err.requestId).toMatch(/^req_/);

    const bad = await failure(sy.POST('/v1/projects', { body: { name: '', plan: 'pro' } }));
    expect(bad.status).toBe(400);
    expect(Object.keys(bad.fieldErrors())).toContain('name');

    const made = new Set<string>();
    for (let i = 0; i < 5; i++) made.add((await sy.POST('/v1/projects', { body: { name: `page ${i}` } })).project.id);
    const seen: string[] = [];
    for await (const p of sy.list('/v1/projects', { params: { query: { limit: 2 } } })) seen.push(p.id);
    expect(new Set(seen)).toEqual(made);
    expect(seen).toHaveLength(5);
    // A client pinned to the older version reads the old shape (a top-level next_cursor) the same way.
    const old = createSwitchyard({ baseUrl: sys.url, apiKey: key, apiVersion: '2026-06-01' });
    const oldSeen: string[] = [];
    for await (const p of old.list('/v1/projects', { params: { query: { limit: 2 } } })) oldSeen.push(p.id);
    expect(oldSeen).toEqual(seen);
  });

  it('keeps one Idempotency-Key across the retry of a create whose answer was lost: one project', async () => {
    const { key, api } = await createTenant(sys, 'sdk-retry');
    let dropped = false;
    const { sent, fetch } = recording(async (req) => {
      if (req.method !== 'POST' || dropped) return null;
      // The server gets it and commits; the answer never arrives.
      await globalThis.fetch(req.clone());
      dropped = true;
      throw new TypeError('fetch failed: socket hang up');
    });
    const sy = createSwitchyard({ baseUrl: sys.url, apiKey: key, fetch, retry: { baseDelayMs: 10 } });
    const res = await sy.raw.POST('/v1/projects', { body: { name: 'once', slug: 'made-once' } });
    expect(res.response.status).toBe(202);
    expect(res.response.headers.get('Idempotent-Replayed')).toBe('true');
    const keys = sent.filter((r) => r.method === 'POST').map((r) => r.headers.get('Idempotency-Key'));
    expect(keys).toHaveLength(2);
    expect(keys[0]).toMatch(/^[0-9a-f-]{36}$/);
    expect(keys[1]).toBe(keys[0]);
    const list = await api('GET', '/v1/projects?limit=100');
    expect(list.body.data.filter((p: { slug: string }) => p.slug === 'made-once')).toHaveLength(1);
  });

  it('waits out a real 429 for as long as Retry-After says, then succeeds', async () => {
    const { key } = await createTenant(sys, 'sdk-429');
    const { sent, fetch } = recording();
    const sy = createSwitchyard({ baseUrl: sys.url, apiKey: key, fetch });
    await sy.POST('/v1/events/token');
    const started = Date.now();
    const second = await sy.POST('/v1/events/token');
    expect(second.token).toBeTruthy();
    const mints = sent.filter((r) => r.url.endsWith('/v1/events/token'));
    expect(mints).toHaveLength(3); // the first, the refused one, and its retry
    expect(Date.now() - started).toBeGreaterThanOrEqual(900);
    // A mint carries no Idempotency-Key (the operation takes none).
    expect(mints.every((r) => !r.headers.has('Idempotency-Key'))).toBe(true);
  });

  it('does not repeat a call that could run twice, and gives up on a Retry-After longer than it may wait', async () => {
    const { key } = await createTenant(sys, 'sdk-no-retry');
    const unavailable = (retryAfter: string) => new Response(JSON.stringify({ type: 'about:blank', title: 'Service unavailable', status: 503, instance: '/', request_id: 'req_x' }), { status: 503, headers: { 'Content-Type': 'application/problem+json', 'Retry-After': retryAfter } });
    const first = recording((req) => (req.url.includes('/v1/alert-rules') ? unavailable('0') : null));
    const sy = createSwitchyard({ baseUrl: sys.url, apiKey: key, fetch: first.fetch });
    const err = await failure(sy.POST('/v1/alert-rules', { body: { project: 'prj_00000000000000000000000000', name: 'x', threshold: 1, window_s: 60, channel: { type: 'webhook', url: 'https://example.com/hook' } } as never }));
    expect(err.status).toBe(503);
    expect(err.retryAfter).toBe(0);
    expect(first.sent.filter((r) => r.url.includes('/v1/alert-rules'))).toHaveLength(1);

    const second = recording((req) => (req.method === 'GET' ? unavailable('120') : null));
    const impatient = createSwitchyard({ baseUrl: sys.url, apiKey: key, fetch: second.fetch, retry: { maxDelayMs: 5000 } });
    await expect(impatient.GET('/v1/me')).rejects.toMatchObject({ status: 503, retryAfter: 120 });
    expect(second.sent).toHaveLength(1);
  });

  it('delivers live events over the transport GET /v1/realtime names', async () => {
    const { key } = await createTenant(sys, 'sdk-live');
    const sy = createSwitchyard({ baseUrl: sys.url, apiKey: key });
    const events: LiveEvent[] = [];
    const states: string[] = [];
    const { project } = await sy.POST('/v1/projects', { body: { name: 'live' } });
    const stop = sy.subscribe([`project:${project.id}`], (e) => events.push(e), { onState: (s) => states.push(s), lastEventId: '0' });
    try {
      const active = await waitFor(async () => events.find((e) => e.event === 'status' && e.data.resource.status === 'active'), 20_000, 'the project to turn active');
      expect(active.id).toMatch(/^\d+$/);
      expect(states).toContain('live');
      expect(new Set(events.map((e) => e.id)).size).toBe(events.length);
    } finally {
      stop();
    }
  });
});
