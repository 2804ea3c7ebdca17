/**
 * The dashboard's monitoring and operations views in Debian's Chromium (playwright-core), against
 * the Node server from a fresh start: a signed Render webhook shows up in the log explorer with
 * live tail on and in the chart's minute, filters, search, pause and the deep link; log sources
 * (a bad secret's field error, deliveries, replay); an alert rule whose threshold the test crosses
 * (the banner appears live, the firing is in the history); the queue (a running job's step and a
 * dead job's error, live); API keys (create, revoke, the revoked key refused at sign-in) and
 * tenants. Every view is checked with axe-core (no serious or critical violations) and
 * photographed at 1280 px and 390 px into test/artifacts/.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createServer, type Server } from 'node:http';
import { randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { join } from 'node:path';
import { Webhook } from 'standardwebhooks';
import type { Browser, Page } from 'playwright-core';
import { ARTIFACTS, buildWeb, launchChromium } from './helpers/browser.ts';
import { startTestSystem, waitFor, type TestSystem } from './helpers/system.ts';
import { FakeRenderApi } from './fakes/log-providers.ts';

const AXE = readFileSync(createRequire(import.meta.url).resolve('axe-core/axe.min.js'), 'utf8');
const RENDER_SECRET = `whsec_${randomBytes(32).toString('base64')}`;
const RENDER_KEY = `rnd_${randomBytes(16).toString('hex')}`;

let sys: TestSystem;
let browser: Browser;
let receiver: Server;
let renderApi: FakeRenderApi;
let receiverUrl: string;
let notifications = 0;
let projectId: string;
let sourceId: string;
let webhookUrl: string;

beforeAll(async () => {
  receiver = createServer((req, res) => {
    req.resume();
    req.on('end', () => {
      notifications++;
      res.writeHead(204).end();
    });
  });
  await new Promise<void>((r) => receiver.listen(0, '127.0.0.1', r));
  receiverUrl = `http://127.0.0.1:${(receiver.address() as { port: number }).port}/hooks`;
  const webDir = await buildWeb();
  renderApi = await new FakeRenderApi(RENDER_KEY).start();
  sys = await startTestSystem({ SWITCHYARD_WEB_DIR: webDir, SWITCHYARD_RENDER_API_URL: `${renderApi.url}/v1`, SWITCHYARD_ALERT_EVAL_INTERVAL_S: '1', SWITCHYARD_ALERT_ALLOW_PRIVATE_URLS: 'true' });
  browser = await launchChromium();
  projectId = (await sys.api('POST', '/v1/projects', { body: { name: 'Storefront' } })).body.project.id;
  const src = await sys.api('POST', `/v1/projects/${projectId}/log-sources`, {
    body: { provider: 'render', config: { owner_id: 'tea-1', resources: ['srv-web'] }, credentials: { webhook_secret: RENDER_SECRET } },
  });
  expect(src.status).toBe(201);
  sourceId = src.body.log_source.id;
  webhookUrl = src.body.log_source.webhook_url;
}, 120_000);
afterAll(async () => {
  await browser?.close();
  await sys?.stop();
  await new Promise((r) => receiver?.close(r));
  await renderApi?.close();
});

/** A Render delivery signed the way Render signs (Standard Webhooks), to any source's URL. */
async function sendRender(type: string, service: string, status?: string, url = webhookUrl, secret = RENDER_SECRET) {
  const raw = JSON.stringify({ type, timestamp: new Date().toISOString(), data: { id: `evj-${randomBytes(4).toString('hex')}`, serviceId: 'srv-web', serviceName: service, ...(status ? { status } : {}) } });
  const id = `msg_${randomBytes(8).toString('hex')}`;
  const at = new Date();
  const res = await fetch(url, {
    method: 'POST',
    headers: { 'content-type': 'application/json', 'webhook-id': id, 'webhook-timestamp': String(Math.floor(at.getTime() / 1000)), 'webhook-signature': new Webhook(secret).sign(id, at, raw) },
    body: raw,
  });
  expect(res.status).toBe(202);
  return id;
}

