/**
 * Rate limits on every /v1 route: the plan tiers with their bursts, a route class stricter than
 * the plan (both must pass, and a refusal spends neither), IETF headers on every answer (2xx, 4xx,
 * 401, 429), a Retry-After that tells the truth, exact counts across two API processes sharing the
 * backend, webhook sources limited on their own, and both backends: Postgres, and a real Redis
 * behind a contract fake of Upstash's REST API with the real @upstash/redis client, including
 * Redis going away (fail open or closed, counted and logged).
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createLogger } from '../core/log.ts';
import { startUpstashFake, type UpstashFake } from './fakes/upstash-redis.ts';
import { createApi, createTestDatabase, startTestSystem, type Api, type TestSystem } from './helpers/system.ts';

const TIERS = 'free=100/120,pro=1000/1200,enterprise=10000/12000';
const METRICS_TOKEN = 'rate-limit-test-metrics-token';

/** The operator key is made by the first system started on a database; later ones reuse it. */
let operatorKey: string | undefined;
async function tenant(sys: TestSystem, plan: 'free' | 'pro' | 'enterprise', name: string): Promise<{ id: string; api: Api; key: string }> {
  const res = await (sys.adminKey ? sys.api : createApi(sys.url, operatorKey!))('POST', '/v1/tenants', { body: { name, plan } });
  expect(res.status, JSON.stringify(res.body)).toBe(201);
  return { id: res.body.tenant.id, api: createApi(sys.url, res.body.api_key.secret), key: res.body.api_key.secret };
}

/** Fires `n` GETs, 100 at a time (under the API's admission limit), spread over `apis`; returns the statuses. */
async function burst(apis: Api[], n: number, path = '/v1/projects'): Promise<number[]> {
  const out: number[] = [];
  for (let sent = 0; sent < n; sent += 100) {
    out.push(...await Promise.all(Array.from({ length: Math.min(100, n - sent) }, (_, i) => apis[(sent + i) % apis.length]!('GET', path).then((r) => r.status))));
  }
  return out;
}
const count = (statuses: number[], s: number) => statuses.filter((x) => x === s).length;

async function metricValue(sys: TestSystem, line: RegExp): Promise<number> {
  const res = await fetch(`${sys.url}/metrics`, { headers: { Authorization: `Bearer ${METRICS_TOKEN}` } });
  const text = await res.text();
  const hit = text.split('\n').find((l) => line.test(l));
  return hit ? Number(hit.split(' ').at(-1)) : 0;
}

