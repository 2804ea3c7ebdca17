/** Monitoring: log sources per project, signed webhooks from Render and Sentry, and the event store. */
import { createRoute, z } from '@hono/zod-openapi';
import { idParam, problemContent, queryInt, Timestamp, pageOf, problems } from '../../lib/http.ts';
import { location } from '../../openapi.ts';
import { JobSchema } from '../schemas.ts';

const slug = z.string().regex(/^[a-z0-9][a-z0-9_-]{0,99}$/, 'a slug: lowercase letters, digits, - and _');
const Credentials = z.strictObject({
  api_key: z.string().min(8).max(1000).optional().openapi({ description: "the provider's API token, for pulls" }),
  webhook_secret: z.string().min(8).max(1000).optional()
    .openapi({ description: "what the provider signs webhooks with: Render's whsec_… secret, Sentry's integration client secret" }),
}).default({});

const pullInterval = z.number().int().min(10).max(86_400).optional()
  .openapi({ description: 'seconds between scheduled pulls (default SWITCHYARD_LOG_PULL_INTERVAL_S); pulls run only with an api_key' });

export const CreateLogSourceBody = z.discriminatedUnion('provider', [
  z.strictObject({ provider: z.literal('supabase'), config: z.strictObject({ project_ref: z.string().regex(/^[a-z0-9]{20}$/, 'a 20-character project ref') }), credentials: Credentials, pull_interval_s: pullInterval }),
  z.strictObject({ provider: z.literal('render'), config: z.strictObject({ owner_id: z.string().min(1).max(100), resources: z.array(z.string().min(1).max(100)).min(1).max(50) }), credentials: Credentials, pull_interval_s: pullInterval }),
  z.strictObject({ provider: z.literal('sentry'), config: z.strictObject({ organization: slug, project: slug }), credentials: Credentials, pull_interval_s: pullInterval }),
]).openapi('CreateLogSource');

export const LogSourceSchema = z.object({
  id: z.string().openapi({ example: 'src_01jd2x3y4z5a6b7c8d9e0f1g2h' }),
  project_id: z.string(),
  provider: z.enum(['supabase', 'render', 'sentry']),
  config: z.record(z.string(), z.unknown()),
  credentials: z.object({ api_key: z.boolean(), webhook_secret: z.boolean() }).openapi({ description: 'which are set; never their values' }),
  webhook_url: z.string().nullable().openapi({ description: 'where to point the provider’s webhook (Render, Sentry)' }),
  pull_interval_s: z.number().int(),
  next_pull_at: z.string().nullable().openapi({ description: 'null: never pulled on a schedule (no API key)' }),
  last_pulled_at: z.string().nullable(),
  high_water_mark: z.string().nullable().openapi({ description: 'pulls have read everything up to this time (null before the first pull, and for sources that are only pushed to)' }),
  last_error: z.string().nullable().openapi({ description: 'why the last pull stopped short, if it did' }),
  created_at: z.string(),
}).openapi('LogSource');

export const DeliverySchema = z.object({
  id: z.string(),
  delivery_id: z.string().openapi({ description: "the provider's delivery id (webhook-id, Request-ID)" }),
  resource: z.string().nullable(),
  received_at: z.string(),
  processed_at: z.string().nullable(),
  event_count: z.number().int().nullable(),
}).openapi('WebhookDelivery');

const JobRef = JobSchema;

export const EventSchema = z.object({
  id: z.string(),
  ts: z.string(),
  project_id: z.string(),
  source_id: z.string(),
  provider: z.string(),
  service: z.string().nullable(),
  environment: z.string().nullable(),
  level: z.enum(['debug', 'info', 'warn', 'error', 'fatal']),
  kind: z.enum(['log', 'error', 'deploy', 'alert']),
  message: z.string(),
  fingerprint: z.string().nullable(),
  attrs: z.record(z.string(), z.unknown()),
}).openapi('Event');

