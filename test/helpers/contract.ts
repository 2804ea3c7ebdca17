/**
 * The contract check: every answer a test sees through `createApi` is held against the app's own
 * OpenAPI document, so the document and the server can't drift apart. For the operation the
 * request matched, the answer's status must be documented, its media type and body must fit the
 * documented content (JSON Schema 2020-12, through Ajv), every API header it carries must be
 * declared on that response, and every header the document marks required must be there.
 */
import { Ajv2020, type ValidateFunction } from 'ajv/dist/2020.js';
import addFormatsModule from 'ajv-formats';
import { openApiDocument } from '../../web/scripts/gen-api.ts';

// ajv-formats is CommonJS with a default export.
const addFormats = (addFormatsModule as unknown as { default?: typeof addFormatsModule }).default ?? addFormatsModule;

/** Headers the API sends on purpose; each must be declared where it is sent. */
const API_HEADERS = [
  'location', 'link', 'ratelimit', 'ratelimit-policy', 'retry-after', 'x-request-id', 'idempotent-replayed',
  'api-version', 'deprecation', 'sunset', 'cache-control', 'www-authenticate',
];

type Schema = Record<string, unknown>;
interface MediaType { schema?: Schema }
interface Response { description?: string; headers?: Record<string, { required?: boolean } | { $ref: string }>; content?: Record<string, MediaType> }
interface Operation { operationId?: string; responses?: Record<string, Response> }
interface Doc { paths: Record<string, Record<string, Operation>>; components?: Record<string, unknown> }

interface Route { method: string; template: string; re: RegExp; literals: number; op: Operation }

export interface ContractCheck {
  /** Which operation a request is, or null when the document has none for it. */
  operation(method: string, path: string): Route | null;
  /** What is wrong with an answer, as sentences; empty when it keeps the contract. */
  violations(method: string, path: string, status: number, headers: Headers, bodyText: string): string[];
}

let checker: Promise<ContractCheck> | undefined;

export function contract(): Promise<ContractCheck> {
  return (checker ??= openApiDocument().then((doc) => build(doc as unknown as Doc)));
}

function build(doc: Doc): ContractCheck {
  const ajv = new Ajv2020({ strict: false, allErrors: true, validateFormats: true });
  addFormats(ajv);
  // One resource holding the components, so `#/components/schemas/X` resolves from any schema.
  ajv.addSchema({ $id: 'https://switchyard.local/openapi.json', components: doc.components ?? {} });
  const compiled = new Map<Schema, ValidateFunction>();
  const validatorOf = (schema: Schema): ValidateFunction => {
    let v = compiled.get(schema);
    if (!v) {
      const rebased = JSON.parse(JSON.stringify(schema).replaceAll('"#/components/', '"https://switchyard.local/openapi.json#/components/')) as Schema;
      v = ajv.compile(rebased);
      compiled.set(schema, v);
    }
    return v;
  };

  const resolve = <T>(v: T | { $ref: string }): T => {
    if (!v || typeof v !== 'object' || !('$ref' in v)) return v as T;
    const [, kind, name] = /^#\/components\/([^/]+)\/(.+)$/.exec(v.$ref) ?? [];
    const target = (doc.components as Record<string, Record<string, T>> | undefined)?.[kind!]?.[name!];
    if (!target) throw new Error(`the document refers to ${v.$ref}, which it lacks`);
    return target;
  };

  const routes: Route[] = [];
  for (const [template, item] of Object.entries(doc.paths)) {
    for (const [method, op] of Object.entries(item)) {
      if (!op || typeof op !== 'object' || !('responses' in op)) continue;
      const segments = template.split('/');
      const re = new RegExp(`^${segments.map((s) => (s.startsWith('{') ? '[^/]+' : s.replace(/[.+?^$()|[\]\\]/g, '\\$&'))).join('/')}$`);
      routes.push({ method: method.toUpperCase(), template, re, literals: segments.filter((s) => !s.startsWith('{')).length, op });
    }
  }
  // A literal segment beats a parameter (/v1/rollouts/{id}/backtest before /v1/rollouts/{id}/{action}).
  routes.sort((a, b) => b.literals - a.literals);

  const operation = (method: string, path: string): Route | null => {
    const bare = path.split('?')[0]!;
    const m = method.toUpperCase() === 'HEAD' ? 'GET' : method.toUpperCase();
    return routes.find((r) => r.method === m && r.re.test(bare)) ?? null;
  };

  return {
    operation,
    violations(method, path, status, headers, bodyText) {
      const route = operation(method, path);
      if (!route) return [];
      const name = `${route.method} ${route.template}`;
      const response = route.op.responses?.[String(status)] ?? route.op.responses?.[`${String(status)[0]}XX`] ?? route.op.responses?.default;
      if (!response) return [`${name}: status ${status} is not documented (documented: ${Object.keys(route.op.responses ?? {}).join(', ')})`];
      const out: string[] = [];
      const declared = new Map(Object.entries(response.headers ?? {}).map(([k, v]) => [k.toLowerCase(), resolve(v)]));
      for (const h of API_HEADERS) {
        if (headers.has(h) && !declared.has(h)) out.push(`${name} ${status}: header ${h} is sent but not declared`);
      }
      for (const [h, spec] of declared) {
        if (spec.required && !headers.has(h)) out.push(`${name} ${status}: declared required header ${h} is missing`);
      }
      const type = (headers.get('content-type') ?? '').split(';')[0]!.trim().toLowerCase();
      if (bodyText === '' || method.toUpperCase() === 'HEAD') {
        return out;
      }
      const media = response.content?.[type];
      if (!media) {
        out.push(`${name} ${status}: media type ${type || '(none)'} is not documented (documented: ${Object.keys(response.content ?? {}).join(', ') || 'no body'})`);
        return out;
      }
      if (!media.schema || !type.endsWith('json')) return out;
      let body: unknown;
      try {
        body = JSON.parse(bodyText);
      } catch {
        out.push(`${name} ${status}: the body is not JSON`);
        return out;
      }
      const validate = validatorOf(media.schema);
      if (!validate(body)) {
        const errors = (validate.errors ?? []).slice(0, 5).map((e) => `${e.instancePath || '(root)'} ${e.message ?? ''}${e.params && 'additionalProperty' in e.params ? ` (${String(e.params.additionalProperty)})` : ''}`);
        out.push(`${name} ${status}: the body does not fit the schema: ${errors.join('; ')}`);
      }
      return out;
    },
  };
}