describe('rate limits on Postgres', () => {
  let sys: TestSystem;
  beforeAll(async () => {
    sys = await startTestSystem({ SWITCHYARD_RATE_LIMIT_PLANS: TIERS, SWITCHYARD_RATE_LIMIT_CLASSES: 'log-pulls=12/6,backtests=10/5,tokens=60/3,webhooks=600/4,unauthenticated=60/5' });
  });
  afterAll(async () => sys?.stop());

  it('keeps the previous release\'s one-request function, as a batch of one over the same buckets', async () => {
    const take = async () => (await sys.db.sql<{ allowed: boolean }[]>`
      select allowed from take_rate_limit_tokens('compat', array['a', 'b'], array[5, 2]::float8[], array[0.0001, 0.0001]::float8[])`).map((r) => r.allowed);
    expect([await take(), await take(), await take()]).toEqual([[true, true], [true, true], [false, false]]);
    const [left] = await sys.db.sql<{ n: number }[]>`select floor(sum(tokens))::int as n from rate_limits where tenant_id = 'compat'`;
    expect(left!.n).toBe(3);
  });

  it('holds each plan to its burst, then refuses with a 429 whose Retry-After is when a token is back', async () => {
    for (const [plan, size] of [['free', 120], ['pro', 1200]] as const) {
      const { api } = await tenant(sys, plan, `tier-${plan}`);
      const started = Date.now();
      // Chunks of 100 until the plan refuses; the bucket keeps refilling meanwhile.
      let allowed = 0;
      let refused: Awaited<ReturnType<Api>> | undefined;
      while (!refused && allowed < size * 2) {
        const answers = await Promise.all(Array.from({ length: 100 }, () => api('GET', '/v1/projects')));
        allowed += answers.filter((r) => r.status === 200).length;
        expect(answers.every((r) => r.status === 200 || r.status === 429)).toBe(true);
        refused = answers.find((r) => r.status === 429);
      }
      const elapsedS = (Date.now() - started) / 1000;
      const perSecond = (plan === 'free' ? 100 : 1000) / 60;
      // The burst, plus what refilled while the burst was being sent.
      expect(allowed, plan).toBeGreaterThanOrEqual(size);
      expect(allowed, plan).toBeLessThanOrEqual(size + Math.ceil(elapsedS * perSecond) + 1);
      expect(refused!.status).toBe(429);
      expect(refused!.headers.get('content-type')).toContain('application/problem+json');
      expect(refused!.body).toMatchObject({ status: 429, policy: plan, retry_after: 1 });
      expect((refused!.body as { detail: string }).detail).toContain(`the ${plan} plan allows ${plan === 'free' ? 100 : 1000} requests per minute`);
      expect(refused!.headers.get('retry-after')).toBe('1');
      expect(refused!.headers.get('ratelimit-policy')).toBe(`"${plan}";q=${plan === 'free' ? 100 : 1000};w=60`);
      expect(refused!.headers.get('ratelimit')).toMatch(new RegExp(`^"${plan}";r=0;t=\\d+$`));
      // Retry-After is true: after it, the next request passes.
      await new Promise((r) => setTimeout(r, 1000));
      expect((await api('GET', '/v1/projects')).status).toBe(200);
    }
  }, 60_000);

  it('puts RateLimit headers on every answer: a success, a 404, a 400, a 401, and counts 401s per caller address', async () => {
    const { api } = await tenant(sys, 'enterprise', 'headers');
    const ok = await api('GET', '/v1/projects');
    expect(ok.headers.get('ratelimit-policy')).toBe('"enterprise";q=10000;w=60');
    expect(ok.headers.get('ratelimit')).toBe('"enterprise";r=11999;t=1');
    // 166 tokens a second come back, so a few milliseconds later one may have.
    const left = (r: Awaited<ReturnType<Api>>) => Number(/^"enterprise";r=(\d+);t=\d+$/.exec(r.headers.get('ratelimit') ?? '')?.[1] ?? NaN);
    const missing = await api('GET', '/v1/projects/prj_00000000000000000000000000');
    expect(missing.status).toBe(404);
    expect(left(missing)).toBeGreaterThanOrEqual(11998);
    expect(left(missing)).toBeLessThanOrEqual(11999);
    const bad = await api('POST', '/v1/projects', { body: { name: '' } });
    expect(bad.status).toBe(400);
    expect(left(bad)).toBeGreaterThanOrEqual(11997);
    expect(left(bad)).toBeLessThanOrEqual(11999);
    // Wrong keys: the caller's address has its own small bucket (5 here), then 429 instead of 401.
    const statuses: number[] = [];
    let last: Awaited<ReturnType<Api>> | undefined;
    for (let i = 0; i < 6; i++) {
      last = await api('GET', '/v1/projects', { key: `sk_wrong_${i}` });
      statuses.push(last.status);
      if (i === 0) {
        expect(last.headers.get('ratelimit-policy')).toBe('"unauthenticated";q=60;w=60');
        expect(last.headers.get('www-authenticate')).toContain('Bearer');
      }
    }
    expect(statuses).toEqual([401, 401, 401, 401, 401, 429]);
    expect((last!.body as { policy: string }).policy).toBe('unauthenticated');
    expect(Number(last!.headers.get('retry-after'))).toBe(1);
  });

  it('checks a route class on top of the plan; a refusal by either spends neither bucket', async () => {
    const { id, api } = await tenant(sys, 'pro', 'classy');
    // tokens=60/3: three mints, then the class refuses.
    const mints = [];
    for (let i = 0; i < 4; i++) mints.push(await api('POST', '/v1/realtime/token'));
    const statuses = mints.map((m) => m.status);
    expect(statuses.slice(0, 3).every((s) => s !== 429)).toBe(true);
    expect(statuses[3]).toBe(429);
    expect(mints[3]!.body.policy).toBe('tokens');
    expect(mints[3]!.headers.get('ratelimit-policy')).toBe('"pro";q=1000;w=60, "tokens";q=60;w=60');
    const [plan] = await sys.db.sql<{ tokens: number }[]>`select tokens from rate_limits where tenant_id = ${id} and bucket = 'pro'`;
    // The refused mint left the plan's bucket as the third one did (give or take its refill).
    const planLeft = Number(/"pro";r=(\d+)/.exec(mints[2]!.headers.get('ratelimit')!)![1]);
    expect(Math.floor(plan!.tokens)).toBeGreaterThanOrEqual(planLeft);
    expect(Math.floor(plan!.tokens)).toBeLessThanOrEqual(planLeft + 1);
    // Other routes still pass: only the class is exhausted.
    expect((await api('GET', '/v1/projects')).status).toBe(200);
  });

  it('limits webhook deliveries per source, before their signature is checked', async () => {
    const statuses: number[] = [];
    for (let i = 0; i < 5; i++) {
      const res = await fetch(`${sys.url}/v1/webhooks/render/lsrc_nosuchsource00000000000000`, { method: 'POST', body: '{}', headers: { 'Content-Type': 'application/json' } });
      statuses.push(res.status);
      if (i === 0) expect(res.headers.get('ratelimit-policy')).toBe('"webhooks";q=600;w=60');
    }
    expect(statuses.slice(0, 4).every((s) => s !== 429)).toBe(true);
    expect(statuses[4]).toBe(429);
    // Another source has its own bucket.
    const other = await fetch(`${sys.url}/v1/webhooks/render/lsrc_othersource0000000000000000`, { method: 'POST', body: '{}', headers: { 'Content-Type': 'application/json' } });
    expect(other.status).not.toBe(429);
  });
});

