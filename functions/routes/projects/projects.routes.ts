/** The projects contract: zod schemas that validate requests and generate /openapi.json. */
import { createRoute, z } from '@hono/zod-openapi';
import { ProjectStatus } from '../../../db/status.ts';
import { idParam, ListQuery, problemContent, pageOf, problems, Timestamp } from '../../lib/http.ts';
import { location } from '../../openapi.ts';
import { JobSchema, ProjectSchema } from '../schemas.ts';

export const CreateProjectBody = z.strictObject({
  name: z.string().trim().min(1).max(100).openapi({ example: 'Acme production' }),
  slug: z.string().regex(/^[a-z][a-z0-9-]{1,47}[a-z0-9]$/, 'lowercase letters, digits and dashes, 3–49 characters, starting with a letter')
    .optional().openapi({ example: 'acme-prod' }),
  plan: z.enum(['free', 'pro', 'enterprise']).default('free'),
  region: z.string().regex(/^[a-z]{2}-[a-z]+-\d$/, 'a region such as us-east-1').default('us-east-1'),
  provider: z.enum(['postgres', 'supabase']).optional().openapi({
    description: "where the project lives: a database on the deployment's Postgres server, or a Supabase project (offered when the deployment has a Supabase access token and organization). Default: the deployment's first provider, postgres",
  }),
}).openapi('CreateProject');

const ImportCommon = {
  name: CreateProjectBody.shape.name,
  slug: CreateProjectBody.shape.slug,
  plan: CreateProjectBody.shape.plan,
  region: CreateProjectBody.shape.region,
};

export const ImportProjectBody = z.discriminatedUnion('provider', [
  z.strictObject({
    ...ImportCommon,
    provider: z.literal('supabase'),
    ref: z.string().regex(/^[a-z]{20}$/, "a Supabase project ref: 20 lowercase letters").openapi({ example: 'abcdefghijklmnopqrst' }),
    db_pass: z.string().min(1).max(200).optional().openapi({
      description: "the project's database password, for the connection strings (the Management API can't read it); sealed at once",
    }),
  }),
  z.strictObject({
    ...ImportCommon,
    provider: z.literal('postgres'),
    connection_string: z.string().min(1).max(2000).openapi({
      description: 'postgresql://user:password@host:5432/database: it must connect now; sealed at once; never a private host',
    }),
  }),
]).openapi('ImportProject');

const IdParam = idParam('prj');
const Accepted = z.object({ project: ProjectSchema, job: JobSchema }).openapi('ProjectAccepted');
const IdempotencyHeader = z.object({
  'idempotency-key': z.string().optional().openapi({ description: 'replays the first response for a repeated request' }),
});

export const createProject = createRoute({
  operationId: 'createProject',
  method: 'post',
  path: '/v1/projects',
  tags: ['projects'],
  summary: 'Create a project (provisioned asynchronously)',
  request: {
    headers: IdempotencyHeader,
    body: { required: true, content: { 'application/json': { schema: CreateProjectBody } } },
  },
  responses: { 202: { description: 'accepted; watch the job or the realtime stream', headers: location, content: { 'application/json': { schema: Accepted } } }, ...problems({ 403: 'a viewer key or an event token may not change anything (member or admin keys only)', 409: 'the slug is used by another project, or a request with this Idempotency-Key is still in progress', 422: 'the provider asked for is not configured on this deployment (the problem names those that are), or this Idempotency-Key was already used with a different request' }) },
});

