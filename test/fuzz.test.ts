/**
 * Property-based requests for every operation in the app's own OpenAPI document (fast-check,
 * seeded, shrinking): path ids that exist, belong to another tenant or are garbage; query
 * parameters and bodies drawn from each schema, broken on purpose some of the time (wrong types,
 * unknown fields, hostile strings, raw non-JSON). Whatever is sent: no 5xx, every error is
 * problem+json whose status the document lists for that operation, and a refused request writes
 * nothing. FUZZ_SEED and FUZZ_RUNS override the seed and the total.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { createTenant, startTestSystem, type TestSystem } from './helpers/system.ts';

const SEED = Number(process.env.FUZZ_SEED ?? 20261201);
const TOTAL_RUNS = Number(process.env.FUZZ_RUNS ?? 5000);

type Schema = Record<string, any>;
interface Operation {
  method: string;
  path: string;
  op: Schema;
}

let sys: TestSystem;
let doc: Schema;
let key: string;
const ids: Record<string, string[]> = {};

const HOSTILE_STRINGS = ['', ' ', '\u0000', 'a\u0000b', '\ud800', '\udfff', 'x'.repeat(5000), '../../etc/passwd', "' or 1=1 --", '<script>', '%00', '０', '\u202e', '😀', '-1', '1e309', 'null', 'prj_', 'true'];

beforeAll(async () => {
  // API only: no runner or sweeper writes in the background, so "nothing written" can be checked.
  sys = await startTestSystem({ SWITCHYARD_ROLE: 'api', SWITCHYARD_STORE_CREATES_PER_MIN: '1000', SWITCHYARD_ALERT_ALLOW_PRIVATE_URLS: 'true' });
  doc = await (await fetch(`${sys.url}/openapi.json`)).json();
  const a = await createTenant(sys, 'fuzzed');
  key = a.key;
  const b = await createTenant(sys, 'bystander');
  const project = (await a.api('POST', '/v1/projects', { body: { name: 'fuzz target' } })).body;
  const theirs = (await b.api('POST', '/v1/projects', { body: { name: 'not yours' } })).body;
  const store = (await a.api('POST', '/v1/stores', { body: { name: 'fuzzshop', engine: 'medusa' } })).body;
  const source = (await a.api('POST', `/v1/projects/${project.project.id}/log-sources`, { body: { provider: 'sentry', config: { organization: 'acme', project: 'web' }, credentials: { webhook_secret: 'fuzz-secret-123' } } })).body;
  const rule = (await a.api('POST', '/v1/alert-rules', { body: { project: project.project.id, name: 'r', threshold: 1, window: '1m', channel: { type: 'webhook', url: 'https://hooks.example.com/x' } } })).body;
  const apiKey = (await a.api('POST', '/v1/api-keys', { body: { name: 'fuzz', role: 'viewer' } })).body;
  ids.prj = [project.project.id, theirs.project.id];
  ids.job = [project.job.id, theirs.job.id];
  ids.sto = [store.store.id];
  ids.src = [source.log_source.id];
  ids.alr = [rule.alert_rule.id];
  ids.key = [apiKey.api_key.id];
  ids.ten = [a.tenantId, b.tenantId];
});

afterAll(async () => {
  await sys?.stop();
});

function resolve(s: Schema | undefined): Schema {
  let out = s ?? {};
  for (let i = 0; out.$ref && i < 10; i++) out = doc.components.schemas[String(out.$ref).split('/').pop()!] ?? {};
  return out;
}

function hostile(): fc.Arbitrary<unknown> {
  return fc.oneof(fc.constantFrom(...HOSTILE_STRINGS), fc.string({ unit: 'binary', maxLength: 40 }), fc.integer(), fc.double(), fc.boolean(), fc.constant(null), fc.jsonValue({ maxDepth: 2 }));
}

/** A value for `schema`: usually valid, sometimes hostile. */
function fromSchema(s: Schema | undefined, depth = 0): fc.Arbitrary<unknown> {
  const schema = resolve(s);
  const valid = validFor(schema, depth);
  return fc.oneof({ weight: 4, arbitrary: valid }, { weight: 1, arbitrary: hostile() });
}

