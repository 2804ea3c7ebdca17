/**
 * The dashboard in a real browser: Debian's Chromium driven by playwright-core against the Node
 * server from a fresh start, serving a fresh build of web/. It signs in with the first-start admin
 * key, creates a project through the form and watches its row turn `active` without a reload,
 * suspends it through the confirmation dialog, gets a field error for a bad slug, reads the
 * problem of a refused sign-in, provisions a store, and works at 390 px. Screenshots go to
 * test/artifacts/ (git-ignored).
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { readdir } from 'node:fs/promises';
import { join } from 'node:path';
import type { Browser, Page } from 'playwright-core';
import { ARTIFACTS, buildWeb, launchChromium } from './helpers/browser.ts';
import { startTestSystem, type TestSystem } from './helpers/system.ts';


let sys: TestSystem;
let browser: Browser;
let webDir: string;
beforeAll(async () => {
  webDir = await buildWeb();
  sys = await startTestSystem({ SWITCHYARD_WEB_DIR: webDir });
  browser = await launchChromium();
}, 120_000);
afterAll(async () => {
  await browser?.close();
  await sys?.stop();
});

async function newPage(width = 1280, height = 900): Promise<{ page: Page; urls: string[]; errors: string[] }> {
  const context = await browser.newContext({ viewport: { width, height } });
  const page = await context.newPage();
  const urls: string[] = [];
  const errors: string[] = [];
  page.on('request', (r) => urls.push(r.url()));
  page.on('pageerror', (e) => errors.push(String(e)));
  return { page, urls, errors };
}

async function signIn(page: Page, key: string) {
  await page.goto(sys.url);
  await page.getByLabel('API key').fill(key);
  await page.getByLabel('API key').press('Enter'); // the keyboard is enough
  await page.getByRole('heading', { name: 'Projects' }).waitFor();
}

const row = (page: Page, slug: string) => page.locator(`tr[data-slug="${slug}"]`);

describe('dashboard', () => {
  it('is served with a strict CSP, cacheable assets, and a typed client generated from the live OpenAPI document', async () => {
    const res = await fetch(sys.url);
    expect(res.status).toBe(200);
    expect(res.headers.get('content-security-policy')).toContain("connect-src 'self'");
    expect(res.headers.get('cache-control')).toBe('no-cache');
    const html = await res.text();
    const asset = /src="(\/assets\/[^"]+\.js)"/.exec(html)![1]!;
    const js = await fetch(`${sys.url}${asset}`);
    expect(js.status).toBe(200);
    expect(js.headers.get('cache-control')).toContain('immutable');
    const missing = await fetch(`${sys.url}/assets/nope.js`);
    expect(missing.status).toBe(404);
    for (const r of [res, js, missing]) {
      expect(r.headers.get('x-content-type-options')).toBe('nosniff');
      expect(r.headers.get('referrer-policy')).toBe('no-referrer');
    }
    // No CDN at runtime: every script and style is on our origin.
    expect(html).not.toMatch(/(src|href)="https?:/);
  });

  it('signs in, creates a project that turns active live, suspends it, and shows field errors and problems', async () => {
    const { page, urls, errors } = await newPage();

    // A wrong key: the problem's title and the request id are shown.
    await page.goto(sys.url);
    await page.screenshot({ path: join(ARTIFACTS, 'signin-1280.png') });
    await page.getByLabel('API key').fill('sk_not_a_real_key');
    await page.getByRole('button', { name: 'Sign in' }).click();
    const alert = page.getByRole('alert');
    await alert.waitFor();
    expect(await alert.textContent()).toMatch(/Unauthorized.*Request ID: req_/s);

    await signIn(page, sys.adminKey);
    await page.getByText('Live', { exact: true }).waitFor();
    await page.getByText('No projects yet').waitFor();
    await page.evaluate(() => ((window as unknown as { __sameDocument: boolean }).__sameDocument = true));

    // An invalid slug: the API's message next to the field, and nothing created.
    await page.getByLabel('Name').fill('Bad slug');
    await page.getByLabel('Slug').fill('Not A Slug!');
    await page.getByRole('button', { name: 'Create project' }).click();
    const slugError = page.locator('#project-slug-error');
    await slugError.waitFor();
    expect(await slugError.textContent()).toMatch(/lowercase|slug|pattern|invalid/i);
    expect(await page.getByLabel('Slug').getAttribute('aria-invalid')).toBe('true');
    expect((await sys.api('GET', '/v1/projects')).body.data).toEqual([]);
    await page.screenshot({ path: join(ARTIFACTS, 'project-field-error-1280.png') });

    // Create, and watch the row become active with no reload.
    await page.getByLabel('Slug').fill('storefront-db');
    // Typed key by key: every keystroke re-renders the form, and the input must keep its focus.
    await page.getByLabel('Name').fill('');
    await page.getByLabel('Name').pressSequentially('Storefront DB');
    expect(await page.getByLabel('Name').inputValue()).toBe('Storefront DB');
    await page.getByRole('button', { name: 'Create project' }).click();
    await row(page, 'storefront-db').waitFor();
    await row(page, 'storefront-db').locator('[data-status="active"]').waitFor({ timeout: 30_000 });
    expect(await page.evaluate(() => (window as unknown as { __sameDocument?: boolean }).__sameDocument)).toBe(true);
    await page.screenshot({ path: join(ARTIFACTS, 'projects-active-1280.png') });

    // A clashing slug comes back as a field error too.
    await page.getByLabel('Name').fill('Again');
    await page.getByLabel('Slug').fill('storefront-db');
    await page.getByRole('button', { name: 'Create project' }).click();
    await page.locator('#project-slug-error').waitFor();

    // Suspend through the confirmation dialog; the row follows live.
    await page.getByRole('button', { name: 'Suspend Storefront DB' }).click();
    const dialog = page.getByRole('dialog');
    await dialog.waitFor();
    await dialog.getByRole('button', { name: 'Suspend' }).click();
    await row(page, 'storefront-db').locator('[data-status="suspended"]').waitFor({ timeout: 30_000 });
    expect(await page.evaluate(() => (window as unknown as { __sameDocument?: boolean }).__sameDocument)).toBe(true);
    const [project] = (await sys.api('GET', '/v1/projects')).body.data;
    expect(project).toMatchObject({ slug: 'storefront-db', status: 'suspended' });

    // The detail view: facts, the job timeline, credentials on request.
    await row(page, 'storefront-db').getByRole('link', { name: 'Storefront DB' }).click();
    await page.getByRole('heading', { name: /Storefront DB/ }).waitFor();
    const timeline = page.getByRole('list', { name: 'Project timeline' });
    await timeline.locator('li[data-type="succeeded"]').nth(1).waitFor(); // provision and suspend both done
    await page.getByRole('button', { name: 'Reveal credentials' }).click();
    expect(await page.getByLabel('Connection string').inputValue()).toMatch(/^postgres:\/\/prj_/);
    await page.screenshot({ path: join(ARTIFACTS, 'project-detail-1280.png'), fullPage: true });

    // Every control is labelled.
    const unlabelled = await page.evaluate(() => [...document.querySelectorAll('input, select, button')]
      .filter((el) => !((el as HTMLElement).innerText?.trim() || el.getAttribute('aria-label') || (el.id && document.querySelector(`label[for="${el.id}"]`))))
      .map((el) => el.outerHTML));
    expect(unlabelled).toEqual([]);

    // Sign out; the key was never in a URL, and is gone from the tab.
    await page.getByRole('button', { name: 'Sign out' }).click();
    await page.getByLabel('API key').waitFor();
    expect(await page.evaluate(() => sessionStorage.length)).toBe(0);
    expect(urls.filter((u) => u.includes(sys.adminKey))).toEqual([]);
    expect(errors).toEqual([]);
    await page.context().close();
  });

  it('provisions a store to ready, reveals its credentials once, and fits a 390 px screen', async () => {
    const { page, errors } = await newPage(390, 844);
    await signIn(page, sys.adminKey);
    await page.getByRole('link', { name: 'Stores' }).click();
    await page.getByRole('heading', { name: 'Stores' }).waitFor();
    await page.getByLabel('Name').fill('web-shop');
    await page.getByLabel('Engine').selectOption('medusa');
    await page.getByRole('button', { name: 'Create store' }).click();
    const storeRow = page.locator('tr[data-name="web-shop"]');
    await storeRow.locator('[data-status="ready"]').waitFor({ timeout: 30_000 });
    // Nothing wider than the screen.
    expect(await page.evaluate(() => document.documentElement.scrollWidth)).toBeLessThanOrEqual(390);
    await page.screenshot({ path: join(ARTIFACTS, 'stores-390.png'), fullPage: true });

    await storeRow.getByRole('link', { name: 'web-shop' }).click();
    await page.getByRole('list', { name: 'Store timeline' }).locator('li[data-type="succeeded"]').waitFor();
    await page.getByRole('button', { name: /Reveal admin credentials/ }).click();
    expect((await page.getByLabel('admin password').inputValue()).length).toBeGreaterThanOrEqual(16);
    await page.getByRole('button', { name: /Reveal admin credentials/ }).waitFor({ state: 'detached' });
    expect(await page.evaluate(() => document.documentElement.scrollWidth)).toBeLessThanOrEqual(390);
    await page.screenshot({ path: join(ARTIFACTS, 'store-detail-390.png'), fullPage: true });

    // The projects table becomes cards on a narrow screen, still without overflow.
    await page.getByRole('link', { name: 'Projects' }).click();
    await page.locator('tr[data-slug="storefront-db"]').waitFor();
    expect(await page.evaluate(() => document.documentElement.scrollWidth)).toBeLessThanOrEqual(390);
    await page.screenshot({ path: join(ARTIFACTS, 'projects-390.png'), fullPage: true });
    expect(errors).toEqual([]);
    await page.context().close();

    const shots = await readdir(ARTIFACTS);
    expect(shots).toEqual(expect.arrayContaining(['projects-active-1280.png', 'stores-390.png']));
  });

  it('shows a rollout judged live: the list, canary against baseline, decisions as they come, a person\'s pause, and a backtest', async () => {
    const yaml = 'interval: 1s\nwindow: 3s\nmin_requests: 20\nsteps:\n  - {weight: 10, min_duration: 30s}\n  - {weight: 100}\nmetrics:\n  - {name: errors, kind: error_rate, max_increase: 10%, slack: 1%, on_breach: rollback}\n';
    expect((await sys.api('POST', '/v1/canary-policies', { body: { name: 'web', yaml } })).status).toBe(201);
    const projectId = (await sys.api('POST', '/v1/projects', { body: { name: 'Canary target' } })).body.project.id;
    const created = await sys.api('POST', '/v1/rollouts', { body: { project: projectId, service: 'checkout', baseline: { version: 'v41' }, canary: { version: 'v42' }, policy: 'web' } });
    expect(created.status).toBe(202);
    const id = created.body.rollout.id as string;
    let feeding = true;
    const feeder = (async () => {
      while (feeding) {
        const ts = new Date().toISOString();
        const res = await sys.api('POST', `/v1/rollouts/${id}/telemetry`, { body: { points: [{ ts, track: 'baseline', requests: 60, errors: 1 }, { ts, track: 'canary', requests: 20, errors: 0 }] } });
        if (res.status === 409) break;
        await new Promise((r) => setTimeout(r, 250));
      }
    })();
    try {
      const { page, errors } = await newPage();
      await signIn(page, sys.adminKey);
      await page.getByRole('link', { name: 'Rollouts' }).click();
      const listed = page.locator(`tr[data-id="${id}"]`);
      await listed.waitFor();
      expect(await listed.textContent()).toContain('v41');
      await listed.getByRole('link', { name: 'checkout' }).click();
      await page.getByRole('heading', { name: /checkout/ }).waitFor();
      expect(await page.getByTestId('step').textContent()).toContain('10% of traffic');
      // Decisions arrive live (no reload), each with its sentence and explanation.
      const timeline = page.getByRole('list', { name: 'Decision timeline' });
      await timeline.locator('li[data-verdict]').nth(1).waitFor({ timeout: 20_000 });
      expect(await timeline.locator('li[data-verdict]').first().locator('.sentence').textContent()).toMatch(/waiting|held/);
      await page.locator('figure[data-metric="errors"] svg[role="img"]').waitFor();
      expect(await page.locator('figure[data-metric="errors"] svg').getAttribute('aria-label')).toMatch(/canary .*%, baseline .*%/);
      await page.screenshot({ path: join(ARTIFACTS, 'rollout-detail-1280.png'), fullPage: true });

      // A person pauses it through the dialog; the page follows the status live.
      await page.getByRole('button', { name: 'Pause' }).click();
      await page.getByRole('dialog').getByRole('button', { name: 'Pause' }).click();
      await page.locator('h1 [data-status="paused"]').waitFor();
      expect((await sys.api('GET', `/v1/rollouts/${id}`)).body.rollout.status).toBe('paused');
      await page.getByRole('button', { name: 'Resume' }).waitFor();

      // Backtest a stricter policy version over the same telemetry.
      const strict = yaml.replace('min_requests: 20', 'min_requests: 100000');
      expect((await sys.api('POST', '/v1/canary-policies', { body: { name: 'web', yaml: strict } })).status).toBe(201);
      await page.getByLabel(/Policy \(/).fill('web@2');
      await page.getByRole('button', { name: /Replay/ }).click();
      await page.locator('.backtest-summary').waitFor();
      expect(await page.getByRole('table', { name: 'Backtest beside the real decisions' }).locator('tbody tr').count()).toBeGreaterThan(0);

      const unlabelled = await page.evaluate(() => [...document.querySelectorAll('input, select, button, textarea')]
        .filter((el) => !((el as HTMLElement).innerText?.trim() || el.getAttribute('aria-label') || (el.id && document.querySelector(`label[for="${el.id}"]`))))
        .map((el) => el.outerHTML));
      expect(unlabelled).toEqual([]);
      expect(errors).toEqual([]);
      await page.context().close();
    } finally {
      feeding = false;
      await feeder;
      await sys.api('POST', `/v1/rollouts/${id}/abort`);
    }
  }, 90_000);
});