export const importProject = createRoute({
  operationId: 'importProject',
  method: 'post',
  path: '/v1/projects/import',
  tags: ['projects'],
  summary: 'Register a project Switchyard did not create: a Supabase project by ref, or a Postgres database by connection string',
  description: 'A Supabase project is adopted by a job (202): its status comes from Supabase (a paused one starts suspended), then suspend, resume and delete act on it. '
    + 'A Postgres database is verified now (it must connect) and is active at once (201); it is watched, never changed: suspend and resume are refused, delete only forgets it.',
  request: {
    headers: IdempotencyHeader,
    body: { required: true, content: { 'application/json': { schema: ImportProjectBody } } },
  },
  responses: {
    201: { description: 'a Postgres database, verified and registered', headers: location, content: { 'application/json': { schema: z.object({ project: ProjectSchema }).openapi('ProjectImported') } } },
    202: { description: 'a Supabase project, being adopted; watch the job or the realtime stream', headers: location, content: { 'application/json': { schema: Accepted } } },
    ...problems({
      403: 'a viewer key or an event token may not change anything (member or admin keys only)',
      409: 'the slug is used by another project, the provider project is already registered, or a request with this Idempotency-Key is still in progress',
      422: 'the provider is not configured on this deployment, or the connection string was refused (a private host, or it did not connect: the reason is given), or this Idempotency-Key was already used with a different request',
    }),
  },
});

export const listProjects = createRoute({
  operationId: 'listProjects',
  method: 'get',
  path: '/v1/projects',
  tags: ['projects'],
  summary: 'List projects, newest first',
  request: { query: ListQuery.extend({ status: ProjectStatus.optional() }) },
  responses: {
    200: {
      description: 'a page of projects',
      content: { 'application/json': { schema: pageOf(ProjectSchema) } },
    },
  },
});

export const getProject = createRoute({
  operationId: 'getProject',
  method: 'get',
  path: '/v1/projects/{id}',
  tags: ['projects'],
  summary: 'Get a project',
  request: { params: IdParam },
  responses: { 200: { description: 'the project', content: { 'application/json': { schema: z.object({ project: ProjectSchema }) } } } },
});

const transition = (action: 'suspend' | 'resume') => createRoute({
  operationId: `${action}Project`,
  method: 'post',
  path: `/v1/projects/{id}/${action}`,
  tags: ['projects'],
  summary: `${action[0]!.toUpperCase()}${action.slice(1)} a project`,
  request: { params: IdParam, headers: IdempotencyHeader },
  responses: { 202: { description: 'accepted', headers: location, content: { 'application/json': { schema: Accepted } } }, ...problems({ 403: 'a viewer key or an event token may not change anything (member or admin keys only)', 409: "the project's status does not allow this (the problem says which do), or a request with this Idempotency-Key is still in progress", 422: "Supabase would refuse it (a paid organization's project can't be paused; a Free project paused over 90 days can't be restored), or this Idempotency-Key was already used with a different request" }) },
});
export const suspendProject = transition('suspend');
export const resumeProject = transition('resume');

export const deleteProject = createRoute({
  operationId: 'deleteProject',
  method: 'delete',
  path: '/v1/projects/{id}',
  tags: ['projects'],
  summary: 'Delete a project (its database is dropped; the record stays as `deleted`)',
  request: { params: IdParam, headers: IdempotencyHeader },
  responses: { 202: { description: 'accepted', headers: location, content: { 'application/json': { schema: Accepted } } }, ...problems({ 403: 'a viewer key or an event token may not change anything (member or admin keys only)', 409: "the project's status does not allow this (the problem says which do), or a request with this Idempotency-Key is still in progress" }) },
});

export const Credentials = z.object({
  connection_string: z.string().optional().openapi({ description: "a direct connection (Supabase: `db.<ref>.supabase.co:5432`, IPv6 unless the project has the IPv4 add-on); absent for a Supabase project imported without its db_pass" }),
  pooled_connection_string: z.string().optional().openapi({ description: "Supabase's pooler (Supavisor, transaction mode: no prepared statements)" }),
  api_url: z.string().optional().openapi({ description: "the Supabase project's API URL" }),
  publishable_key: z.string().optional().openapi({ description: 'the key a browser may hold (publishable, or the legacy anon key)' }),
  secret_key: z.string().optional().openapi({ description: 'full access (secret, or the legacy service_role key): admin keys only' }),
}).openapi('ProjectCredentials');

