/**
 * The whole truth in /openapi.json. The routes describe their own requests, successes and the
 * errors only they give; this module adds what the layers in front of every route do, so the
 * document says it once and the same way everywhere:
 *
 * - security per operation (an API key; an API key or an event token on the SSE stream; none on
 *   signed webhooks and /versions), servers, and the outbound notifications in `webhooks`;
 * - the answers any operation can give: 400 (text Postgres can't store, an unknown API-Version),
 *   401 with WWW-Authenticate, 404 for an id in the path, 409/422 where an Idempotency-Key is
 *   taken, 413 for a body, 429 with Retry-After, 500, 503 with Retry-After;
 * - the headers every answer carries (X-Request-Id, Cache-Control, RateLimit, RateLimit-Policy,
 *   API-Version, Deprecation, Sunset, Link) and Idempotent-Replayed on idempotent successes;
 * - both response shapes of every dated version (core/api-versions.ts);
 * - the SSE stream's frames and each event's payload.
 *
 * test/helpers/contract.ts holds every answer the suite sees against the result, and
 * test/openapi.test.ts lints it with Redocly's recommended rules.
 */
import { API_VERSIONS, schemaForAllVersions, type JsonSchema } from '../core/api-versions.ts';

type Header = { description: string; required?: boolean; schema: JsonSchema };
type Response = { description: string; headers?: Record<string, Header | { $ref: string }>; content?: Record<string, { schema?: JsonSchema }> };
type Parameter = { name: string; in: string; required?: boolean; description?: string; schema?: JsonSchema };
type Operation = {
  operationId?: string; summary?: string; tags?: string[]; security?: Record<string, string[]>[];
  parameters?: Parameter[]; requestBody?: unknown; responses: Record<string, Response | { $ref: string }>;
};
export type OpenApiDocument = {
  openapi: string;
  info: Record<string, unknown>;
  servers?: { url: string; description?: string }[];
  security?: Record<string, string[]>[];
  tags?: { name: string; description: string }[];
  paths: Record<string, Record<string, Operation>>;
  webhooks?: Record<string, unknown>;
  components?: { schemas?: Record<string, JsonSchema>; securitySchemes?: Record<string, unknown>; headers?: Record<string, Header>; responses?: Record<string, Response> };
};

const ref = (name: string) => ({ $ref: `#/components/headers/${name}` });
const text = (description: string, extra: JsonSchema = {}): Header => ({ description, schema: { type: 'string', ...extra } });

const HEADERS: Record<string, Header> = {
  'X-Request-Id': { ...text('this request\'s id; it is also in the logs, the audit log and every problem (`request_id`)'), required: true },
  'Cache-Control': { ...text('`no-store` on every /v1 answer: each is one tenant\'s data, and some carry a secret in its one reveal'), required: true },
  RateLimit: text('each applied policy\'s whole tokens left (r) and seconds until its bucket is full (t), as a structured-field list (draft-ietf-httpapi-ratelimit-headers): `"pro";r=1187;t=1`. Absent when the limiter could not be reached and the request was let through'),
  'RateLimit-Policy': text('the policies that applied: `"pro";q=1000;w=60, "stores-create";q=5;w=60`'),
  'API-Version': text('the dated API version that shaped this answer'),
  Deprecation: text('on a deprecated version\'s answers only: when it was deprecated (RFC 9745)', { pattern: '^@-?\\d+$', examples: ['@1796169600'] }),
  Sunset: text('on a deprecated version\'s answers only: when it stops being served (RFC 8594)', { examples: ['Tue, 01 Jun 2027 00:00:00 GMT'] }),
  Link: text('RFC 8288 links: `rel="next"` to a list\'s next page, `rel="deprecation"` on a deprecated version\'s answers'),
  'Retry-After': { description: 'seconds to wait before sending the request again', required: true, schema: { type: 'integer', minimum: 0 } },
  'WWW-Authenticate': { ...text('the scheme to authenticate with: `Bearer realm="switchyard"`'), required: true },
  'Idempotent-Replayed': text('`true` when this is the stored answer to an earlier request with the same Idempotency-Key', { enum: ['true'] }),
  Location: { ...text('where the created or changed resource (or the job doing the work) can be read'), required: true },
};
/** Headers a route may name in its own responses (`headers: location`). */
export const location = { Location: HEADERS.Location! };