async function newPage(width = 1280, height = 900) {
  const context = await browser.newContext({ viewport: { width, height } });
  const page = await context.newPage();
  const errors: string[] = [];
  page.on('pageerror', (e) => errors.push(String(e)));
  return { page, errors };
}

async function signIn(page: Page, key = sys.adminKey) {
  await page.goto(sys.url);
  await page.getByLabel('API key').fill(key);
  await page.getByLabel('API key').press('Enter');
  await page.getByRole('heading', { name: 'Projects' }).waitFor();
  await page.getByText('Live', { exact: true }).waitFor();
}

const markDocument = (page: Page) => page.evaluate(() => ((window as unknown as { __same: boolean }).__same = true));
const sameDocument = (page: Page) => page.evaluate(() => (window as unknown as { __same?: boolean }).__same === true);

/** axe-core in the page (evaluated through the DevTools protocol, so the page's CSP still holds). */
async function axe(page: Page, view: string) {
  await page.evaluate(AXE);
  const violations = await page.evaluate(async () => {
    const r = await (window as unknown as { axe: { run: (ctx: Document, o: object) => Promise<{ violations: { id: string; impact: string; help: string; nodes: { target: string[] }[] }[] }> } })
      .axe.run(document, { resultTypes: ['violations'] });
    return r.violations.map((v) => ({ id: v.id, impact: v.impact, help: v.help, nodes: v.nodes.slice(0, 3).map((n) => n.target.join(' ')) }));
  });
  const bad = violations.filter((v) => v.impact === 'serious' || v.impact === 'critical');
  expect(bad, `${view}: ${JSON.stringify(bad, null, 1)}`).toEqual([]);
}

const unlabelled = (page: Page) => page.evaluate(() => [...document.querySelectorAll('input, select, button, textarea')]
  .filter((el) => !((el as HTMLElement).innerText?.trim() || el.getAttribute('aria-label') || (el.id && document.querySelector(`label[for="${el.id}"]`)) || el.closest('label')))
  .map((el) => el.outerHTML));

