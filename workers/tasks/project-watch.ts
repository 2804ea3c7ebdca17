/**
 * Watching live projects: the sweeper makes a `project.health` and a `project.metrics` job per
 * active (or degraded) project every interval (workers/scheduler.ts).
 *
 * - `project.health` asks the project's provider how it is (Supabase: its services through the
 *   Management API; postgres: a connection with the project's own credentials), stores the
 *   reading on the project (`health: {status, checked_at, services}`), and moves a `degraded`
 *   project back to `active` once it is healthy. A changed health status goes out on realtime
 *   (the projects trigger publishes it).
 * - `project.metrics` samples the database's statistics views over the project's own connection
 *   (providers/project/db-metrics.ts) into `project_metrics`.
 */
import { getProject, setProjectHealth, transitionProject, type Project } from '../../db/projects.repo.ts';
import { insertMetricSample } from '../../db/project-metrics.repo.ts';
import { redactText } from '../../core/log.ts';
import { sampleDatabase } from '../providers/project/db-metrics.ts';
import { assertConnectable, DatabaseRefused, type DatabaseTarget } from '../../core/database-import.ts';
import type { HealthReading } from '../providers/project/provisioner.ts';
import { defineTask, type TaskContext } from '../registry.ts';
import { done, type StepOutcome } from '../step.ts';
import { ProjectJobPayload } from './project.ts';

const WATCHED = new Set(['active', 'degraded']);

/** The project's sealed credentials, opened (old rows hold a bare connection string). */
async function credentialsOf(ctx: TaskContext<ProjectJobPayload>, project: Project): Promise<Record<string, string> | null> {
  if (!project.connection) return null;
  const opened = await ctx.deps.box.open(project.connection, project.id);
  return opened.startsWith('{') ? JSON.parse(opened) as Record<string, string> : { connection_string: opened };
}

/**
 * An imported database's connection string is tenant input: its host is checked again before
 * every connection (a name may have been pointed at a private address since the import).
 */
async function refusedTarget(project: Project, credentials: Record<string, string> | null, target: DatabaseTarget): Promise<string | null> {
  if (project.provider !== 'postgres' || !(project.providerDetails as { imported?: boolean }).imported || !credentials?.connection_string) return null;
  try {
    await assertConnectable(credentials.connection_string, target);
    return null;
  } catch (err) {
    if (err instanceof DatabaseRefused) return `the connection string was refused: ${err.message}`;
    throw err;
  }
}

export const checkProjectHealth = (target: DatabaseTarget) => defineTask({
  kind: 'project.health',
  payload: ProjectJobPayload,
  async run(ctx): Promise<StepOutcome> {
    const project = await getProject(ctx.deps.db.sql, ctx.job.tenantId, ctx.payload.project_id);
    if (!project || !WATCHED.has(project.status)) return done({ skipped: project ? `project is ${project.status}` : 'project not found' });
    const provider = ctx.deps.providers.projects[project.provider];
    if (!provider) throw new Error(`the ${project.provider} project provider is not configured on this worker`);
    const credentials = await credentialsOf(ctx, project);
    let reading: HealthReading;
    const refused = await refusedTarget(project, credentials, target);
    if (refused) reading = { status: 'unhealthy', services: [{ name: 'db', status: 'unhealthy', error: refused }], error: refused };
    else try {
      reading = await ctx.call('provider.project.health', () => provider.health({
        projectId: project.id, tenantId: project.tenantId, name: project.name, providerRef: project.providerRef,
        details: project.providerDetails as Record<string, unknown>,
      }, { credentials, signal: ctx.signal }), { 'switchyard.provider': provider.name });
    } catch (err) {
      // No answer is a reading too: the project's health is unknown, and says why.
      reading = { status: 'unknown', services: [], error: redactText(err instanceof Error ? err.message : String(err)) };
    }
    const health = { status: reading.status, checked_at: new Date().toISOString(), services: reading.services, ...(reading.error ? { error: reading.error } : {}) };
    return done({ health: reading.status }, async (tx) => {
      await setProjectHealth(tx, project.tenantId, project.id, health, reading.providerStatus ? { provider_status: reading.providerStatus } : {});
      if (project.status === 'degraded' && reading.status === 'healthy') {
        await transitionProject(tx, project.tenantId, project.id, 'recovered', { lastError: null, providerDetails: { serving: true } });
      }
    });
  },
});

export const sampleProjectMetrics = (target: DatabaseTarget) => defineTask({
  kind: 'project.metrics',
  payload: ProjectJobPayload,
  async run(ctx): Promise<StepOutcome> {
    const project = await getProject(ctx.deps.db.sql, ctx.job.tenantId, ctx.payload.project_id);
    if (!project || !WATCHED.has(project.status)) return done({ skipped: project ? `project is ${project.status}` : 'project not found' });
    const creds = await credentialsOf(ctx, project);
    const pooled = creds?.pooled_connection_string;
    // An adopted Supabase project whose database password was not given has no connection strings.
    if (!creds || !(pooled ?? creds.connection_string)) return done({ skipped: 'the project has no database credentials' });
    const refused = await refusedTarget(project, creds, target);
    if (refused) return done({ skipped: refused });
    let sample;
    try {
      sample = await ctx.call('project.metrics.sample', () => sampleDatabase(pooled ?? creds.connection_string!, { pooled: !!pooled }));
    } catch (err) {
      // The database not answering is the health check's to report; a sample is simply missing.
      return done({ skipped: 'the database did not answer', error: redactText(err instanceof Error ? err.message : String(err)) });
    }
    const ts = new Date().toISOString();
    await insertMetricSample(ctx.deps.db.sql, {
      tenantId: project.tenantId, projectId: project.id, ts,
      connectionsTotal: sample.connections.total, connectionsActive: sample.connections.active, connectionsIdle: sample.connections.idle,
      connectionsIdleInTx: sample.connections.idle_in_transaction, connectionsLimit: sample.connections.limit,
      xactCommit: sample.xact_commit, xactRollback: sample.xact_rollback, blksHit: sample.blks_hit, blksRead: sample.blks_read,
      deadlocks: sample.deadlocks, tempBytes: sample.temp_bytes, sizeBytes: sample.size_bytes, topStatements: sample.top_statements,
    });
    return done({ ts, connections: sample.connections.total, limit: sample.connections.limit });
  },
});

/** `target`: whether imported databases may be on private hosts (SWITCHYARD_IMPORT_ALLOW_PRIVATE_HOSTS), and how names resolve. */
export function projectWatchTasks(target: DatabaseTarget) {
  return [checkProjectHealth(target), sampleProjectMetrics(target)];
}
