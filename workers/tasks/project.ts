/**
 * Project lifecycle tasks, step by step over the project's own provider (postgres or supabase):
 * each step calls the provider once and either finishes, with the transition committed in the
 * same transaction as the job's outcome (`done(result, commit)`), or waits, with the provider's
 * progress (its ref, its own status) recorded the same way. A wait that would pass the job's
 * deadline ends it: the project is `failed`, or `degraded` when the provider last said it still
 * serves, with the provider's status and how long it was stuck as the reason, and an `alert`
 * event in the tenant's monitoring store.
 */
import { z } from 'zod';
import { getProject, patchProjectDetails, transitionProject, type Project } from '../../db/projects.repo.ts';
import { insertEvents } from '../../db/events.repo.ts';
import { insertLogSource } from '../../db/log-sources.repo.ts';
import { newId } from '../../core/ids.ts';
import type { Job } from '../../db/jobs.repo.ts';
import type { Sql } from '../../db/client.ts';
import type { ProjectTransition } from '../../db/status.ts';
import { formatDuration } from '../../core/deadlines.ts';
import type { ProjectHandle, ProjectProvider, ProjectStep, StepContext } from '../providers/project/provisioner.ts';
import { defineTask, type TaskContext } from '../registry.ts';
import { continueAfter, done, fail, pastDeadline, type StepOutcome } from '../step.ts';

export const ProjectJobPayload = z.object({
  project_id: z.string(),
  /** An imported Supabase project's database password, sealed (`<project id>:db-password`), when the tenant gave it. */
  db_pass: z.string().optional(),
});
export type ProjectJobPayload = z.infer<typeof ProjectJobPayload>;

/** The status each lifecycle job moves a project out of. */
const WAITS_IN = { provision: 'provisioning', suspend: 'suspending', resume: 'resuming', remove: 'deleting' } as const;

/**
 * A dead project job: the project is failed, or degraded when the provider's last report said it
 * still serves; either way an alert event says why, where the tenant's rules and searches see it.
 */
async function projectJobDead(tx: Sql, job: Job, error: string) {
  const project = await getProject(tx, job.tenantId, job.subjectId!);
  if (!project) return;
  const serving = (project.providerDetails as { serving?: unknown }).serving === true;
  const next = await transitionProject(tx, job.tenantId, project.id, serving ? 'degrade' : 'fail', { lastError: error });
  if (!next) return;
  await insertEvents(tx, [{
    ts: new Date().toISOString(), tenantId: project.tenantId, projectId: project.id, sourceId: project.id, provider: 'switchyard',
    service: null, environment: null, level: serving ? 'warn' : 'error', kind: 'alert', fingerprint: `project-${next.status}:${project.id}`,
    message: `Project "${project.name}" is ${next.status} (${job.kind} on ${project.provider} gave up): ${error}`,
    attrs: { project_id: project.id, job_id: job.id, kind: job.kind, provider: project.provider, previous_status: project.status, status: next.status },
    sourceEventId: `job-dead:${job.id}`,
  }]);
}

function providerFor(ctx: TaskContext<ProjectJobPayload>, project: Project): ProjectProvider {
  const provider = ctx.deps.providers.projects[project.provider];
  if (!provider) throw new Error(`the ${project.provider} project provider is not configured on this worker`);
  return provider;
}

const stepContext = (ctx: TaskContext<ProjectJobPayload>): StepContext => ({
  get state() {
    return ctx.state;
  },
  signal: ctx.signal,
  checkpoint: (state) => ctx.checkpoint(state),
  box: ctx.deps.box,
});

const handleOf = (p: Project): ProjectHandle => ({
  projectId: p.id, tenantId: p.tenantId, name: p.name, providerRef: p.providerRef, details: p.providerDetails as Record<string, unknown>,
});

/** A provider's wait as a continuation, or the job's end when it would outlive the deadline. */
function waitStep(ctx: TaskContext<ProjectJobPayload>, project: Project, step: Extract<ProjectStep<unknown>, { type: 'wait' }>): StepOutcome {
  const what = `${project.status} on ${project.provider}`;
  const reason = pastDeadline(ctx.job, step, what);
  if (reason) return fail(reason, { retryable: false });
  const progress = step.providerStatus
    ? `${step.note} (${project.provider} status ${step.providerStatus}${step.since ? ` for ${formatDuration(Date.now() - step.since)}` : ''})`
    : step.note;
  return continueAfter(step.delayMs, step.state, progress, async (tx) => {
    await patchProjectDetails(tx, project.tenantId, project.id, {
      ...(step.providerRef ? { providerRef: step.providerRef } : {}),
      providerDetails: { ...step.details, serving: step.serving ?? false, ...(step.providerStatus ? { provider_status: step.providerStatus } : {}) },
    });
  });
}