const VERSION_PARAMETER: Parameter = {
  name: 'API-Version', in: 'header', required: false,
  description: 'the dated version to answer in; the tenant\'s pin when left out. An unknown one is a 400 listing the supported ones',
  schema: { type: 'string', enum: API_VERSIONS.map((v) => v.version) },
};

const problem = (description: string, headers: string[] = []): Response => ({
  description,
  ...(headers.length ? { headers: Object.fromEntries(headers.map((h) => [h, ref(h)])) } : {}),
  content: { 'application/problem+json': { schema: { $ref: '#/components/schemas/Problem' } } },
});

/** The SSE stream's events (functions/routes/events/events.handlers.ts; payloads from the realtime triggers). */
const SSE_EVENTS: Record<string, { description: string; schema: JsonSchema }> = {
  status: {
    description: 'a project or store changed status',
    schema: {
      type: 'object', required: ['type', 'resource', 'previous_status'],
      properties: {
        type: { type: 'string', enum: ['project', 'store', 'rollout'] },
        resource: { type: 'object', required: ['id', 'status'], properties: { id: { type: 'string' }, status: { type: 'string' } }, additionalProperties: true },
        previous_status: { type: ['string', 'null'] },
      },
      additionalProperties: true,
    },
  },
  job: {
    description: 'a job was queued or changed status',
    schema: {
      type: 'object', required: ['id', 'kind', 'status', 'previous_status', 'subject_type', 'subject_id', 'attempts', 'steps', 'run_at', 'last_error', 'updated_at'],
      properties: {
        id: { type: 'string' }, kind: { type: 'string' }, status: { type: 'string' }, previous_status: { type: ['string', 'null'] },
        subject_type: { type: ['string', 'null'] }, subject_id: { type: ['string', 'null'] }, attempts: { type: 'integer' }, steps: { type: 'integer' },
        run_at: { type: 'string' }, last_error: { type: ['string', 'null'] }, updated_at: { type: 'string' },
      },
      additionalProperties: true,
    },
  },
  decision: {
    description: 'a canary decision was recorded for a rollout',
    schema: {
      type: 'object', required: ['id', 'rollout_id', 'policy_id', 'verdict', 'sentence', 'step_index', 'shadow', 'window_start', 'window_end'],
      properties: {
        id: { type: 'string' }, rollout_id: { type: 'string' }, policy_id: { type: ['string', 'null'] },
        verdict: { type: 'string', enum: ['promote', 'wait', 'pause', 'rollback'] }, sentence: { type: 'string' },
        step_index: { type: ['integer', 'null'] }, shadow: { type: 'boolean' }, window_start: { type: 'string' }, window_end: { type: 'string' },
      },
      additionalProperties: true,
    },
  },
  log: {
    description: 'the events store changed: `events` when a batch of events was stored (how many, from which source, the newest one\'s time and the count per level: fetch the lines through GET /v1/logs), `alert` and `alert_resolved` when an alert rule fired or resolved',
    schema: {
      type: 'object', required: ['type', 'project_id'],
      properties: {
        type: { type: 'string', enum: ['events', 'alert', 'alert_resolved'] }, project_id: { type: 'string' },
        source_id: { type: 'string' }, provider: { type: 'string' }, count: { type: 'integer' }, newest_ts: { type: 'string' },
        levels: { type: 'object', additionalProperties: { type: 'integer' } },
        alert: { type: 'object', required: ['rule_id', 'rule_name', 'firing', 'message'], properties: { rule_id: { type: 'string' }, rule_name: { type: 'string' }, firing: { type: 'integer' }, message: { type: 'string' } }, additionalProperties: true },
      },
      additionalProperties: true,
    },
  },
  audit: {
    description: 'a mutating request was recorded in the audit log (admin keys\' streams only); the fields of GET /v1/audit-log',
    schema: { type: 'object', required: ['id', 'method', 'route', 'status'], properties: { id: { type: 'string' }, method: { type: 'string' }, route: { type: 'string' }, status: { type: 'integer' } }, additionalProperties: true },
  },
};