export const getCredentials = createRoute({
  operationId: 'getProjectCredentials',
  method: 'get',
  path: '/v1/projects/{id}/credentials',
  tags: ['projects'],
  summary: "Reveal the project's credentials (admin and member keys; the secret key to admins only)",
  request: { params: IdParam },
  responses: {
    200: { description: 'credentials', content: { 'application/json': { schema: Credentials } } },
    ...problems({ 403: 'a viewer key may not read credentials', 409: 'the project has no credentials in its status' }),
  },
});

export const HealthSchema = z.object({
  status: z.enum(['healthy', 'unhealthy', 'unknown']),
  checked_at: z.string(),
  services: z.array(z.object({ name: z.string(), status: z.string(), error: z.string().optional() })),
  error: z.string().optional().openapi({ description: 'why the project is not healthy, or why its health is unknown' }),
}).openapi('ProjectHealth');

export const getHealth = createRoute({
  operationId: 'getProjectHealth',
  method: 'get',
  path: '/v1/projects/{id}/health',
  tags: ['projects'],
  summary: "The project's last health reading (a `project.health` job makes one every SWITCHYARD_PROJECT_HEALTH_INTERVAL_S while it is live)",
  request: { params: IdParam },
  responses: {
    200: {
      description: 'the last reading; null before the first',
      content: { 'application/json': { schema: z.object({ project_id: z.string(), project_status: ProjectStatus, health: HealthSchema.nullable() }) } },
    },
  },
});

const MetricBucket = z.object({
  ts: z.string(),
  samples: z.number().int(),
  connections: z.number().int().openapi({ description: "client connections to the project's database (the bucket's highest sample)" }),
  connections_active: z.number().int(),
  connections_idle: z.number().int(),
  connections_idle_in_transaction: z.number().int(),
  connections_limit: z.number().int(),
  connections_ratio: z.number().nullable().openapi({ description: 'connections / limit' }),
  commits_per_s: z.number().nullable(),
  rollbacks_per_s: z.number().nullable(),
  cache_hit_ratio: z.number().nullable(),
  deadlocks: z.number().nullable(),
  temp_bytes: z.number().nullable(),
  size_bytes: z.number(),
}).openapi('ProjectMetricBucket');

export const TopStatement = z.object({
  query: z.string().openapi({ description: "pg_stat_statements' normalized text: constants are $1, $2, …; never parameters" }),
  calls: z.number(), total_ms: z.number(), mean_ms: z.number(), rows: z.number(),
});

export const METRIC_INTERVALS = { '1m': 60, '5m': 300, '1h': 3600 } as const;

export const getMetrics = createRoute({
  operationId: 'getProjectMetrics',
  method: 'get',
  path: '/v1/projects/{id}/metrics',
  tags: ['projects'],
  summary: "Database metrics of the project per bucket (connections, transactions, cache hits, deadlocks, temp bytes, size) and its top statements",
  request: {
    params: IdParam,
    query: z.object({
      interval: z.enum(['1m', '5m', '1h']).default('5m'),
      since: Timestamp.optional().openapi({ description: 'default: 1 h ago for 1m, 6 h for 5m, 7 days for 1h' }),
      until: Timestamp.optional().openapi({ description: 'default: now' }),
    }),
  },
  responses: {
    200: {
      description: 'buckets with samples, oldest first; rates come from the deltas between samples',
      content: {
        'application/json': {
          schema: z.object({
            interval: z.enum(['1m', '5m', '1h']), since: z.string(), until: z.string(), data: z.array(MetricBucket),
            top_statements: z.object({ ts: z.string(), statements: z.array(TopStatement) }).nullable()
              .openapi({ description: 'from the newest sample that had them; null where pg_stat_statements is not installed and loaded' }),
          }),
        },
      },
    },
  },
});
