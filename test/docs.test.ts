/**
 * /docs in a real Chromium with the network cut off: the explorer renders every operation of
 * /openapi.json from our own files, asks for nothing outside this origin, and its try-it calls the
 * API with a key pasted into Authorize.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { existsSync } from 'node:fs';
import { chromium, type Browser } from 'playwright-core';
import { createTenant, startTestSystem, type TestSystem } from './helpers/system.ts';

const CHROMIUM = process.env.CHROMIUM_PATH ?? '/usr/bin/chromium';
let sys: TestSystem;
let browser: Browser;

beforeAll(async () => {
  if (!existsSync(CHROMIUM)) throw new Error(`no Chromium at ${CHROMIUM}: install Debian's chromium (apt-get install chromium; .ci/run does) or set CHROMIUM_PATH`);
  sys = await startTestSystem();
  browser = await chromium.launch({
    executablePath: CHROMIUM,
    args: [
      '--headless', '--no-sandbox', '--disable-gpu', '--disable-background-networking', '--disable-component-update', '--no-first-run', '--disable-sync',
      // The network is cut: every name but this machine's resolves to nothing.
      '--host-resolver-rules=MAP * ~NOTFOUND, EXCLUDE 127.0.0.1',
    ],
  });
}, 120_000);
afterAll(async () => {
  await browser?.close();
  await sys?.stop();
});

describe('/docs', () => {
  it('renders every operation offline, from our own assets only, and tries one with a pasted key', async () => {
    const { key, tenantId } = await createTenant(sys, 'docs');
    const context = await browser.newContext({ viewport: { width: 1280, height: 900 } });
    const page = await context.newPage();
    const origin = new URL(sys.url).origin;
    const foreign: string[] = [];
    const errors: string[] = [];
    // Anything for another origin is refused and remembered (none may be asked for).
    await context.route('**/*', (route) => {
      const url = route.request().url();
      if (url.startsWith(origin) || url.startsWith('data:')) return route.continue();
      foreign.push(url);
      return route.abort('internetdisconnected');
    });
    page.on('pageerror', (e) => errors.push(String(e)));
    page.on('console', (m) => { if (m.type() === 'error') errors.push(m.text()); });

    const res = await page.goto(`${sys.url}/docs`);
    expect(res?.status()).toBe(200);
    expect(res?.headers()['content-security-policy']).toContain("connect-src 'self'");
    const doc = await (await fetch(`${sys.url}/openapi.json`)).json() as { paths: Record<string, Record<string, unknown>>; webhooks: Record<string, Record<string, unknown>> };
    // The operations, and the outbound webhooks (shown as operations too).
    const operations = [...Object.values(doc.paths), ...Object.values(doc.webhooks)].reduce((n, item) => n + Object.keys(item).length, 0);
    await page.locator('.opblock').first().waitFor({ timeout: 30_000 });
    expect(await page.locator('.opblock').count()).toBe(operations);

    // Authorize with the pasted key, then try GET /v1/me.
    await page.locator('.auth-wrapper button.authorize').click();
    const dialog = page.locator('.modal-ux');
    // The first scheme is the bearer key (the event token is the second).
    const bearer = dialog.locator('.auth-container').first();
    await bearer.locator('input').first().fill(key);
    await bearer.locator('button.authorize').click();
    await dialog.locator('button.btn-done').first().click();

    const op = page.locator('#operations-api_keys-getMe');
    await op.locator('.opblock-summary').click();
    await op.getByRole('button', { name: /try it out/i }).click();
    const answer = page.waitForResponse((r) => r.url() === `${origin}/v1/me`);
    await op.getByRole('button', { name: /execute/i }).click();
    const me = await answer;
    expect(me.status()).toBe(200);
    expect(me.request().headers().authorization).toBe(`Bearer ${key}`);
    const shown = op.locator('.live-responses-table tr.response .response-col_status').first();
    await shown.waitFor();
    expect((await shown.innerText()).trim()).toMatch(/^200/);
    expect(await op.locator('.live-responses-table').innerText()).toContain(tenantId);

    expect(foreign).toEqual([]);
    expect(errors).toEqual([]);
    await context.close();
  }, 120_000);

  it('serves only its own assets', async () => {
    expect((await fetch(`${sys.url}/docs/swagger-ui-bundle.js`)).headers.get('content-type')).toMatch(/javascript/);
    expect((await fetch(`${sys.url}/docs/../package.json`)).status).not.toBe(200);
    expect((await fetch(`${sys.url}/docs/package.json`)).status).toBe(404);
  });
});