describe('rate limits across two API processes', () => {
  let databaseUrl: string;
  let upstash: UpstashFake;
  const systems: TestSystem[] = [];
  beforeAll(async () => {
    databaseUrl = await createTestDatabase();
    upstash = await startUpstashFake();
  });
  afterAll(async () => {
    for (const s of systems) await s.stop();
    await upstash?.close();
  });

  for (const backend of ['postgres', 'redis'] as const) {
    it(`grants exactly the burst, however the requests are spread (${backend})`, async () => {
      // A slow refill (1/min), so the count is exact.
      const env = {
        DATABASE_URL: databaseUrl, SWITCHYARD_ROLE: 'api', SWITCHYARD_RATE_LIMIT_PLANS: 'free=1/50,pro=1/50,enterprise=1/50',
        ...(backend === 'redis' ? { UPSTASH_REDIS_REST_URL: upstash.url, UPSTASH_REDIS_REST_TOKEN: upstash.token } : {}),
      };
      const a = await startTestSystem(env);
      operatorKey ??= a.adminKey;
      const b = await startTestSystem(env);
      systems.push(a, b);
      const t = await tenant(a, 'free', `spread-${backend}`);
      const apis = [createApi(a.url, t.key), createApi(b.url, t.key)];
      const statuses = await burst(apis, 120);
      expect(count(statuses, 200)).toBe(50);
      expect(count(statuses, 429)).toBe(70);
      if (backend === 'redis') {
        // The buckets were Redis's: none in Postgres, and the client ran the script (EVALSHA, and
        // EVAL once, after Redis answered NOSCRIPT), once per batch of requests that waited
        // together in a process: at least once per process, at most once per request.
        expect((await a.db.sql<{ n: number }[]>`select count(*)::int as n from rate_limits where tenant_id = ${t.id}`)[0]!.n).toBe(0);
        expect(upstash.commands.filter((c) => c[0]!.toLowerCase() === 'eval').length).toBeGreaterThanOrEqual(1);
        const calls = upstash.commands.filter((c) => c[0]!.toLowerCase() === 'evalsha' && c.at(-1) !== undefined);
        expect(calls.length).toBeGreaterThanOrEqual(2);
        expect(calls.length).toBeLessThanOrEqual(120);
        // The last argument is the batch's size; together the batches carried every request.
        expect(calls.reduce((n, c) => n + Number(c.at(-1)), 0)).toBeGreaterThanOrEqual(120);
      }
    }, 30_000);
  }

  it('fails open or closed when Redis is gone, as configured, counted and logged', async () => {
    const lines: { level: string; msg: string }[] = [];
    const common = {
      DATABASE_URL: databaseUrl, SWITCHYARD_ROLE: 'api', SWITCHYARD_RATE_LIMIT_PLANS: TIERS, SWITCHYARD_RATE_LIMIT_TIMEOUT_MS: '300',
      UPSTASH_REDIS_REST_URL: upstash.url, UPSTASH_REDIS_REST_TOKEN: upstash.token, SWITCHYARD_METRICS_TOKEN: METRICS_TOKEN,
    };
    const open = await startTestSystem({ ...common, SWITCHYARD_RATE_LIMIT_FAIL: 'open' }, { log: createLogger('warn', {}, (l) => lines.push(JSON.parse(l))) });
    const closed = await startTestSystem({ ...common, SWITCHYARD_RATE_LIMIT_FAIL: 'closed' });
    systems.push(open, closed);
    const t = await tenant(open, 'pro', 'redis-outage');
    const viaOpen = createApi(open.url, t.key);
    const viaClosed = createApi(closed.url, t.key);
    expect((await viaOpen('GET', '/v1/projects')).headers.get('ratelimit')).toMatch(/^"pro";r=1199;t=\d+$/);

    await upstash.stopRedis();
    try {
      const passed = await viaOpen('GET', '/v1/projects');
      expect(passed.status).toBe(200);
      expect(passed.headers.get('ratelimit-policy')).toBe('"pro";q=1000;w=60');
      expect(passed.headers.get('ratelimit')).toBeNull(); // unknown: nothing is claimed
      const refused = await viaClosed('GET', '/v1/projects');
      expect(refused.status).toBe(503);
      expect(refused!.body.title).toBe('Rate limiter unavailable');
      expect(refused!.headers.get('retry-after')).toBe('1');
      // A frozen Redis is bounded by the timeout, not by the client's patience.
      await upstash.startRedis();
      upstash.freeze(true);
      const started = Date.now();
      expect((await viaOpen('GET', '/v1/projects')).status).toBe(200);
      expect(Date.now() - started).toBeLessThan(2000);
      upstash.freeze(false);
    } finally {
      upstash.freeze(false);
      await upstash.startRedis().catch(() => {});
    }
    expect(await metricValue(open, /^rate_limit_decisions_total\{policy="pro",decision="failed_open"\}/)).toBeGreaterThanOrEqual(2);
    expect(await metricValue(closed, /^rate_limit_decisions_total\{policy="pro",decision="failed_closed"\}/)).toBe(1);
    expect(lines.some((l) => l.level === 'warn' && l.msg.includes('rate limiter') && l.msg.includes('let through'))).toBe(true);
    // Back: limits apply again (a fresh Redis: a full bucket).
    expect((await viaOpen('GET', '/v1/projects')).headers.get('ratelimit')).toMatch(/^"pro";r=1199;t=\d+$/);
  }, 30_000);
});
