/**
 * Test helpers: a fresh database cloned from the migrated template, the real system booted on it
 * (API on a random port, local runner), and a small HTTP client.
 */
import { inject } from 'vitest';
import { mkdtemp } from 'node:fs/promises';
import { appendFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import postgres from 'postgres';
import { parseConfig } from '../../core/env.ts';
import { startSwitchyard, type Running, type StartOptions } from '../../functions/entry/server.ts';
import { createLogger } from '../../core/log.ts';
import { contract } from './contract.ts';

export const TEMPLATE_DB = 'switchyard_template';

export function serverUrl(): string {
  return inject('pgUrl');
}

export function dbUrl(name: string): string {
  const u = new URL(serverUrl());
  u.pathname = `/${name}`;
  return u.toString();
}

export async function databaseExists(name: string): Promise<boolean> {
  const admin = postgres(serverUrl(), { max: 1, onnotice: () => {} });
  try {
    return (await admin`select 1 from pg_database where datname = ${name}`).length > 0;
  } finally {
    await admin.end();
  }
}

/**
 * A new database cloned from the migrated template; `supabase: true` clones the one shaped like a
 * Supabase project's (test/fixtures/supabase-realtime.sql), in UTC as Supabase's databases are.
 */
export async function createTestDatabase(opts: { supabase?: boolean } = {}): Promise<string> {
  const name = `t_${Date.now().toString(36)}_${Math.random().toString(36).slice(2, 8)}`;
  const template = opts.supabase ? 'switchyard_supabase_template' : TEMPLATE_DB;
  const admin = postgres(serverUrl(), { max: 1, onnotice: () => {} });
  try {
    // Cloning needs the template to have no other sessions; retry briefly if another file is cloning.
    for (let i = 0; ; i++) {
      try {
        await admin.unsafe(`create database ${name} template ${template}`);
        break;
      } catch (err) {
        if (i > 50 || (err as { code?: string }).code !== '55006') throw err;
        await new Promise((r) => setTimeout(r, 100));
      }
    }
    if (opts.supabase) await admin.unsafe(`alter database ${name} set timezone to 'UTC'`);
  } finally {
    await admin.end();
  }
  return dbUrl(name);
}

export interface TestSystem extends Running {
  url: string;
  adminKey: string;
  api: Api;
}

export const ROOMY_RATE_LIMITS = {
  SWITCHYARD_RATE_LIMIT_PLANS: 'free=1000000/100000,pro=1000000/100000,enterprise=1000000/100000',
  SWITCHYARD_RATE_LIMIT_CLASSES: 'log-pulls=100000/10000,backtests=100000/10000,tokens=100000/10000,webhooks=100000/10000,unauthenticated=100000/10000',
};

export async function startTestSystem(env: Record<string, string> = {}, opts: StartOptions = {}): Promise<TestSystem> {
  const databaseUrl = env.DATABASE_URL ?? (await createTestDatabase());
  const dataDir = await mkdtemp(join(tmpdir(), 'switchyard-sys-'));
  const config = parseConfig({
    DATABASE_URL: databaseUrl,
    SWITCHYARD_DATA_DIR: dataDir,
    PORT: '0',
    SWITCHYARD_POLL_INTERVAL_MS: '200',
    SWITCHYARD_SWEEP_INTERVAL_MS: '500',
    SWITCHYARD_RETRY_BASE_MS: '50',
    SWITCHYARD_RETRY_MAX_MS: '200',
    SWITCHYARD_SHUTDOWN_GRACE_MS: '2000',
    SWITCHYARD_SSE_HEARTBEAT_MS: '1000',
    // Breakers probe sooner, as retries come sooner (RETRY_BASE_MS above).
    SWITCHYARD_BREAKER_HALF_OPEN_MS: '1000',
    // Watching live projects makes jobs of its own; the tests of it turn it on.
    SWITCHYARD_PROJECT_HEALTH_INTERVAL_S: '0',
    SWITCHYARD_PROJECT_METRICS_INTERVAL_S: '0',
    // Rate limits stay on, roomy enough for suites that send thousands of requests; the limits
    // themselves are tested with the real tiers (test/rate-limits.test.ts).
    ...ROOMY_RATE_LIMITS,
    LOG_LEVEL: 'silent',
    ...env,
  });
  // The contract check's document is built before the server starts: building it takes the event
  // loop for a moment, which the server's database deadline would otherwise count against it.
  await contract();
  const running = await startSwitchyard(config, { log: createLogger(config.LOG_LEVEL), ...opts });
  return { ...running, url: running.url ?? '', adminKey: running.adminKey!, api: createApi(running.url ?? '', running.adminKey!) };
}

export interface ApiResponse<T = any> {
  status: number;
  headers: Headers;
  body: T;
}

export type Api = <T = any>(method: string, path: string, opts?: { body?: unknown; raw?: string; key?: string | null; headers?: Record<string, string> }) => Promise<ApiResponse<T>>;

export function createApi(base: string, defaultKey: string): Api {
  return async (method, path, opts = {}) => {
    const headers: Record<string, string> = { ...opts.headers };
    const key = opts.key === undefined ? defaultKey : opts.key;
    if (key) headers.Authorization = `Bearer ${key}`;
    let body: string | undefined;
    if (opts.raw !== undefined) body = opts.raw;
    else if (opts.body !== undefined) body = JSON.stringify(opts.body);
    if (body !== undefined) headers['Content-Type'] ??= 'application/json';
    const res = await fetch(`${base}${path}`, { method, headers, body });
    const text = await res.text();
    let parsed: unknown = text;
    try {
      parsed = text ? JSON.parse(text) : null;
    } catch {
      // keep text
    }
    // Every answer is held against the document (test/helpers/contract.ts).
    const violations = (await contract()).violations(method, path, res.status, res.headers, text);
    if (violations.length > 0) {
      if (process.env.SWITCHYARD_CONTRACT_LOG) appendFileSync(process.env.SWITCHYARD_CONTRACT_LOG, `${violations.join('\n')}\n`);
      else throw new Error(`the answer breaks the OpenAPI document:\n${violations.join('\n')}`);
    }
    return { status: res.status, headers: res.headers, body: parsed as never };
  };
}

/** Polls until `check` returns a truthy value or the time runs out. */
export async function waitFor<T>(check: () => Promise<T | null | undefined | false>, timeoutMs = 15_000, what = 'condition'): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const v = await check();
    if (v) return v;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

/** Creates a tenant through the operator API and returns its admin key. */
export async function createTenant(sys: TestSystem, name = 'acme'): Promise<{ tenantId: string; key: string; api: Api }> {
  const res = await sys.api('POST', '/v1/tenants', { body: { name, plan: 'pro' } });
  if (res.status !== 201) throw new Error(`tenant create failed: ${res.status} ${JSON.stringify(res.body)}`);
  return { tenantId: res.body.tenant.id, key: res.body.api_key.secret, api: createApi(sys.url, res.body.api_key.secret) };
}

/** The single row of a query that must return one. */
export async function one<T = any>(rows: Promise<readonly T[]> | readonly T[]): Promise<T> {
  const r = await rows;
  if (r.length !== 1) throw new Error(`expected one row, got ${r.length}`);
  return r[0]!;
}