const sseSchemaName = (event: string) => `Sse${event[0]!.toUpperCase()}${event.slice(1)}Event`;

const SSE_DESCRIPTION = [
  'A `text/event-stream` (WHATWG HTML §9.2). The stream opens with `retry: 2000` and a `: connected` comment;',
  'a `: ping` comment follows every SWITCHYARD_SSE_HEARTBEAT_MS. Each event has `id:` (a decimal event id),',
  '`event:` (its name) and one `data:` line of JSON: the event\'s payload plus `topics` and `event_id`.',
  'Reconnect with `Last-Event-ID` to receive every event committed since.',
].join(' ');

const signatureHeader = (name: string, description: string): Parameter => ({ name, in: 'header', required: true, description, schema: { type: 'string' } });
/**
 * Outbound notifications: Standard Webhooks envelopes signed with the rule's or rollout's secret,
 * sent to a URL the tenant gave (workers/providers/alerts/outbound.ts).
 */
function notification(operationId: string, summary: string, tag: string, type: string, data: JsonSchema) {
  return {
    post: {
      operationId, summary, tags: [tag], security: [],
      parameters: [
        signatureHeader('webhook-id', 'the same on every retry of one notification: drop repeats by it'),
        { ...signatureHeader('webhook-timestamp', 'seconds since the epoch; refuse ones far from now'), schema: { type: 'string', pattern: '^\\d+$' } },
        signatureHeader('webhook-signature', '`v1,<base64 HMAC-SHA256 of "<webhook-id>.<webhook-timestamp>.<raw body>">` with the secret revealed at creation (whsec_…)'),
      ],
      requestBody: {
        required: true,
        content: {
          'application/json': {
            schema: { type: 'object', required: ['type', 'timestamp', 'data'], properties: { type: { const: type }, timestamp: { type: 'string', format: 'date-time' }, data } },
          },
        },
      },
      responses: {
        '2XX': { description: 'received; any 2xx ends the delivery' },
        default: { description: 'anything else is retried with backoff (up to 8 attempts), except 4xx other than 408 and 429, which end it; each outcome is recorded on the rule or rollout' },
      },
    },
  };
}

const OUTBOUND_WEBHOOKS = {
  'alert.fired': notification('alertFired', 'An alert rule fired (sent to its channel_url)', 'monitoring', 'alert.fired', {
    type: 'object', required: ['rule_id', 'firing', 'count', 'threshold'],
    properties: {
      rule_id: { type: 'string' }, rule_name: { type: 'string' }, project_id: { type: 'string' }, firing: { type: 'integer' },
      count: { type: 'integer' }, threshold: { type: 'integer' }, window_s: { type: 'integer' }, filter: { type: 'object' },
      since: { type: 'string', format: 'date-time' }, until: { type: 'string', format: 'date-time' }, message: { type: 'string' },
    },
  }),
  'rollout.decision': notification('rolloutDecision', 'A canary decision was made (sent to the rollout\'s notify.url)', 'canary', 'rollout.decision', {
    type: 'object', required: ['rollout', 'decision'],
    properties: {
      rollout: { type: 'object', properties: { id: { type: 'string' }, project_id: { type: 'string' }, service: { type: 'string' }, baseline: { type: 'string' }, canary: { type: 'string' }, status: { type: 'string' } } },
      decision: { type: 'object', properties: { id: { type: 'string' }, policy_id: { type: ['string', 'null'] }, verdict: { type: 'string' }, sentence: { type: 'string' }, explanation: {}, step_index: { type: ['integer', 'null'] }, window: { type: 'object' } } },
    },
  }),
};

