/** The projects contract: zod schemas that validate requests and generate /openapi.json. */
import { createRoute, z } from '@hono/zod-openapi';
import { ProjectStatus } from '../../../db/status.ts';
import { idParam, ListQuery, problemContent, pageOf, problems } from '../../lib/http.ts';
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
  connection_string: z.string().openapi({ description: "a direct connection (Supabase: `db.<ref>.supabase.co:5432`, IPv6 unless the project has the IPv4 add-on)" }),
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