const ProjectParam = idParam('prj');
const SourceParams = ProjectParam.extend({
  sid: z.string().regex(/^src_[0-9a-z]{26}$/).openapi({ param: { name: 'sid', in: 'path' } }),
});
const DeliveryParams = SourceParams.extend({
  did: z.string().regex(/^whd_[0-9a-z]{26}$/).openapi({ param: { name: 'did', in: 'path' } }),
});

export const createLogSource = createRoute({
  operationId: 'createLogSource',
  method: 'post', path: '/v1/projects/{id}/log-sources', tags: ['monitoring'],
  summary: 'Add a log source to a project',
  request: { params: ProjectParam, body: { required: true, content: { 'application/json': { schema: CreateLogSourceBody } } } },
  responses: { 201: { description: 'created', headers: location, content: { 'application/json': { schema: z.object({ log_source: LogSourceSchema }) } } }, ...problems({ 403: 'a viewer key or an event token may not change anything (member or admin keys only)' }) },
});

export const listLogSources = createRoute({
  operationId: 'listLogSources',
  method: 'get', path: '/v1/projects/{id}/log-sources', tags: ['monitoring'],
  summary: "A project's log sources",
  request: { params: ProjectParam },
  responses: { 200: { description: 'sources', content: { 'application/json': { schema: z.object({ data: z.array(LogSourceSchema) }) } } } },
});

export const getLogSource = createRoute({
  operationId: 'getLogSource',
  method: 'get', path: '/v1/projects/{id}/log-sources/{sid}', tags: ['monitoring'],
  summary: 'A log source',
  request: { params: SourceParams },
  responses: { 200: { description: 'the source', content: { 'application/json': { schema: z.object({ log_source: LogSourceSchema }) } } } },
});

export const deleteLogSource = createRoute({
  operationId: 'deleteLogSource',
  method: 'delete', path: '/v1/projects/{id}/log-sources/{sid}', tags: ['monitoring'],
  summary: 'Remove a log source (its webhooks then answer 404; its events stay until retention)',
  request: { params: SourceParams },
  responses: { 204: { description: 'deleted' }, ...problems({ 403: 'a viewer key or an event token may not change anything (member or admin keys only)' }) },
});

export const pullLogSource = createRoute({
  operationId: 'pullLogSource',
  method: 'post', path: '/v1/projects/{id}/log-sources/{sid}/pull', tags: ['monitoring'],
  summary: 'Pull now (a logs.pull job from the high-water mark; follow it with GET /v1/jobs/{id} or SSE)',
  request: { params: SourceParams },
  responses: {
    202: { description: 'pull queued', headers: location, content: { 'application/json': { schema: z.object({ job: JobRef }) } } },
    ...problems({ 403: 'a viewer key or an event token may not change anything (member or admin keys only)', 422: 'the source has no API key to pull with' }),
    422: problemContent('the source has no API key to pull with'),
  },
});

export const listDeliveries = createRoute({
  operationId: 'listDeliveries',
  method: 'get', path: '/v1/projects/{id}/log-sources/{sid}/deliveries', tags: ['monitoring'],
  summary: "A source's raw webhook deliveries, newest first",
  request: { params: SourceParams, query: z.object({ limit: queryInt(1, 200, 50) }) },
  responses: { 200: { description: 'deliveries', content: { 'application/json': { schema: z.object({ data: z.array(DeliverySchema) }) } } } },
});

export const replayDelivery = createRoute({
  operationId: 'replayDelivery',
  method: 'post', path: '/v1/projects/{id}/log-sources/{sid}/deliveries/{did}/replay', tags: ['monitoring'],
  summary: 'Normalize a stored delivery again (events it already made are not repeated)',
  request: { params: DeliveryParams },
  responses: { 202: { description: 'replay queued', headers: location, content: { 'application/json': { schema: z.object({ job: JobRef }) } } }, ...problems({ 403: 'a viewer key or an event token may not change anything (member or admin keys only)' }) },
});