function validFor(schema: Schema, depth: number): fc.Arbitrary<unknown> {
  if (depth > 4) return fc.constant(null);
  const variants = schema.oneOf ?? schema.anyOf;
  if (variants) return fc.oneof(...variants.map((v: Schema) => fromSchema(v, depth + 1)));
  if (schema.enum) return fc.constantFrom(...schema.enum);
  if (schema.const !== undefined) return fc.constant(schema.const);
  const type = Array.isArray(schema.type) ? schema.type.find((t: string) => t !== 'null') : schema.type;
  switch (type) {
    case 'string':
      if (schema.pattern) {
        try {
          return fc.stringMatching(new RegExp(schema.pattern)).filter((v) => v.length <= (schema.maxLength ?? 1000));
        } catch {
          // a pattern JS can't compile: fall through
        }
      }
      if (schema.format === 'date-time') return fc.date({ min: new Date('1970-01-01'), max: new Date('2100-01-01'), noInvalidDate: true }).map((d) => d.toISOString());
      if (schema.format === 'uri') return fc.webUrl();
      return fc.string({ minLength: schema.minLength ?? 0, maxLength: Math.min(schema.maxLength ?? 60, 60) });
    case 'integer':
      return fc.integer({ min: schema.minimum ?? -5, max: schema.maximum ?? 100_000 });
    case 'number':
      return fc.double({ min: schema.minimum ?? -1e6, max: schema.maximum ?? 1e6, noNaN: true });
    case 'boolean':
      return fc.boolean();
    case 'array':
      return fc.array(fromSchema(schema.items, depth + 1), { maxLength: 4 });
    case 'object': {
      const props = schema.properties ?? {};
      const record: Record<string, fc.Arbitrary<unknown>> = {};
      for (const [k, v] of Object.entries(props)) record[k] = fromSchema(v as Schema, depth + 1);
      const required = (schema.required ?? []) as string[];
      const base = fc.record(record, { requiredKeys: required.filter((k) => k in record) });
      // Sometimes a field the schema doesn't name.
      return fc.tuple(base, fc.option(fc.tuple(fc.string({ maxLength: 10 }), hostile()), { freq: 5 })).map(([o, extra]) => (extra ? { ...o, [extra[0] || 'extra']: extra[1] } : o));
    }
    default:
      return fc.jsonValue({ maxDepth: 2 });
  }
}

function pathValue(name: string, schema: Schema): fc.Arbitrary<string> {
  const pattern = String(resolve(schema).pattern ?? '');
  const prefix = /\^(\w{3})_/.exec(pattern)?.[1] ?? (name === 'sid' ? 'src' : name === 'did' ? 'whd' : 'prj');
  const known = ids[prefix] ?? [];
  return fc.oneof(
    { weight: 4, arbitrary: known.length ? fc.constantFrom(...known) : fc.constant(`${prefix}_00000000000000000000000000`) },
    { weight: 1, arbitrary: fc.constant(`${prefix}_00000000000000000000000000`) },
    { weight: 1, arbitrary: fc.constantFrom('x', '%00', '..', 'prj_', '%F0%9F%98%80', 'a'.repeat(300)) },
  );
}

/** encodeURIComponent, but a lone surrogate is sent as the bytes a careless client would send (WTF-8), not refused here. */
function encode(s: string): string {
  return s.replace(/[\ud800-\udfff]/g, (ch) => `\u0000${ch.charCodeAt(0).toString(16)}\u0000`).split('\u0000')
    .map((part, i) => (i % 2 === 1 ? wtf8(parseInt(part, 16)) : encodeURIComponent(part))).join('');
}

function wtf8(code: number): string {
  return [0xe0 | (code >> 12), 0x80 | ((code >> 6) & 0x3f), 0x80 | (code & 0x3f)].map((b) => `%${b.toString(16).toUpperCase()}`).join('');
}

function operations(): Operation[] {
  const out: Operation[] = [];
  for (const [path, item] of Object.entries(doc.paths as Record<string, Schema>)) {
    for (const method of ['get', 'post', 'put', 'patch', 'delete']) {
      if (item[method]) out.push({ method: method.toUpperCase(), path, op: item[method] });
    }
  }
  return out;
}

interface Input {
  params: Record<string, string>;
  query: [string, unknown][];
  body: { kind: 'json'; value: unknown } | { kind: 'raw'; value: string } | { kind: 'none' };
}

function inputFor(o: Operation): fc.Arbitrary<Input> {
  const parameters = (o.op.parameters ?? []) as Schema[];
  const params: Record<string, fc.Arbitrary<string>> = {};
  for (const p of parameters.filter((p) => p.in === 'path')) params[p.name] = pathValue(p.name, p.schema);
  const queryParams = parameters.filter((p) => p.in === 'query');
  const query = fc.array(fc.oneof(
    ...(queryParams.length ? [fc.constantFrom(...queryParams).chain((p) => fromSchema(p.schema).map((v) => [p.name, v] as [string, unknown]))] : []),
    fc.tuple(fc.string({ maxLength: 8 }), hostile()),
  ), { maxLength: 4 });
  const bodySchema = o.op.requestBody?.content?.['application/json']?.schema;
  const body: fc.Arbitrary<Input['body']> = bodySchema
    ? fc.oneof(
      { weight: 6, arbitrary: fromSchema(bodySchema).map((value) => ({ kind: 'json' as const, value })) },
      { weight: 1, arbitrary: fc.constantFrom('{"name":', '[1,2', 'not json', '', '{"name":"\\u0000"}', '{"a":1e99999}').map((value) => ({ kind: 'raw' as const, value })) },
    )
    : fc.constant({ kind: 'none' as const });
  return fc.record({ params: fc.record(params), query, body });
}

