/** Response shapes shared by several routes, and the functions that produce them from rows. */
import { z } from '@hono/zod-openapi';
import type { Job, JobEvent } from '../../db/jobs.repo.ts';
import type { Project } from '../../db/projects.repo.ts';
import { JobStatus, ProjectStatus } from '../../db/status.ts';

export const JobSchema = z.object({
  id: z.string().openapi({ example: 'job_01jd2x3y4z5a6b7c8d9e0f1g2h' }),
  kind: z.string().openapi({ example: 'project.provision' }),
  status: JobStatus,
  subject: z.object({ type: z.string(), id: z.string() }).nullable(),
  attempts: z.number().int(),
  max_attempts: z.number().int(),
  steps: z.number().int(),
  run_at: z.string(),
  last_error: z.string().nullable(),
  result: z.unknown().nullable(),
  created_at: z.string(),
  updated_at: z.string(),
  finished_at: z.string().nullable(),
}).openapi('Job');

export const JobEventSchema = z.object({
  id: z.string(),
  type: z.string().openapi({ example: 'started' }),
  data: z.record(z.string(), z.unknown()),
  created_at: z.string(),
}).openapi('JobEvent');

export const ProjectSchema = z.object({
  id: z.string().openapi({ example: 'prj_01jd2x3y4z5a6b7c8d9e0f1g2h' }),
  name: z.string(),
  slug: z.string(),
  plan: z.enum(['free', 'pro', 'enterprise']),
  region: z.string(),
  provider: z.string(),
  status: ProjectStatus,
  api_url: z.string().nullable(),
  last_error: z.string().nullable(),
  has_credentials: z.boolean(),
  imported: z.boolean().openapi({ description: 'registered by POST /v1/projects/import, not created here' }),
  created_at: z.string(),
  updated_at: z.string(),
}).openapi('Project');

export const toJob = (j: Job): z.infer<typeof JobSchema> => ({
  id: j.id,
  kind: j.kind,
  status: j.status,
  subject: j.subjectType && j.subjectId ? { type: j.subjectType, id: j.subjectId } : null,
  attempts: j.attempts,
  max_attempts: j.maxAttempts,
  steps: j.steps,
  run_at: j.runAt,
  last_error: j.lastError,
  result: j.result ?? null,
  created_at: j.createdAt,
  updated_at: j.updatedAt,
  finished_at: j.finishedAt,
});

export const toJobEvent = (e: JobEvent): z.infer<typeof JobEventSchema> => ({
  id: e.id,
  type: e.type,
  data: e.data,
  created_at: e.createdAt,
});

/** Never includes the connection ciphertext: only /credentials reveals the connection string. */
export const toProject = (p: Project): z.infer<typeof ProjectSchema> => ({
  id: p.id,
  name: p.name,
  slug: p.slug,
  plan: p.plan as 'free',
  region: p.region,
  provider: p.provider,
  status: p.status,
  api_url: p.apiUrl,
  last_error: p.lastError,
  has_credentials: p.connection !== null,
  imported: (p.providerDetails as { imported?: unknown } | null)?.imported === true,
  created_at: p.createdAt,
  updated_at: p.updatedAt,
});