/** What each inbound webhook is authenticated by, instead of a key (functions/lib/webhooks.ts). */
const SIGNED_WEBHOOKS: Record<string, Parameter[]> = {
  '/v1/webhooks/render/{sourceId}': [
    signatureHeader('webhook-id', 'the delivery\'s id; a repeat of an accepted one is answered 200 `duplicate`'),
    signatureHeader('webhook-timestamp', 'seconds since the epoch; more than 5 minutes from now is refused'),
    signatureHeader('webhook-signature', 'space-separated `v1,<base64 HMAC-SHA256 of "<id>.<timestamp>.<raw body>">` with the source\'s webhook_secret (Standard Webhooks)'),
  ],
  '/v1/webhooks/sentry/{sourceId}': [
    signatureHeader('sentry-hook-signature', 'hex HMAC-SHA256 of the raw body with the source\'s webhook_secret (the integration\'s client secret)'),
    { ...signatureHeader('sentry-hook-timestamp', 'seconds since the epoch; when sent, more than 5 minutes from now is refused'), required: false },
    { ...signatureHeader('sentry-hook-resource', 'what the delivery is about: issue, error, event_alert, metric_alert, installation…'), required: false },
  ],
};

type Auth = 'key' | 'key-or-event-token' | 'signature' | 'none';
function authOf(path: string): Auth {
  if (path.startsWith('/v1/webhooks/')) return 'signature';
  if (path === '/v1/events') return 'key-or-event-token';
  return path.startsWith('/v1/') ? 'key' : 'none';
}

export function describeApi(doc: OpenApiDocument, opts: { serverUrl?: string } = {}): OpenApiDocument {
  doc.info = {
    ...doc.info,
    license: { name: 'Proprietary', identifier: 'LicenseRef-Switchyard' },
    contact: { name: 'Switchyard', url: 'https://switchyard.dev' },
  };
  doc.servers = [{ url: opts.serverUrl ?? '/', description: opts.serverUrl ? 'this deployment' : 'the host that served this document' }];
  doc.security = [{ bearer: [] }];
  const components = (doc.components ??= {});
  components.securitySchemes = {
    bearer: { type: 'http', scheme: 'bearer', description: 'an API key (`sk_…`) from POST /v1/api-keys, or the operator key in .data/admin-key' },
    eventToken: { type: 'apiKey', in: 'query', name: 'token', description: 'a short-lived read-only token from POST /v1/events/token, for browsers\' EventSource (which can\'t send headers)' },
  };
  components.headers = { ...HEADERS };
  components.schemas ??= {};
  for (const [name, e] of Object.entries(SSE_EVENTS)) {
    if (components.schemas[sseSchemaName(name)]) throw new Error(`schema ${sseSchemaName(name)} is already defined`);
    components.schemas[sseSchemaName(name)] = { description: e.description, ...e.schema };
  }
  doc.tags = TAGS;
  doc.webhooks = structuredClone(OUTBOUND_WEBHOOKS);

  for (const [path, item] of Object.entries(doc.paths)) {
    for (const [method, op] of Object.entries(item)) {
      if (!op || typeof op !== 'object' || !('responses' in op)) continue;
      const name = `${method.toUpperCase()} ${path}`;
      if (!op.operationId) throw new Error(`${name} has no operationId`);
      const auth = authOf(path);
      const v1 = path.startsWith('/v1/');
      // /versions speaks the version layer too (an unknown API-Version is a 400 there as well).
      const versioned = v1 || path === '/versions';
      op.security = auth === 'key' ? [{ bearer: [] }] : auth === 'key-or-event-token' ? [{ bearer: [] }, { eventToken: [] }] : [];
      const r = op.responses;
      const idempotent = (op.parameters ?? []).some((p) => p.in === 'header' && p.name.toLowerCase() === 'idempotency-key');
      if (versioned) r['400'] ??= problem('invalid input: a field, the query, text Postgres can\'t store (NUL, lone surrogates, invalid UTF-8), or an unknown API-Version');
      if (auth === 'key' || auth === 'key-or-event-token') r['401'] = problem('missing, invalid, expired or revoked credentials', ['WWW-Authenticate']);
      if (path.includes('{')) r['404'] ??= problem('no such resource in this tenant (an id of the wrong form names nothing either)');
      if (idempotent) {
        r['409'] ??= problem('a request with this Idempotency-Key is still in progress; retry shortly');
        r['422'] ??= problem('this Idempotency-Key was already used with a different request');
      }
      if (op.requestBody) r['413'] ??= problem('the body is larger than SWITCHYARD_BODY_LIMIT_BYTES');
      r['500'] = problem('an unexpected failure; it is reported with this request id');
      if (v1) {
        r['429'] = problem('a rate limit was reached (the plan\'s, a route class\'s, a webhook source\'s, or a caller address\'s after 401s)', ['Retry-After']);
        r['503'] = problem('the database is unavailable, the server is shedding load, the rate limiter is unreachable (SWITCHYARD_RATE_LIMIT_FAIL=closed), or the request ran past its deadline', ['Retry-After']);
      }
      if (versioned) (op.parameters ??= []).push(VERSION_PARAMETER);
      for (const [status, response] of Object.entries(r)) {
        if ('$ref' in response) continue;
        const headers: Record<string, Header | { $ref: string }> = { 'X-Request-Id': ref('X-Request-Id') };
        if (v1) for (const h of ['Cache-Control', 'RateLimit', 'RateLimit-Policy']) headers[h] = ref(h);
        if (versioned) for (const h of ['API-Version', 'Deprecation', 'Sunset', 'Link']) headers[h] = ref(h);
        if (idempotent && status.startsWith('2')) headers['Idempotent-Replayed'] = ref('Idempotent-Replayed');
        for (const [h, spec] of Object.entries(response.headers ?? {})) headers[h] = spec === HEADERS[h] ? ref(h) : spec;
        response.headers = headers;
        const json = response.content?.['application/json'];
        if (v1 && status.startsWith('2') && json?.schema) json.schema = schemaForAllVersions(json.schema);
      }
      if (path === '/v1/events') describeStream(op);
      const signed = SIGNED_WEBHOOKS[path];
      if (signed) {
        op.parameters = [...signed, ...(op.parameters ?? [])];
        op.requestBody = { required: true, description: 'the provider\'s JSON, exactly as sent: the signature is checked on these bytes', content: { 'application/json': { schema: { type: 'object' } } } };
        r['413'] ??= problem('the body is larger than SWITCHYARD_BODY_LIMIT_BYTES');
      }
    }
  }
  return doc;
}