describe('dashboard: monitoring and operations', () => {
  it('tails a signed Render webhook live, counts it in the chart, filters, searches, pauses, and restores the view from its link', async () => {
    const { page, errors } = await newPage();
    await signIn(page);
    await page.getByRole('link', { name: 'Logs' }).click();
    await page.getByRole('heading', { name: 'Logs' }).waitFor();
    await page.getByText('No events match').waitFor();
    await page.getByLabel('Project').selectOption(projectId);
    await page.getByLabel('Live tail').check();
    await page.getByText('Live tail on').waitFor();
    await markDocument(page);

    await sendRender('deploy_ended', 'checkout', 'build_failed');
    const failed = page.locator('tr[data-level="error"]', { hasText: 'checkout: deploy ended (build_failed)' });
    await failed.waitFor({ timeout: 20_000 });
    expect(await sameDocument(page)).toBe(true);

    // The chart's bucket for this minute counts it (its table is the chart's text alternative).
    const minute = new Date(Math.floor(Date.now() / 60_000) * 60_000).toISOString();
    await page.getByText('The counts as a table').click();
    await waitFor(async () => (await page.locator(`tr[data-bucket="${minute}"], tr[data-bucket="${new Date(Date.parse(minute) - 60_000).toISOString()}"]`).locator('td[data-level="error"]').allTextContents()).includes('1') || null, 15_000, 'the chart counts the error');
    expect(await page.getByTestId('chart-summary').textContent()).toMatch(/1 events: 1 error/);

    await sendRender('deploy_started', 'search');
    await page.locator('tr', { hasText: 'search: deploy started' }).waitFor({ timeout: 20_000 });
    expect(await page.locator('table[aria-label="Events"] tbody tr').count()).toBe(2);

    // Paused: new lines wait behind "N new", then come in at the top.
    await page.getByRole('button', { name: 'Pause' }).click();
    await sendRender('server_failed', 'worker');
    await page.getByRole('button', { name: /1 new event/ }).waitFor({ timeout: 20_000 });
    expect(await page.locator('table[aria-label="Events"] tbody tr').count()).toBe(2);
    await page.getByRole('button', { name: /1 new event/ }).click();
    await page.locator('table[aria-label="Events"] tbody tr').first().filter({ hasText: 'worker' }).waitFor();
    expect(await page.locator('table[aria-label="Events"] tbody tr').count()).toBe(3);
    await page.screenshot({ path: join(ARTIFACTS, 'logs-live-1280.png'), fullPage: true });

    // Filters and search narrow the list.
    await page.getByLabel('Level', { exact: true }).selectOption('error');
    await waitFor(async () => (await page.locator('table[aria-label="Events"] tbody tr').count()) === 2 || null, 10_000, 'level filter');
    await page.getByLabel('Search messages').fill('build_failed');
    await page.getByRole('button', { name: 'Search' }).click();
    await waitFor(async () => (await page.locator('table[aria-label="Events"] tbody tr').count()) === 1 || null, 10_000, 'search');
    expect(page.url()).toContain('q=build_failed');

    // One event's details, in a drawer.
    await failed.getByRole('button', { name: 'checkout: deploy ended (build_failed)' }).click();
    const drawer = page.getByRole('dialog', { name: 'Event' });
    await drawer.waitFor();
    expect(await drawer.getByLabel('Attributes (JSON)').textContent()).toContain('"status": "build_failed"');
    await axe(page, 'event drawer');
    await page.keyboard.press('Escape');
    await drawer.waitFor({ state: 'hidden' });

    // The link reproduces the view: a fresh load of the same address shows the same filters and rows.
    const link = page.url();
    await page.goto('about:blank');
    await page.goto(link);
    await page.getByRole('heading', { name: 'Logs' }).waitFor();
    expect(await page.getByLabel('Level', { exact: true }).inputValue()).toBe('error');
    expect(await page.getByLabel('Search messages').inputValue()).toBe('build_failed');
    expect(await page.getByLabel('Project').inputValue()).toBe(projectId);
    await page.locator('table[aria-label="Events"] tbody tr').first().waitFor();
    expect(await page.locator('table[aria-label="Events"] tbody tr').count()).toBe(1);
    expect(await unlabelled(page)).toEqual([]);
    expect(errors).toEqual([]);
    await page.context().close();
  }, 90_000);

  it('creates a log source (a bad secret gets its field error), lists its deliveries and replays one', async () => {
    const { page, errors } = await newPage();
    await signIn(page);
    await page.getByRole('link', { name: 'Sources' }).click();
    await page.getByRole('heading', { name: 'Log sources' }).waitFor();
    await page.locator(`article[data-id="${sourceId}"]`).waitFor();
    const before = (await sys.api('GET', `/v1/projects/${projectId}/log-sources`)).body.data.length;

    await page.getByLabel('Render owner id').fill('tea-2');
    await page.getByLabel('Services').fill('srv-api, srv-jobs');
    await page.getByLabel('Webhook signing secret').fill('not-a-standard-secret');
    await page.getByRole('button', { name: 'Add source' }).click();
    const fieldError = page.locator('#source-webhook_secret-error');
    await fieldError.waitFor();
    expect(await fieldError.textContent()).toMatch(/whsec_/);
    expect(await page.getByLabel('Webhook signing secret').getAttribute('aria-invalid')).toBe('true');
    expect((await sys.api('GET', `/v1/projects/${projectId}/log-sources`)).body.data).toHaveLength(before);

    const secret = `whsec_${randomBytes(32).toString('base64')}`;
    const now = Date.now();
    renderApi.add('tea-2', [1, 2, 3].map((i) => ({ id: `rl-${i}`, message: `GET /health ${i}`, timestamp: new Date(now - i * 1000).toISOString(), labels: [{ name: 'resource', value: 'srv-api' }] })));
    await page.getByLabel('API token (for pulls)').fill(RENDER_KEY);
    await page.getByLabel('Webhook signing secret').fill(secret);
    await page.getByRole('button', { name: 'Add source' }).click();
    await waitFor(async () => (await sys.api('GET', `/v1/projects/${projectId}/log-sources`)).body.data.length === before + 1 || null, 10_000, 'source created');
    const created = (await sys.api('GET', `/v1/projects/${projectId}/log-sources`)).body.data.find((s: { config: { owner_id: string } }) => s.config.owner_id === 'tea-2');
    const card = page.locator(`article[data-id="${created.id}"]`);
    await card.waitFor();
    expect(await card.getByTestId('secrets').textContent()).toBe('API token set · webhook secret set');

    // Pull now: the job's progress, then what it read and how far.
    await card.getByRole('button', { name: /^Pull now from render/ }).click();
    await card.getByTestId('pull-status').getByText(/\d+ events from \d+ pages/).waitFor({ timeout: 20_000 });
    expect(await card.getByTestId('pull-status').locator('[data-status]').getAttribute('data-status')).toBe('succeeded');
    await waitFor(async () => (await card.getByTestId('mark').textContent()) !== '—' || null, 10_000, 'high-water mark shown');
    const pulled = await sys.api('GET', `/v1/logs?project=${projectId}&q=${encodeURIComponent('GET /health')}`);
    expect(pulled.body.data).toHaveLength(3);
    expect(await card.getByTestId('webhook-url').textContent()).toBe(created.webhook_url);
    expect(await page.content()).not.toContain(secret);
    expect(await page.content()).not.toContain(RENDER_KEY);

    // A delivery to it, seen in its deliveries with its count; replayed, it stores nothing twice.
    await sendRender('deploy_ended', 'api', 'live', created.webhook_url, secret);
    await card.getByRole('button', { name: 'Deliveries' }).click();
    const row = card.locator('tr[data-delivery]');
    await row.waitFor();
    await waitFor(async () => {
      if ((await row.getByTestId('event-count').textContent()) === '1') return true;
      await card.getByRole('button', { name: 'Hide deliveries' }).click();
      await card.getByRole('button', { name: 'Deliveries' }).click();
      return null;
    }, 15_000, 'delivery processed');
    await row.getByRole('button', { name: /Replay delivery/ }).click();
    await row.getByText('replay: succeeded').waitFor({ timeout: 15_000 });
    expect(await row.getByTestId('event-count').textContent()).toBe('1');
    await page.screenshot({ path: join(ARTIFACTS, 'sources-1280.png'), fullPage: true });

    // Delete asks first.
    await card.getByRole('button', { name: 'Delete the render source' }).click();
    await page.getByRole('dialog').getByRole('button', { name: 'Delete' }).click();
    await card.waitFor({ state: 'detached' });
    expect((await sys.api('GET', `/v1/projects/${projectId}/log-sources`)).body.data).toHaveLength(before);
    expect(await unlabelled(page)).toEqual([]);
    expect(errors).toEqual([]);
    await page.context().close();
  }, 60_000);

  it('creates an alert rule (its secret shown once), and the firing shows live as a banner and in the history', async () => {
    const { page, errors } = await newPage();
    await signIn(page);
    await page.getByRole('link', { name: 'Alerts' }).click();
    await page.getByRole('heading', { name: 'Alerts' }).waitFor();
    await page.getByText('No alert rules for Storefront yet.').waitFor();
    await page.getByLabel('Rule name').fill('Deploys failing');
    await page.getByLabel('At least (events)').fill('2');
    await page.getByLabel('Level', { exact: true }).selectOption('error');
    await page.getByLabel('Message contains').fill('canceled');
    await page.getByLabel('Window').fill('1m');
    await page.getByLabel('Webhook URL').fill(receiverUrl);
    await page.getByRole('button', { name: 'Create rule' }).click();
    const secret = page.getByLabel('Signing secret', { exact: true });
    await secret.waitFor();
    expect(await secret.inputValue()).toMatch(/^whsec_/);
    await page.getByRole('button', { name: 'I have stored it' }).click();
    await secret.waitFor({ state: 'detached' });
    const rule = page.locator('tr[data-name="Deploys failing"]');
    await rule.waitFor();
    expect(await rule.textContent()).toContain('2+ error events containing “canceled”');
    await markDocument(page);

    // Elsewhere in the dashboard, the threshold is crossed: the banner comes without a reload.
    await page.getByRole('link', { name: 'Projects' }).click();
    await sendRender('deploy_ended', 'checkout', 'canceled');
    await sendRender('deploy_ended', 'checkout', 'canceled');
    const banner = page.locator('.alert-banner', { hasText: 'Alert firing: Deploys failing' });
    await banner.waitFor({ timeout: 30_000 });
    expect(await sameDocument(page)).toBe(true);
    await page.screenshot({ path: join(ARTIFACTS, 'alert-banner-1280.png') });
    await banner.getByRole('link', { name: 'See the rule' }).click();
    const history = page.getByRole('list', { name: 'Firing history' });
    await history.locator('li').first().waitFor({ timeout: 10_000 });
    expect(await history.locator('li').first().textContent()).toContain('Deploys failing · fired');
    expect(await rule.locator('[data-status="firing"]').count()).toBe(1);
    await waitFor(async () => notifications > 0 || null, 15_000, 'the webhook notified');
    await rule.getByTestId('channel').getByText(/healthy, last sent/).waitFor({ timeout: 15_000 });
    expect(await unlabelled(page)).toEqual([]);
    expect(errors).toEqual([]);
    await page.context().close();
  }, 90_000);

  it('shows the queue live: a running job with its step, a dead job with its error, and a job timeline', async () => {
    const { page, errors } = await newPage();
    await signIn(page);
    await page.getByRole('link', { name: 'Queue' }).click();
    await page.getByRole('heading', { name: 'Queue' }).waitFor();
    await page.getByRole('table', { name: 'Jobs by kind and status' }).waitFor();
    await markDocument(page);
    const tenant = (await sys.api('GET', '/v1/me')).body.tenant.id;
    const id = `job_01kq${randomBytes(11).toString('hex').slice(0, 22)}`;
    await sys.db.sql`insert into jobs (id, tenant_id, kind, status, steps, attempts, lease_expires_at, locked_by, subject_type, subject_id)
                     values (${id}, ${tenant}, 'store.provision', 'running', 2, 1, now() + interval '1 hour', 'elsewhere', 'store', 'sto_00000000000000000000000000')`;
    const running = page.getByRole('table', { name: 'Running jobs' }).locator(`tr[data-id="${id}"]`);
    await running.waitFor({ timeout: 15_000 });
    expect(await running.getByTestId('progress').textContent()).toBe('step 3, attempt 1 of 5');
    await sys.db.sql`update jobs set status = 'dead', last_error = 'the runtime refused the manifest: quota exceeded', finished_at = now() where id = ${id}`;
    const dead = page.getByRole('table', { name: 'Dead jobs' }).locator(`tr[data-id="${id}"]`);
    await dead.waitFor({ timeout: 15_000 });
    expect(await dead.getByTestId('error').textContent()).toBe('the runtime refused the manifest: quota exceeded');
    await running.waitFor({ state: 'detached' });
    expect(await sameDocument(page)).toBe(true);
    expect(await page.locator('tr[data-kind="store.provision"] td[data-status="dead"]').textContent()).toBe('1');
    await page.screenshot({ path: join(ARTIFACTS, 'queue-1280.png'), fullPage: true });

    // A job waiting for its time is cancelled with the keyboard alone: Enter on its button, Tab to
    // the dialog's confirmation (the dialog starts on "Cancel"), Enter.
    const later = `job_01kq${randomBytes(11).toString('hex').slice(0, 22)}`;
    await sys.db.sql`insert into jobs (id, tenant_id, kind, status, run_at) values (${later}, ${tenant}, 'logs.pull', 'queued', now() + interval '1 hour')`;
    const queued = page.getByRole('table', { name: 'Queued jobs' }).locator(`tr[data-id="${later}"]`);
    await queued.waitFor({ timeout: 15_000 });
    await queued.getByRole('button', { name: /^Cancel logs.pull/ }).focus();
    await page.keyboard.press('Enter');
    await page.getByRole('dialog').waitFor();
    await page.keyboard.press('Tab');
    await page.keyboard.press('Enter');
    await queued.waitFor({ state: 'detached', timeout: 15_000 });
    expect((await sys.db.sql`select status from jobs where id = ${later}`)[0]!.status).toBe('canceled');

    await dead.getByRole('link', { name: 'store.provision' }).click();
    await page.getByRole('heading', { name: /store.provision/ }).waitFor();
    expect(await page.locator('.facts').textContent()).toContain('quota exceeded');
    await page.getByRole('link', { name: '← Queue' }).waitFor();
    await sys.db.sql`delete from jobs where id in (${id}, ${later})`;
    expect(errors).toEqual([]);
    await page.context().close();
  }, 60_000);

  it('creates and revokes an API key (the revoked key is refused at sign-in) and creates a tenant', async () => {
    const { page, errors } = await newPage();
    await signIn(page);
    await page.getByRole('link', { name: 'Keys' }).click();
    await page.getByRole('heading', { name: 'API keys' }).waitFor();
    await page.getByLabel('Key name').fill('ci-bot');
    await page.getByLabel('Role').selectOption('viewer');
    await page.getByRole('button', { name: 'Create key' }).click();
    const shown = page.getByLabel('Secret of the new key', { exact: true });
    await shown.waitFor();
    const key = await shown.inputValue();
    expect(key).toMatch(/^sk_/);
    await page.getByRole('button', { name: 'I have stored it' }).click();
    await shown.waitFor({ state: 'detached' });
    expect(await page.content()).not.toContain(key);

    // The key works until it is revoked, then sign-in refuses it.
    const { page: other } = await newPage();
    await signIn(other, key);
    await other.context().close();
    await page.locator('tr[data-name="ci-bot"]').getByRole('button', { name: 'Revoke key ci-bot' }).click();
    await page.getByRole('dialog').getByRole('button', { name: 'Revoke' }).click();
    await page.locator('tr[data-name="ci-bot"]').getByText('revoked').waitFor();
    const { page: refused } = await newPage();
    await refused.goto(sys.url);
    await refused.getByLabel('API key').fill(key);
    await refused.getByRole('button', { name: 'Sign in' }).click();
    await refused.getByRole('alert').waitFor();
    expect(await refused.getByRole('alert').textContent()).toMatch(/Unauthorized/);
    await refused.context().close();

    await page.getByRole('link', { name: 'Tenants' }).click();
    await page.getByRole('heading', { name: 'Tenants' }).waitFor();
    await page.getByLabel('Tenant name').fill('Globex');
    await page.getByRole('button', { name: 'Create tenant' }).click();
    const admin = page.getByLabel('Admin key for Globex', { exact: true });
    await admin.waitFor();
    expect(await admin.inputValue()).toMatch(/^sk_/);
    await page.getByRole('button', { name: 'I have stored it' }).click();
    await page.locator('tr[data-name="Globex"]').waitFor();
    expect(errors).toEqual([]);
    await page.context().close();
  }, 60_000);

  it('passes axe on every view at 1280 and 390 px, without sideways scrolling on a phone, and photographs each', async () => {
    const views = ['projects', `projects/${projectId}`, 'stores', 'rollouts', `logs?project=${projectId}`, `sources?project=${projectId}`, `alerts?project=${projectId}`, 'queue', 'keys', 'tenants'];
    for (const [width, height] of [[1280, 900], [390, 844]] as const) {
      const { page, errors } = await newPage(width, height);
      await signIn(page);
      for (const view of views) {
        await page.goto(`${sys.url}/#/${view}`);
        await page.locator('main h1').first().waitFor();
        await page.waitForFunction(() => !document.querySelector('main [role="status"].muted'), undefined, { timeout: 10_000 });
        await axe(page, `${view} at ${width}px`);
        if (width === 390) expect(await page.evaluate(() => document.documentElement.scrollWidth), `${view} fits 390 px`).toBeLessThanOrEqual(390);
        const name = view.split('?')[0]!.replace(/\/.*/, '-detail');
        await page.screenshot({ path: join(ARTIFACTS, `view-${name}-${width}.png`), fullPage: true });
      }
      expect(errors).toEqual([]);
      await page.context().close();
    }
  }, 120_000);
});
