/** The jobs contract: read a job and its timeline, list a subject's jobs, cancel a queued job. */
import { createRoute, z } from '@hono/zod-openapi';
import { JobStatus } from '../../../db/status.ts';
import { idParam, ListQuery, problemContent, pageOf } from '../../lib/http.ts';
import { JobEventSchema, JobSchema } from '../schemas.ts';

const IdParam = idParam('job');
const errors = {
  400: problemContent('invalid input'),
  401: problemContent('missing or invalid API key'),
  403: problemContent('the key may not do this'),
  404: problemContent('no such job in this tenant'),
  409: problemContent('the job is not queued'),
};

export const getJob = createRoute({
  method: 'get',
  path: '/v1/jobs/{id}',
  tags: ['jobs'],
  summary: 'Get a job with its event timeline',
  request: { params: IdParam },
  responses: {
    200: {
      description: 'the job',
      content: { 'application/json': { schema: z.object({ job: JobSchema.extend({ events: z.array(JobEventSchema) }) }) } },
    },
    ...errors,
  },
});

export const listJobs = createRoute({
  method: 'get',
  path: '/v1/jobs',
  tags: ['jobs'],
  summary: 'List jobs, newest first',
  request: {
    query: ListQuery.extend({
      subject: z.string().regex(/^[a-z_]+:[a-z]{3}_[0-9a-z]{26}$/, 'a subject such as project:prj_…').optional(),
      status: JobStatus.optional(),
    }),
  },
  responses: {
    200: {
      description: 'a page of jobs',
      content: { 'application/json': { schema: pageOf(JobSchema) } },
    },
    ...errors,
  },
});

export const cancelJob = createRoute({
  method: 'post',
  path: '/v1/jobs/{id}/cancel',
  tags: ['jobs'],
  summary: 'Cancel a job that has not started',
  request: { params: IdParam },
  responses: { 200: { description: 'canceled', content: { 'application/json': { schema: z.object({ job: JobSchema }) } } }, ...errors },
});