async function writes(): Promise<string> {
  const [row] = await sys.db.sql`
    select (select count(*) from tenants) t, (select count(*) from api_keys) k, (select count(*) from api_keys where revoked_at is not null) kr,
           (select count(*) from projects) p, (select max(updated_at) from projects) pu, (select count(*) from jobs) j, (select max(updated_at) from jobs) ju,
           (select count(*) from stores) s, (select max(updated_at) from stores) su, (select count(*) from idempotency_keys) i,
           (select count(*) from log_sources) l, (select count(*) from alert_rules) a, (select count(*) from alert_rules where deleted_at is not null) ad,
           (select count(*) from webhook_deliveries) w, (select count(*) from job_events) je`;
  return JSON.stringify(row);
}

function documented(o: Operation, status: number): boolean {
  const responses = Object.keys(o.op.responses ?? {});
  return responses.includes(String(status)) || responses.includes(`${String(status)[0]}XX`) || responses.includes('default');
}

describe('fuzzing every operation of the OpenAPI document', () => {
  it(`sends ${TOTAL_RUNS} generated requests: no 5xx, documented problem+json errors, nothing written when refused`, async () => {
    const ops = operations().filter((o) => !o.path.startsWith('/workers/'));
    expect(ops.length).toBeGreaterThan(25);
    const perOp = Math.max(20, Math.ceil(TOTAL_RUNS / ops.length));
    let sent = 0;
    const undocumented = new Set<string>();
    const statuses = new Map<number, number>();
    for (const o of ops) {
      await fc.assert(fc.asyncProperty(inputFor(o), async (input) => {
        let path = o.path;
        for (const [k, v] of Object.entries(input.params)) path = path.replace(`{${k}}`, v);
        const qs = input.query.map(([k, v]) => `${encode(k)}=${encode(typeof v === 'string' ? v : JSON.stringify(v) ?? '')}`).join('&');
        const before = o.method === 'GET' ? null : await writes();
        const headers: Record<string, string> = { Authorization: `Bearer ${key}` };
        let body: string | undefined;
        if (input.body.kind !== 'none') {
          headers['Content-Type'] = 'application/json';
          body = input.body.kind === 'json' ? JSON.stringify(input.body.value) ?? 'null' : input.body.value;
        }
        const controller = new AbortController();
        const res = await fetch(`${sys.url}${path}${qs ? `?${qs}` : ''}`, { method: o.method, headers, body, signal: controller.signal });
        sent++;
        statuses.set(res.status, (statuses.get(res.status) ?? 0) + 1);
        if ((res.headers.get('content-type') ?? '').includes('text/event-stream')) {
          controller.abort();
          return;
        }
        const text = await res.text();
        const where = `${o.method} ${path}?${qs} ${body ?? ''} → ${res.status} ${text.slice(0, 300)}`;
        expect(res.status, where).toBeLessThan(500);
        if (res.status >= 400) {
          expect(res.headers.get('content-type'), where).toContain('application/problem+json');
          expect(JSON.parse(text).status, where).toBe(res.status);
          if (!documented(o, res.status)) undocumented.add(`${o.method} ${o.path} ${res.status}`);
          if (before !== null) expect(await writes(), `a refused request wrote: ${where}`).toBe(before);
        }
      }), { seed: SEED, numRuns: perOp, endOnFailure: true });
    }
    console.log('fuzz answers by status:', JSON.stringify(Object.fromEntries([...statuses].sort((a, b) => a[0] - b[0]))));
    // Valid requests must get through too, or the fuzz only ever tests the validator.
    expect([...statuses].filter(([s]) => s < 300).reduce((n, [, c]) => n + c, 0)).toBeGreaterThan(TOTAL_RUNS / 10);
    if (undocumented.size) console.log('undocumented:', JSON.stringify([...undocumented].sort()));
    expect([...undocumented].sort(), 'statuses answered but not in the document').toEqual([]);
    expect(sent).toBeGreaterThanOrEqual(TOTAL_RUNS);
  }, 600_000);
});