/** Suspend, resume or delete: the provider's steps until ready, then `transition`. */
function lifecycleStep(action: 'suspend' | 'resume' | 'remove', transition: ProjectTransition) {
  return async (ctx: TaskContext<ProjectJobPayload>): Promise<StepOutcome> => {
    const project = await getProject(ctx.deps.db.sql, ctx.job.tenantId, ctx.payload.project_id);
    if (!project) return fail('project not found', { retryable: false });
    // A duplicate delivery of a job whose project has moved on: nothing to do.
    if (project.status !== WAITS_IN[action]) return done({ project_id: project.id, skipped: `project is ${project.status}` });
    const provider = providerFor(ctx, project);
    // An imported Postgres database is the tenant's own: deleting the project only forgets it.
    const forgetOnly = project.provider === 'postgres' && (project.providerDetails as { imported?: boolean }).imported === true;
    if (forgetOnly && action !== 'remove') return fail(`an imported Postgres database is only watched: Switchyard does not ${action} it`, { retryable: false });
    const step: ProjectStep<void> = forgetOnly ? { type: 'ready', result: undefined }
      : await ctx.call(`provider.project.${action}`, () => provider[action](handleOf(project), stepContext(ctx)), { 'switchyard.provider': provider.name });
    if (step.type === 'wait') return waitStep(ctx, project, step);
    return done({ project_id: project.id }, async (tx) => {
      await transitionProject(tx, project.tenantId, project.id, transition, {
        ...(action === 'remove' ? { connection: null } : {}),
        providerDetails: { ...step.details, serving: action === 'resume', provider_status: null },
      });
    });
  };
}

export const provisionProject = defineTask({
  kind: 'project.provision',
  ownsDeadline: true,
  payload: ProjectJobPayload,
  async run(ctx) {
    const project = await getProject(ctx.deps.db.sql, ctx.job.tenantId, ctx.payload.project_id);
    if (!project) return fail('project not found', { retryable: false });
    if (project.status !== 'provisioning') return done({ project_id: project.id, skipped: `project is ${project.status}` });
    const provider = providerFor(ctx, project);
    // An import adopts the provider project its row names (provider_ref set at import).
    const adopt = (project.providerDetails as { imported?: boolean }).imported && project.providerRef
      ? { ref: project.providerRef, ...(ctx.payload.db_pass ? { sealedPassword: ctx.payload.db_pass } : {}) } : undefined;
    const step = await ctx.call('provider.project.provision', () => provider.provision(
      { projectId: project.id, tenantId: project.tenantId, name: project.name, plan: project.plan as 'free', region: project.region, ...(adopt ? { adopt } : {}) }, stepContext(ctx)),
    { 'switchyard.provider': provider.name });
    if (step.type === 'wait') return waitStep(ctx, project, step);
    const out = step.result;
    const sealed = await ctx.deps.box.seal(JSON.stringify(out.credentials), project.id);
    // The provider's logs flow into the monitoring store without a second step: its log source is
    // created with the project, in the same transaction.
    const logSource = out.logSource && { id: newId('src'), ...out.logSource };
    const sealedLogCredentials = logSource && await ctx.deps.box.seal(JSON.stringify(logSource.credentials), logSource.id);
    return done({ project_id: project.id, provider_ref: out.providerRef, ...(logSource ? { log_source_id: logSource.id } : {}) }, async (tx) => {
      if (logSource) {
        await insertLogSource(tx, {
          id: logSource.id, tenantId: project.tenantId, projectId: project.id, provider: logSource.provider, config: logSource.config,
          credentials: sealedLogCredentials!, hasApiKey: true, hasWebhookSecret: false, pullIntervalS: logSource.pullIntervalS,
        });
      }
      await transitionProject(tx, project.tenantId, project.id, out.paused ? 'adopted_paused' : 'provisioned', {
        providerRef: out.providerRef,
        connection: sealed,
        apiUrl: out.apiUrl,
        providerDetails: { ...out.details, serving: !out.paused, provider_status: null },
      });
    });
  },
  onDead: projectJobDead,
});

export const suspendProject = defineTask({ kind: 'project.suspend', payload: ProjectJobPayload, ownsDeadline: true, run: lifecycleStep('suspend', 'suspended'), onDead: projectJobDead });
export const resumeProject = defineTask({ kind: 'project.resume', payload: ProjectJobPayload, ownsDeadline: true, run: lifecycleStep('resume', 'resumed'), onDead: projectJobDead });
export const deleteProject = defineTask({ kind: 'project.delete', payload: ProjectJobPayload, ownsDeadline: true, run: lifecycleStep('remove', 'deleted'), onDead: projectJobDead });

export const projectTasks = [provisionProject, suspendProject, resumeProject, deleteProject];
