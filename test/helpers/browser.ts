/**
 * What the dashboard tests share: Debian's Chromium (or CHROMIUM_PATH), a fresh build of web/ for
 * the test system to serve, and the artifacts folder for screenshots.
 */
import { existsSync } from 'node:fs';
import { mkdir, mkdtemp } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { build } from 'vite';
import { chromium, type Browser } from 'playwright-core';

export const CHROMIUM = process.env.CHROMIUM_PATH ?? '/usr/bin/chromium';
export const ARTIFACTS = new URL('../artifacts/', import.meta.url).pathname;

/** Builds the dashboard into a temporary folder (for SWITCHYARD_WEB_DIR) and makes sure the artifacts folder exists. */
export async function buildWeb(): Promise<string> {
  if (!existsSync(CHROMIUM)) {
    throw new Error(`no Chromium at ${CHROMIUM}: install Debian's chromium (apt-get install chromium; .ci/run does) or set CHROMIUM_PATH`);
  }
  const webDir = await mkdtemp(join(tmpdir(), 'switchyard-web-'));
  await build({ configFile: new URL('../../web/vite.config.ts', import.meta.url).pathname, build: { outDir: webDir, emptyOutDir: true }, logLevel: 'silent' });
  await mkdir(ARTIFACTS, { recursive: true });
  return webDir;
}

export function launchChromium(): Promise<Browser> {
  return chromium.launch({
    executablePath: CHROMIUM,
    args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-background-networking', '--disable-component-update', '--no-first-run', '--disable-sync'],
  });
}
