/** The projects contract: zod schemas that validate requests and generate /openapi.json. */
import { createRoute, z } from '@hono/zod-openapi';
import { ProjectStatus } from '../../../db/status.ts';
import { idParam, ListQuery, problemContent, pageOf } from '../../lib/http.ts';
import { JobSchema, ProjectSchema } from '../schemas.ts';

export const CreateProjectBody = z.strictObject({
  name: z.string().trim().min(1).max(100).openapi({ example: 'Acme production' }),
  slug: z.string().regex(/^[a-z][a-z0-9-]{1,47}[a-z0-9]$/, 'lowercase letters, digits and dashes, 3–49 characters, starting with a letter')
    .optional().openapi({ example: 'acme-prod' }),
  plan: z.enum(['free', 'pro', 'enterprise']).default('free'),
  region: z.string().regex(/^[a-z]{2}-[a-z]+-\d$/, 'a region such as us-east-1').default('us-east-1'),
}).openapi('CreateProject');

const IdParam = idParam('prj');
const Accepted = z.object({ project: ProjectSchema, job: JobSchema }).openapi('ProjectAccepted');
const IdempotencyHeader = z.object({
  'idempotency-key': z.string().optional().openapi({ description: 'replays the first response for a repeated request' }),
});

const errors = {
  400: problemContent('invalid input'),
  401: problemContent('missing or invalid API key'),
  403: problemContent('the key may not do this'),
  404: problemContent('no such project in this tenant'),
  409: problemContent('conflicting state'),
  413: problemContent('body too large'),
  422: problemContent('Idempotency-Key reused with a different request'),
};

export const createProject = createRoute({
  method: 'post',
  path: '/v1/projects',
  tags: ['projects'],
  summary: 'Create a project (provisioned asynchronously)',
  request: {
    headers: IdempotencyHeader,
    body: { required: true, content: { 'application/json': { schema: CreateProjectBody } } },
  },
  responses: { 202: { description: 'accepted; watch the job or the realtime stream', content: { 'application/json': { schema: Accepted } } }, ...errors },
});

export const listProjects = createRoute({
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
    ...errors,
  },
});

export const getProject = createRoute({
  method: 'get',
  path: '/v1/projects/{id}',
  tags: ['projects'],
  summary: 'Get a project',
  request: { params: IdParam },
  responses: { 200: { description: 'the project', content: { 'application/json': { schema: z.object({ project: ProjectSchema }) } } }, ...errors },
});

const transition = (action: 'suspend' | 'resume') => createRoute({
  method: 'post',
  path: `/v1/projects/{id}/${action}`,
  tags: ['projects'],
  summary: `${action[0]!.toUpperCase()}${action.slice(1)} a project`,
  request: { params: IdParam, headers: IdempotencyHeader },
  responses: { 202: { description: 'accepted', content: { 'application/json': { schema: Accepted } } }, ...errors },
});
export const suspendProject = transition('suspend');
export const resumeProject = transition('resume');

export const deleteProject = createRoute({
  method: 'delete',
  path: '/v1/projects/{id}',
  tags: ['projects'],
  summary: 'Delete a project (its database is dropped; the record stays as `deleted`)',
  request: { params: IdParam },
  responses: { 202: { description: 'accepted', content: { 'application/json': { schema: Accepted } } }, ...errors },
});

export const getCredentials = createRoute({
  method: 'get',
  path: '/v1/projects/{id}/credentials',
  tags: ['projects'],
  summary: 'Reveal the connection string (admin and member keys only)',
  request: { params: IdParam },
  responses: {
    200: { description: 'credentials', content: { 'application/json': { schema: z.object({ connection_string: z.string() }) } } },
    ...errors,
  },
});
