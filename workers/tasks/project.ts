/**
 * Project lifecycle tasks. Each is one provider call and one transition; the transition commits
 * in the same transaction as the job's outcome (via `done(result, commit)`), so a project is never
 * `active` while its job still looks unfinished, or the other way round.
 */
import { z } from 'zod';
import { getProject, transitionProject } from '../../db/projects.repo.ts';
import type { ProjectTransition } from '../../db/status.ts';
import type { Job } from '../../db/jobs.repo.ts';
import type { Sql } from '../../db/client.ts';
import { defineTask, type TaskContext } from '../registry.ts';
import { done, fail, type StepOutcome } from '../step.ts';

export const ProjectJobPayload = z.object({ project_id: z.string() });
export type ProjectJobPayload = z.infer<typeof ProjectJobPayload>;

const failProject = async (tx: Sql, job: Job, error: string) => {
  await transitionProject(tx, job.tenantId, job.subjectId!, 'fail', { lastError: error });
};

async function loadProject(ctx: TaskContext<ProjectJobPayload>) {
  return getProject(ctx.deps.db.sql, ctx.job.tenantId, ctx.payload.project_id);
}

/** Runs `action` against the provider, then applies `transition` with the job's success. */
function lifecycleStep(transition: ProjectTransition, action: 'suspend' | 'resume' | 'remove') {
  return async (ctx: TaskContext<ProjectJobPayload>): Promise<StepOutcome> => {
    const project = await loadProject(ctx);
    if (!project) return fail('project not found', { retryable: false });
    if (project.providerRef) {
      const ref = project.providerRef;
      await ctx.call(`provider.project.${action}`, () => ctx.deps.providers.project[action](ref, ctx.signal), { 'switchyard.provider': ctx.deps.providers.project.name });
    }
    return done({ project_id: project.id }, async (tx) => {
      await transitionProject(tx, project.tenantId, project.id, transition, action === 'remove' ? { connection: null } : {});
    });
  };
}

export const provisionProject = defineTask({
  kind: 'project.provision',
  payload: ProjectJobPayload,
  async run(ctx) {
    const project = await loadProject(ctx);
    if (!project) return fail('project not found', { retryable: false });
    const out = await ctx.call('provider.project.provision', () => ctx.deps.providers.project.provision(
      { projectId: project.id, plan: project.plan as 'free', region: project.region }, ctx.signal), { 'switchyard.provider': ctx.deps.providers.project.name });
    const sealed = await ctx.deps.box.seal(out.connectionString, project.id);
    return done({ project_id: project.id, provider_ref: out.providerRef }, async (tx) => {
      await transitionProject(tx, project.tenantId, project.id, 'provisioned', {
        providerRef: out.providerRef,
        connection: sealed,
        apiUrl: out.apiUrl,
      });
    });
  },
  onDead: failProject,
});

export const suspendProject = defineTask({
  kind: 'project.suspend',
  payload: ProjectJobPayload,
  run: lifecycleStep('suspended', 'suspend'),
  onDead: failProject,
});

export const resumeProject = defineTask({
  kind: 'project.resume',
  payload: ProjectJobPayload,
  run: lifecycleStep('resumed', 'resume'),
  onDead: failProject,
});

export const deleteProject = defineTask({
  kind: 'project.delete',
  payload: ProjectJobPayload,
  run: lifecycleStep('deleted', 'remove'),
  onDead: failProject,
});

export const projectTasks = [provisionProject, suspendProject, resumeProject, deleteProject];