const WebhookParams = z.object({ sourceId: z.string().max(40).openapi({ param: { name: 'sourceId', in: 'path' } }) });
const webhookResponses = {
  200: { description: 'a repeated delivery, already accepted', content: { 'application/json': { schema: z.object({ status: z.literal('duplicate'), delivery_id: z.string() }) } } },
  202: { description: 'accepted: stored raw, normalized by a worker', content: { 'application/json': { schema: z.object({ status: z.literal('accepted'), delivery_id: z.string(), job_id: z.string() }) } } },
  401: { ...problemContent('missing, invalid or stale signature; nothing stored'), headers: { 'WWW-Authenticate': { description: 'the signature scheme expected: `Standard-Webhooks realm="render"` or `Sentry-Hook-Signature realm="sentry"`', required: true, schema: { type: 'string' as const } } } },
  404: problemContent('no such source, or it has no webhook secret'),
  413: problemContent('body too large'),
};

export const renderWebhook = createRoute({
  operationId: 'renderWebhook',
  method: 'post', path: '/v1/webhooks/render/{sourceId}', tags: ['monitoring'],
  summary: 'Render webhook (Standard Webhooks signature on the raw body, ±5 min)',
  request: { params: WebhookParams },
  responses: webhookResponses,
});

export const sentryWebhook = createRoute({
  operationId: 'sentryWebhook',
  method: 'post', path: '/v1/webhooks/sentry/{sourceId}', tags: ['monitoring'],
  summary: 'Sentry integration webhook (Sentry-Hook-Signature: HMAC-SHA256 of the raw body)',
  request: { params: WebhookParams },
  responses: webhookResponses,
});

export const listLogs = createRoute({
  operationId: 'listLogs',
  method: 'get', path: '/v1/logs', tags: ['monitoring'],
  summary: 'Search events, newest first (keyset pages)',
  request: {
    query: z.object({
      project: z.string().regex(/^prj_[0-9a-z]{26}$/).optional(),
      provider: z.enum(['supabase', 'render', 'sentry', 'switchyard']).optional(),
      service: z.string().max(200).optional(),
      level: z.enum(['debug', 'info', 'warn', 'error', 'fatal']).optional(),
      kind: z.enum(['log', 'error', 'deploy', 'alert']).optional(),
      since: Timestamp.optional(),
      until: Timestamp.optional(),
      q: z.string().min(1).max(200).optional().openapi({ description: 'substring of the message' }),
      limit: queryInt(1, 200, 50),
      cursor: z.string().max(200).optional(),
    }),
  },
  responses: {
    200: { description: 'a page of events', content: { 'application/json': { schema: pageOf(EventSchema) } } },
  },
});

export const StatsBucket = z.object({
  ts: z.string().openapi({ description: 'start of the bucket (UTC)' }),
  provider: z.string(),
  level: z.enum(['debug', 'info', 'warn', 'error', 'fatal']),
  count: z.number().int(),
}).openapi('LogStatsBucket');

export const logStats = createRoute({
  operationId: 'logStats',
  method: 'get', path: '/v1/logs/stats', tags: ['monitoring'],
  summary: 'Event counts per bucket, level and provider (for charts); empty buckets are left out',
  request: {
    query: z.object({
      interval: z.enum(['1m', '1h']).default('1m'),
      project: z.string().regex(/^prj_[0-9a-z]{26}$/).optional(),
      provider: z.enum(['supabase', 'render', 'sentry', 'switchyard']).optional(),
      kind: z.enum(['log', 'error', 'deploy', 'alert']).optional(),
      since: Timestamp.optional().openapi({ description: 'default: 1 h ago for 1m, 24 h ago for 1h' }),
      until: Timestamp.optional().openapi({ description: 'default: now' }),
    }),
  },
  responses: {
    200: {
      description: 'buckets, oldest first',
      content: { 'application/json': { schema: z.object({ interval: z.enum(['1m', '1h']), since: z.string(), until: z.string(), data: z.array(StatsBucket) }) } },
    },
  },
});
