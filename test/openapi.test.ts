/**
 * The document tells the whole truth: Redocly's recommended rules pass with no error and no
 * warning, every operation declares its id and security, and every answer the suite sees through
 * createApi is checked against it (test/helpers/contract.ts). The checker is tested here too: it
 * must catch an answer that breaks the document, or its silence would prove nothing.
 */
import { execFile } from 'node:child_process';
import { mkdtemp, readFile, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { describe, expect, it } from 'vitest';
import { OPERATIONS_FILE, SCHEMA_FILE, openApiDocument, renderOperations, renderSchema } from '../web/scripts/gen-api.ts';
import { contract } from './helpers/contract.ts';

const run = promisify(execFile);

describe('the OpenAPI document', () => {
  it('passes redocly lint with the recommended rules: no errors, no warnings', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'switchyard-openapi-'));
    const file = join(dir, 'openapi.json');
    await writeFile(file, JSON.stringify(await openApiDocument(), null, 2));
    const cli = join(process.cwd(), 'node_modules/@redocly/cli/bin/cli.js');
    const { stdout } = await run(process.execPath, [cli, 'lint', file, '--config', join(process.cwd(), 'redocly.yaml'), '--format=json'], {
      env: { ...process.env, REDOCLY_TELEMETRY: 'off', NO_COLOR: '1' },
      maxBuffer: 64 * 1024 * 1024,
    }).catch((err: { stdout?: string; stderr?: string }) => {
      throw new Error(`redocly lint failed:\n${err.stdout ?? ''}\n${err.stderr ?? ''}`);
    });
    const report = JSON.parse(stdout.slice(stdout.indexOf('{'))) as { totals: { errors: number; warnings: number }; problems: { ruleId: string; message: string }[] };
    expect(report.problems.map((p) => `${p.ruleId}: ${p.message}`)).toEqual([]);
    expect(report.totals).toMatchObject({ errors: 0, warnings: 0 });
  }, 120_000);

  it('gives every operation an id, its security, its shared answers and headers; describes the stream and the outbound webhooks', async () => {
    const doc = await openApiDocument() as any;
    expect(doc.servers).toHaveLength(1);
    const ops = Object.entries(doc.paths as Record<string, Record<string, any>>).flatMap(([path, item]) => Object.entries(item).map(([method, op]) => ({ path, method, op })));
    expect(new Set(ops.map((o) => o.op.operationId)).size).toBe(ops.length);
    for (const { path, method, op } of ops) {
      const name = `${method} ${path}`;
      expect(op.security, name).toBeDefined();
      if (!path.startsWith('/v1/')) continue;
      expect(Object.keys(op.responses), name).toEqual(expect.arrayContaining(['429', '500', '503']));
      for (const [status, r] of Object.entries(op.responses as Record<string, any>)) {
        expect(Object.keys(r.headers), `${name} ${status}`).toEqual(expect.arrayContaining(['X-Request-Id', 'Cache-Control', 'RateLimit', 'RateLimit-Policy', 'API-Version']));
      }
      if (op.security.length > 0) expect(op.responses['401'].headers['WWW-Authenticate'], name).toBeDefined();
      if (op.requestBody) expect(op.responses['413'], name).toBeDefined();
    }
    expect(doc.paths['/v1/webhooks/render/{sourceId}'].post.security).toEqual([]);
    expect(doc.paths['/v1/webhooks/render/{sourceId}'].post.parameters.map((p: any) => p.name)).toEqual(expect.arrayContaining(['webhook-id', 'webhook-timestamp', 'webhook-signature']));
    expect(doc.paths['/v1/events'].get.security).toEqual([{ bearer: [] }, { eventToken: [] }]);
    expect(doc.paths['/v1/events'].get.parameters.map((p: any) => p.name)).toContain('Last-Event-ID');
    const frames = doc.paths['/v1/events'].get.responses['200'].content['text/event-stream'].schema.oneOf;
    expect(frames.map((f: any) => f.properties.event.const).sort()).toEqual(['audit', 'decision', 'job', 'log', 'status']);
    expect(Object.keys(doc.webhooks).sort()).toEqual(['alert.fired', 'rollout.decision']);
    expect(doc.paths['/v1/projects'].post.responses['202'].headers.Location).toBeDefined();
  });

  // Here, not beside the SDK's own tests: rendering blocks the event loop for a second or more on a
  // loaded machine, which a test system in the same process would take for a database outage.
  it('is what the SDK was generated from: regenerating gives the committed files', async () => {
    expect(await renderSchema(), 'sdk/src/schema.d.ts is stale: run npm run gen:api').toBe(await readFile(SCHEMA_FILE, 'utf8'));
    expect(await renderOperations(), 'sdk/src/operations.ts is stale: run npm run gen:api').toBe(await readFile(OPERATIONS_FILE, 'utf8'));
  });

  it('the contract check catches an answer that breaks the document', async () => {
    const check = await contract();
    const ok = new Headers({ 'content-type': 'application/json', 'x-request-id': 'req_1', 'cache-control': 'no-store' });
    const job = { id: 'job_1', kind: 'project.provision', status: 'queued', subject: null, attempts: 0, max_attempts: 5, steps: 0, run_at: 'x', last_error: null, result: null, created_at: 'x', updated_at: 'x', finished_at: null };
    expect(check.operation('GET', '/v1/jobs/job_01jd2x3y4z5a6b7c8d9e0f1g2h?x=1')?.template).toBe('/v1/jobs/{id}');
    expect(check.operation('POST', '/v1/rollouts/rol_01jd2x3y4z5a6b7c8d9e0f1g2h/backtest')?.template).toBe('/v1/rollouts/{id}/backtest');
    expect(check.violations('GET', '/v1/jobs/job_1', 200, ok, JSON.stringify({ job: { ...job, events: [] } }))).toEqual([]);
    // A status the operation doesn't document.
    expect(check.violations('GET', '/v1/jobs/job_1', 418, ok, '')).toEqual([expect.stringContaining('status 418 is not documented')]);
    // A body missing a required member.
    const { status: _, ...noStatus } = job;
    expect(check.violations('GET', '/v1/jobs/job_1', 200, ok, JSON.stringify({ job: { ...noStatus, events: [] } })).join()).toMatch(/does not fit the schema/);
    // A header the response doesn't declare, and a required one missing.
    expect(check.violations('GET', '/v1/jobs/job_1', 200, new Headers({ ...Object.fromEntries(ok), location: '/x' }), JSON.stringify({ job: { ...job, events: [] } }))).toEqual([expect.stringContaining('header location is sent but not declared')]);
    expect(check.violations('POST', '/v1/projects', 202, ok, JSON.stringify({}))).toEqual(expect.arrayContaining([expect.stringContaining('required header location is missing')]));
    // A media type it doesn't document.
    expect(check.violations('GET', '/v1/jobs/job_1', 200, new Headers({ ...Object.fromEntries(ok), 'content-type': 'text/html' }), '<p>')).toEqual([expect.stringContaining('media type text/html')]);
  });
});
