/**
 * The app in Deno (the `deno` npm package), through the Supabase Edge Functions entry and its
 * deno.json import map, resolving packages from node_modules (no downloads). Also the check that
 * the import map is pinned to the versions package.json installs.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { readFile } from 'node:fs/promises';
import { build } from 'esbuild';
import { mkdtemp } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { SignJWT } from 'jose';
import { FakeQStash } from '../fakes/qstash.ts';
import { startOtlpCollector, type OtlpCollector } from '../fakes/otlp-collector.ts';
import { startSentryFake, type SentryFake } from '../fakes/sentry.ts';
import { startRealtimeFake, type RealtimeFake } from '../fakes/supabase-realtime.ts';
import { freePort } from '../helpers/net.ts';
import { edgeVars, realtimeSmoke, seedDatabase, smokeFlow, startProcess, telemetryFlow, telemetryVars, waitForHttp, type Proc, type Seeded } from './harness.ts';

const ENTRY = 'supabase/functions/api/index.ts';
const DENO_JSON = 'supabase/functions/api/deno.json';

describe('the Deno import map', () => {
  it('pins every package to the version in package.json, and maps every package the app imports', async () => {
    const pkg = JSON.parse(await readFile('package.json', 'utf8'));
    const deno = JSON.parse(await readFile(DENO_JSON, 'utf8'));
    const drift: string[] = [];
    for (const [specifier, target] of Object.entries<string>(deno.imports)) {
      const m = /^npm:\/?((?:@[^/@]+\/)?[^/@]+)@([^/]+)\/?$/.exec(target);
      expect(m, `${specifier} → ${target} is not an npm:name@version specifier`).not.toBeNull();
      const [, name, version] = m!;
      const installed = pkg.dependencies[name!];
      if (installed !== version) drift.push(`${name}: deno.json ${version}, package.json ${installed ?? '(not a dependency)'}`);
    }
    expect(drift).toEqual([]);
    // Every package the entry reaches (found by bundling it, packages left external) has a mapping.
    const result = await build({ entryPoints: ['supabase/functions/api/index.ts'], bundle: true, write: false, metafile: true, packages: 'external', platform: 'neutral', format: 'esm', logLevel: 'silent' });
    const reached = new Set<string>();
    for (const input of Object.values(result.metafile!.inputs)) {
      for (const imp of input.imports) if (imp.external && !imp.path.startsWith('node:')) reached.add(imp.path);
    }
    expect(reached.size).toBeGreaterThan(5);
    const unmapped = [...reached].filter((spec) => !(spec in deno.imports) && !Object.keys(deno.imports).some((k) => k.endsWith('/') && spec.startsWith(k)));
    expect(unmapped, 'imports the Deno entry reaches without a deno.json mapping').toEqual([]);
  });
});

describe('supabase/config.toml', () => {
  it('turns off the platform JWT check for the function QStash and webhooks call', async () => {
    const toml = await readFile('supabase/config.toml', 'utf8');
    const section = /\[functions\.api\]([\s\S]*?)(?:\n\[|$)/.exec(toml)?.[1] ?? '';
    expect(section).toMatch(/^verify_jwt = false$/m);
    expect(section).toMatch(/^import_map = "\.\/functions\/api\/deno\.json"$/m);
  });
});

describe('Supabase Edge Functions (Deno)', () => {
  let fake: FakeQStash;
  let realtime: RealtimeFake;
  let seeded: Seeded;
  let deno: Proc;
  let collector: OtlpCollector;
  let sentry: SentryFake;
  const JWT_SECRET = 'deno-test-jwt-secret-of-at-least-32-characters';
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
    // As on Supabase: the function is reached under /api, and QStash calls /api/workers/*.
    base = `http://127.0.0.1:${port}/api`;
    deno = startProcess('node_modules/.bin/deno', [
      'run', '--node-modules-dir=manual', '--config', DENO_JSON,
      '--allow-net', '--allow-env', '--allow-read', '--allow-sys', ENTRY,
    ], {
      ...edgeVars(fake, base),
      ...telemetryVars(collector, sentry),
      SUPABASE_DB_URL: seeded.databaseUrl, // what Supabase provides to every function
      SUPABASE_URL: realtime.url, // so are these two
      SUPABASE_ANON_KEY: anonKey,
      SUPABASE_JWT_SECRET: JWT_SECRET,
      PORT: String(port),
      HOST: '127.0.0.1',
      DENO_DIR: await mkdtemp(join(tmpdir(), 'switchyard-deno-')),
      NO_COLOR: '1',
    });
    await waitForHttp(`${base}/healthz`, deno, 90_000);
  }, 120_000);

  afterAll(async () => {
    if (process.env.SHOW_RUNTIME_OUTPUT) console.log(deno?.output());
    await deno?.stop();
    await fake?.close();
    await realtime?.close();
    await collector?.close();
    await sentry?.close();
    await seeded?.db.close();
  });

  it('type-checks under Deno', async () => {
    const check = startProcess('node_modules/.bin/deno', ['check', '--node-modules-dir=manual', '--config', DENO_JSON, ENTRY], { NO_COLOR: '1' });
    const code = await new Promise<number | null>((r) => check.child.once('exit', r));
    expect(code, check.output()).toBe(0);
  }, 60_000);

  it('runs the smoke flow: 202, a signed QStash delivery to the function, project active', async () => {
    await smokeFlow(base, seeded, fake);
    // Nothing was fetched from the registry: node_modules served every import.
    expect(deno.output()).not.toMatch(/Download/);
  }, 60_000);

  it('pushes status changes through Supabase Realtime: a token from the function, the real supabase-js, provisioning → active', async () => {
    await realtimeSmoke(base, seeded, realtime.url);
  }, 60_000);

  it('pushes its metrics and spans over OTLP and its 500s to Sentry with the Deno SDK, flushed after each response', async () => {
    await telemetryFlow(base, seeded, collector, sentry, 'deno');
  }, 90_000);
});
