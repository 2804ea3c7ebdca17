/**
 * Scheduled and requested log pulls against contract fakes of the Supabase Management API, the
 * Render API and the Sentry API (real HTTP): paging by each provider's own scheme, rate limits and
 * outages as continuations that wait as told, refused keys shown on the source, and a worker
 * SIGKILLed in the middle of a paged pull resuming at the page it was on, with no gap and no
 * duplicate.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { randomBytes } from 'node:crypto';
import { FakeRenderApi, FakeSentryApi, FakeSupabaseLogs, type RenderLog } from './fakes/log-providers.ts';
import { workerPool } from './helpers/workers.ts';
import { createTenant, dbUrl, one, startTestSystem, waitFor, type Api, type TestSystem } from './helpers/system.ts';

const SUPABASE_PAT = `sbp_${randomBytes(20).toString('hex')}`;
const RENDER_KEY = `rnd_${randomBytes(16).toString('hex')}`;
const SENTRY_TOKEN = `sntrys_${randomBytes(16).toString('hex')}`;
const REF = 'abcdefghijklmnopqrst';
const SECRET_KEY = randomBytes(32).toString('base64url');
const MIN = 60_000;
const HOUR = 60 * MIN;

let supabase: FakeSupabaseLogs;
let render: FakeRenderApi;
let sentry: FakeSentryApi;
let sys: TestSystem;

beforeAll(async () => {
  // A small analytics budget so the test meets a 429 without making 30 requests.
  supabase = await new FakeSupabaseLogs(SUPABASE_PAT, { limit: 2, windowMs: 6000 }).start();
  render = await new FakeRenderApi(RENDER_KEY).start();
  sentry = await new FakeSentryApi(SENTRY_TOKEN, 25).start();
  sys = await startTestSystem({
    SWITCHYARD_SUPABASE_API_URL: supabase.url,
    SWITCHYARD_RENDER_API_URL: `${render.url}/v1`,
    SWITCHYARD_SENTRY_API_URL: sentry.url,
    SWITCHYARD_LOG_PULL_LOOKBACK_H: '30',
    SWITCHYARD_LOG_PULL_INTERVAL_S: '3600',
  });
});
afterAll(async () => {
  await sys?.stop();
  await Promise.all([supabase?.close(), render?.close(), sentry?.close()]);
});

async function project(api: Api) {
  const res = await api('POST', '/v1/projects', { body: { name: `Pulled ${randomBytes(3).toString('hex')}` } });
  expect(res.status).toBe(202);
  return res.body.project.id as string;
}

const finishedJob = (api: Api, subject: string, n = 1) => waitFor(async () => {
  const jobs = (await api('GET', `/v1/jobs?subject=log_source:${subject}`)).body.data as any[];
  const done = jobs.filter((j) => ['succeeded', 'dead'].includes(j.status));
  return done.length >= n ? done[0] : null;
}, 60_000, `pull job of ${subject}`);

const eventsOf = (sourceId: string, on: TestSystem = sys) =>
  on.db.sql<{ sourceEventId: string; message: string; level: string; kind: string; service: string | null }[]>`
    select source_event_id, message, level, kind, service from events where source_id = ${sourceId} order by ts, id`;

describe('log pulls', () => {
  it('pulls Supabase logs in ≤ 24 h minute windows, paged by offset, waiting out a 429 as X-RateLimit-Reset says', async () => {
    const { api } = await createTenant(sys, 'pull-supabase');
    const prj = await project(api);
    const now = Date.now();
    // 1,200 lines in the first 24 h window (two pages of 1,000), 300 in the rest of the 30 h.
    const rows = [
      ...Array.from({ length: 1200 }, (_, i) => ({ id: `old-${i}`, timestamp: (now - 29 * HOUR + i * 1000) * 1000, event_message: i % 100 === 0 ? `ERROR: relation missing ${i}` : `GET /rest/v1/items ${i}`, log_type: 'edge_logs' })),
      ...Array.from({ length: 300 }, (_, i) => ({ id: `new-${i}`, timestamp: (now - 3 * HOUR + i * 1000) * 1000, event_message: `login user${i}@example.com`, log_type: 'auth_logs' })),
    ];
    supabase.add(REF, rows);
    const created = await api('POST', `/v1/projects/${prj}/log-sources`, {
      body: { provider: 'supabase', config: { project_ref: REF }, credentials: { api_key: SUPABASE_PAT } },
    });
    expect(created.status, JSON.stringify(created.body)).toBe(201);
    const sid = created.body.log_source.id;
    expect(created.body.log_source.next_pull_at).not.toBeNull();

    // The sweeper schedules the first pull (next_pull_at is now).
    const job = await finishedJob(api, sid);
    expect(job.status).toBe('succeeded');
    const events = await eventsOf(sid);
    expect(events).toHaveLength(1500);
    expect(new Set(events.map((e) => e.sourceEventId)).size).toBe(1500);
    expect(events.filter((e) => e.level === 'error')).toHaveLength(12);
    expect(events.some((e) => e.message.includes('@example.com'))).toBe(false);
    expect(new Set(events.map((e) => e.service))).toEqual(new Set(['edge', 'auth']));

    const calls = supabase.requests.filter((r) => r.path.includes(REF));
    const ok = calls.filter((r) => r.status === 200);
    expect(ok).toHaveLength(3); // window 1 offset 0 and 1000, window 2 offset 0
    for (const r of ok) {
      const start = Date.parse(r.query.get('iso_timestamp_start')!);
      const end = Date.parse(r.query.get('iso_timestamp_end')!);
      expect(end - start).toBeLessThanOrEqual(24 * HOUR);
      expect(start % MIN).toBe(0);
      expect(end % MIN).toBe(0);
      expect(r.auth).toBe(`Bearer ${SUPABASE_PAT}`);
    }
    expect(ok.map((r) => /offset (\d+)/.exec(r.query.get('sql')!)![1])).toEqual(['0', '1000', '0']);
    // The budget (2 per 6 s here) was hit once at most per window, and the retry came after the reset, not in a loop.
    const limited = calls.filter((r) => r.status === 429);
    expect(limited.length).toBeGreaterThanOrEqual(1);
    expect(limited.length).toBeLessThanOrEqual(2);
    for (const r of limited) {
      const after = calls.find((c) => c.at > r.at);
      expect(after!.at - r.at).toBeGreaterThanOrEqual(900);
    }
    const timeline = (await api('GET', `/v1/jobs/${job.id}`)).body.job.events.map((e: any) => e.data?.message ?? '');
    expect(timeline.some((n: string) => /rate limit/.test(n))).toBe(true);

    const source = (await api('GET', `/v1/projects/${prj}/log-sources/${sid}`)).body.log_source;
    expect(source.last_pulled_at).not.toBeNull();
    expect(source.last_error).toBeNull();

    // Pull now: from the committed mark, so nothing is fetched twice and nothing is added.
    const before = ok.length;
    const pulled = await api('POST', `/v1/projects/${prj}/log-sources/${sid}/pull`);
    expect(pulled.status).toBe(202);
    await waitFor(async () => (await api('GET', `/v1/jobs/${pulled.body.job.id}`)).body.job.status === 'succeeded', 30_000, 'manual pull');
    expect(await eventsOf(sid)).toHaveLength(1500);
    expect(supabase.requests.filter((r) => r.path.includes(REF) && r.status === 200).length - before).toBeLessThanOrEqual(1);
  });

  it('pages Render logs by nextStartTime/nextEndTime, rides out a 429 and an outage, and masks', async () => {
    const { api } = await createTenant(sys, 'pull-render');
    const prj = await project(api);
    const now = Date.now();
    const logs: RenderLog[] = Array.from({ length: 250 }, (_, i) => ({
      id: `log-${i}`,
      message: i === 7 ? 'connecting to postgres://app:hunter2@db.internal:5432/app' : `request ${i} served`,
      timestamp: new Date(now - 50 * MIN + i * 1000).toISOString(),
      labels: [{ name: 'resource', value: i % 2 ? 'srv-api' : 'srv-web' }, { name: 'level', value: i % 50 === 0 ? 'error' : 'info' }, { name: 'type', value: 'app' }],
    }));
    render.add('tea-pull', logs);
    render.add('tea-other', [{ id: 'foreign', message: 'not ours', timestamp: new Date(now - MIN).toISOString(), labels: [{ name: 'resource', value: 'srv-api' }] }]);
    render.inject(429, { headers: { 'retry-after': '1', 'ratelimit-limit': '30', 'ratelimit-remaining': '0', 'ratelimit-reset': '1' } });
    render.inject(503);
    const created = await api('POST', `/v1/projects/${prj}/log-sources`, {
      body: { provider: 'render', config: { owner_id: 'tea-pull', resources: ['srv-api', 'srv-web'] }, credentials: { api_key: RENDER_KEY } },
    });
    const sid = created.body.log_source.id;
    const job = await finishedJob(api, sid);
    expect(job.status).toBe('succeeded');
    const events = await eventsOf(sid);
    expect(events).toHaveLength(250);
    expect(new Set(events.map((e) => e.sourceEventId)).size).toBe(250);
    expect(events.filter((e) => e.level === 'error')).toHaveLength(5);
    expect(events.find((e) => e.sourceEventId === 'log-7')!.message).not.toContain('hunter2');

    const calls = render.requests;
    expect(calls.map((r) => r.status)).toEqual([429, 503, 200, 200, 200]);
    expect(calls[1]!.at - calls[0]!.at).toBeGreaterThanOrEqual(950); // Retry-After: 1
    expect(calls[2]!.at - calls[1]!.at).toBeGreaterThanOrEqual(4500); // outage backoff
    const ok = calls.filter((r) => r.status === 200);
    // Each page after the first starts where the previous page said.
    expect(ok[1]!.query.get('startTime')).toBe(logs[100]!.timestamp);
    expect(ok[2]!.query.get('startTime')).toBe(logs[200]!.timestamp);
    expect(ok.every((r) => r.query.get('ownerId') === 'tea-pull' && r.query.getAll('resource').length === 2)).toBe(true);
  });

  it('follows Sentry Link cursors through events and issues; a refused token stops the pull with the reason on the source', async () => {
    const { api } = await createTenant(sys, 'pull-sentry');
    const prj = await project(api);
    const now = Date.now();
    sentry.addEvents('acme', 'web', Array.from({ length: 60 }, (_, i) => ({
      id: `${i}`, eventID: `ev${i.toString().padStart(30, '0')}`, groupID: `${i % 3}`, title: `TypeError ${i}`, message: '', platform: 'javascript',
      dateCreated: new Date(now - 30 * MIN + i * 1000).toISOString(), tags: [{ key: 'level', value: i % 10 ? 'error' : 'warning' }, { key: 'environment', value: 'production' }],
    })));
    sentry.addIssues('acme', 'web', Array.from({ length: 3 }, (_, i) => ({
      id: `${i}`, shortId: `WEB-${i}`, title: `TypeError group ${i}`, culprit: 'app.js', level: 'error', status: 'unresolved',
      firstSeen: new Date(now - 40 * MIN).toISOString(), lastSeen: new Date(now - 10 * MIN + i).toISOString(), count: '20', permalink: 'https://sentry.example/issues/1',
    })));
    const good = await api('POST', `/v1/projects/${prj}/log-sources`, {
      body: { provider: 'sentry', config: { organization: 'acme', project: 'web' }, credentials: { api_key: SENTRY_TOKEN } },
    });
    const bad = await api('POST', `/v1/projects/${prj}/log-sources`, {
      body: { provider: 'sentry', config: { organization: 'acme', project: 'web' }, credentials: { api_key: 'sntrys_wrong_token' } },
    });
    const job = await finishedJob(api, good.body.log_source.id);
    expect(job.status).toBe('succeeded');
    const events = await eventsOf(good.body.log_source.id);
    expect(events.filter((e) => e.sourceEventId.startsWith('event:'))).toHaveLength(60);
    expect(events.filter((e) => e.sourceEventId.startsWith('issue:'))).toHaveLength(3);
    expect(events.filter((e) => e.level === 'warn')).toHaveLength(6);
    const eventCalls = sentry.requests.filter((r) => r.path.endsWith('/events/') && r.auth === `Bearer ${SENTRY_TOKEN}`);
    expect(eventCalls.map((r) => r.query.get('cursor'))).toEqual([null, '0:25:0', '0:50:0']);

    const refused = await finishedJob(api, bad.body.log_source.id);
    expect(refused.status).toBe('succeeded');
    const source = (await api('GET', `/v1/projects/${prj}/log-sources/${bad.body.log_source.id}`)).body.log_source;
    expect(source.last_error).toMatch(/sentry refused the API key \(HTTP 401\)/);
    expect(JSON.stringify(source)).not.toContain('sntrys_wrong_token');
    // No retry loop: one request with the bad token.
    expect(sentry.requests.filter((r) => r.auth === 'Bearer sntrys_wrong_token')).toHaveLength(1);
  });

  it('refuses a pull without an API key, and hides other tenants’ sources', async () => {
    const { api } = await createTenant(sys, 'pull-refusals');
    const prj = await project(api);
    const hook = await api('POST', `/v1/projects/${prj}/log-sources`, {
      body: { provider: 'sentry', config: { organization: 'acme', project: 'x' }, credentials: { webhook_secret: 'a-client-secret' } },
    });
    expect(hook.body.log_source.next_pull_at).toBeNull();
    const res = await api('POST', `/v1/projects/${prj}/log-sources/${hook.body.log_source.id}/pull`);
    expect(res.status).toBe(422);
    expect(res.headers.get('content-type')).toContain('application/problem+json');
    const other = await createTenant(sys, 'pull-intruder');
    expect((await other.api('POST', `/v1/projects/${prj}/log-sources/${hook.body.log_source.id}/pull`)).status).toBe(404);
    expect(await one(sys.db.sql`select count(*)::int as n from jobs where subject_id = ${hook.body.log_source.id}`)).toEqual({ n: 0 });
  });
});

describe('a pull with its worker killed between pages', () => {
  const workers = workerPool();
  let apiOnly: TestSystem;
  let crashRender: FakeRenderApi;
  beforeAll(async () => {
    crashRender = await new FakeRenderApi(RENDER_KEY).start();
    // Every process of one deployment shares the key that seals credentials.
    apiOnly = await startTestSystem({ SWITCHYARD_ROLE: 'api', SWITCHYARD_SECRET_KEY: SECRET_KEY });
  });
  afterAll(async () => {
    workers.killAll();
    await apiOnly?.stop();
    await crashRender?.close();
  });

  it('resumes from its last committed mark: every line once, no committed page fetched again', async () => {
    const { db } = await one(apiOnly.db.sql`select current_database() as db`);
    const env = {
      SWITCHYARD_RENDER_API_URL: `${crashRender.url}/v1`, SWITCHYARD_POLL_INTERVAL_MS: '200', SWITCHYARD_SWEEP_INTERVAL_MS: '300',
      SWITCHYARD_LOG_PULL_INTERVAL_S: '3600', SWITCHYARD_SECRET_KEY: SECRET_KEY,
    };
    const now = Date.now();
    const logs = Array.from({ length: 1200 }, (_, i) => ({
      id: `c-${i}`, message: `line ${i}`, timestamp: new Date(now - 40 * MIN + i * 1000).toISOString(), labels: [{ name: 'resource', value: 'srv-a' }],
    }));
    crashRender.add('tea-crash', logs);
    let release!: () => void;
    const held = crashRender.hold(
      (r) => r.query.get('startTime') === logs[700]!.timestamp,
      new Promise<void>((r) => (release = r)),
    );

    const first = await workers.spawn(dbUrl(db), env);
    const { api } = await createTenant(apiOnly, 'pull-crash');
    const prj = await project(api);
    const sid = (await api('POST', `/v1/projects/${prj}/log-sources`, {
      body: { provider: 'render', config: { owner_id: 'tea-crash', resources: ['srv-a'] }, credentials: { api_key: RENDER_KEY } },
    })).body.log_source.id;

    // A step reads up to 5 pages of 100, storing each while it fetches the next, and commits
    // the mark after them: pages 1–5 and their mark are committed; the second step has stored
    // pages 6 and 7 (their mark not yet) and is waiting for page 8.
    await held;
    await waitFor(async () => (await eventsOf(sid, apiOnly)).length === 700 || null, 10_000, 'pages 6 and 7 to be stored');
    first.kill('SIGKILL');
    await new Promise((r) => first.once('exit', r));
    release();

    await workers.spawn(dbUrl(db), env);
    const job = await waitFor(async () => {
      const [j] = await apiOnly.db.sql`select * from jobs where subject_id = ${sid} and status = 'succeeded'`;
      return j ?? null;
    }, 60_000, 'the pull to be re-claimed and finish');
    const timeline = await apiOnly.db.sql`select type from job_events where job_id = ${job.id} order by id`;
    expect(timeline.map((e) => e.type)).toContain('lease_expired');

    const rows = await apiOnly.db.sql<{ sourceEventId: string }[]>`select source_event_id from events where source_id = ${sid}`;
    expect(rows).toHaveLength(1200);
    expect(new Set(rows.map((r) => r.sourceEventId))).toEqual(new Set(logs.map((l) => l.id)));
    const starts = crashRender.requests.map((r) => r.query.get('startTime'));
    const page = (n: number) => logs[(n - 1) * 100]!.timestamp;
    // Pages 2–5 once (page 1 starts at the window's start); 6–8, whose mark never committed, again
    // after the kill (what 6 and 7 stored before is not stored twice); then on to 12.
    expect(starts.slice(1)).toEqual([2, 3, 4, 5, 6, 7, 8, 6, 7, 8, 9, 10, 11, 12].map(page));
  }, 120_000);
});
