/** The jobs contract: read a job and its timeline, list a subject's jobs, the queue's counts, cancel a queued job. */
import { createRoute, z } from '@hono/zod-openapi';
import { JobStatus } from '../../../db/status.ts';
import { idParam, ListQuery, problemContent, pageOf, problems, Timestamp } from '../../lib/http.ts';
import { location } from '../../openapi.ts';
import { JobEventSchema, JobSchema } from '../schemas.ts';

const IdParam = idParam('job');

export const getJob = createRoute({
  operationId: 'getJob',
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
  },
});

export const listJobs = createRoute({
  operationId: 'listJobs',
  method: 'get',
  path: '/v1/jobs',
  tags: ['jobs'],
  summary: 'List jobs, newest first',
  request: {
    query: ListQuery.extend({
      subject: z.string().regex(/^[a-z_]+:[a-z]{3}_[0-9a-z]{26}$/, 'a subject such as project:prj_…').optional(),
      status: JobStatus.optional(),
      kind: z.string().regex(/^[a-z_]+\.[a-z_]+$/, 'a job kind such as project.provision').optional(),
    }),
  },
  responses: {
    200: {
      description: 'a page of jobs',
      content: { 'application/json': { schema: pageOf(JobSchema) } },
    },
  },
});

export const cancelJob = createRoute({
  operationId: 'cancelJob',
  method: 'post',
  path: '/v1/jobs/{id}/cancel',
  tags: ['jobs'],
  summary: 'Cancel a job that has not started',
  request: { params: IdParam },
  responses: { 200: { description: 'canceled', content: { 'application/json': { schema: z.object({ job: JobSchema }) } } }, ...problems({ 403: 'a viewer key or an event token may not change anything (member or admin keys only)', 409: 'only queued jobs can be canceled (the problem carries current_status)' }) },
});

const KindCount = z.object({ kind: z.string(), status: JobStatus, count: z.number().int() }).openapi('JobKindCount');
const KindDue = z.object({
  kind: z.string(),
  count: z.number().int().openapi({ description: 'queued jobs whose time has come' }),
  oldest_run_at: z.string(),
  oldest_age_seconds: z.number().openapi({ description: 'how long the oldest of them has waited past its run_at' }),
}).openapi('JobKindDue');

export const jobStats = createRoute({
  operationId: 'jobStats',
  method: 'get',
  path: '/v1/jobs/stats',
  tags: ['jobs'],
  summary: "The tenant's queue at a glance: jobs by kind and status, and the oldest due job per kind",
  request: {
    query: z.object({
      since: Timestamp.optional().openapi({ description: 'count finished jobs created since then (default: 24 h ago); queued and running jobs are always counted' }),
    }),
  },
  responses: {
    200: {
      description: 'counts by kind and status, and what is waiting',
      content: { 'application/json': { schema: z.object({ since: z.string(), counts: z.array(KindCount), due: z.array(KindDue) }) } },
    },
  },
});