function describeStream(op: Operation) {
  (op.parameters ??= []).push({ name: 'Last-Event-ID', in: 'header', required: false, description: 'resume after this event id (EventSource sends it on reconnect)', schema: { type: 'string', pattern: '^\\d{1,19}$' } });
  const ok = op.responses['200'] as Response;
  ok.description = SSE_DESCRIPTION;
  const frames = Object.keys(SSE_EVENTS).map((name) => ({
    type: 'object',
    description: `an \`event: ${name}\` frame: ${SSE_EVENTS[name]!.description}`,
    required: ['id', 'event', 'data'],
    properties: {
      id: { type: 'string', pattern: '^\\d+$' },
      event: { const: name },
      data: {
        allOf: [
          { $ref: `#/components/schemas/${sseSchemaName(name)}` },
          { type: 'object', required: ['topics', 'event_id'], properties: { topics: { type: 'array', items: { type: 'string' } }, event_id: { type: 'string' } } },
        ],
      },
    },
  }));
  // OpenAPI 3.1 has no schema for a stream's items (3.2's itemSchema): the schema is that of one
  // event frame, parsed into its fields.
  ok.content = { 'text/event-stream': { schema: { description: 'one event frame, parsed', oneOf: frames } } };
}

const TAGS = [
  { name: 'api keys', description: 'who is calling: the key, its role and tenant; keys are minted and revoked by admins' },
  { name: 'tenants', description: 'tenants (operator only) and the calling tenant\'s own settings, such as its API version pin' },
  { name: 'projects', description: 'tenant databases: create, suspend, resume and delete, each done by a job' },
  { name: 'stores', description: 'e-commerce stores on a runtime (Postgres or Kubernetes), created and deleted by jobs' },
  { name: 'jobs', description: 'the durable work behind every change: status, steps and cancellation' },
  { name: 'realtime', description: 'status changes pushed to clients: SSE here, Supabase Realtime in production' },
  { name: 'monitoring', description: 'log sources, signed webhooks from Render and Sentry, scheduled pulls, the search store and alerts' },
  { name: 'canary', description: 'canary policies, rollouts, telemetry and the decisions made from them' },
  { name: 'audit', description: 'every mutating request, refused ones included (admins only)' },
  { name: 'versions', description: 'the dated API versions this server speaks' },
];
