/**
 * Project handlers: each mutation is one transaction (project row + job row + idempotency row),
 * then a dispatch after commit. Nothing here waits on a provider.
 */
import { OpenAPIHono, type z } from '@hono/zod-openapi';
import type { Context } from 'hono';
import { writeSubjectsWithJobs, writeSubjectWithJob, type Job, type SubjectJob } from '../../../db/jobs.repo.ts';
import {
  getProject,
  getProjectConnection,
  insertImportedProjectQuery,
  insertProjectsQuery,
  providerRefTaken,
  listProjects,
  transitionProjectQuery,
  type NewProject,
  type Project,
} from '../../../db/projects.repo.ts';
import { projectTransitions } from '../../../db/status.ts';
import { rowFromJson, type Sql } from '../../../db/client.ts';
import type { AppDeps, AppEnv } from '../../deps.ts';
import { badRequest, conflict, notFound, Problem, unprocessable } from '../../errors.ts';
import { DatabaseRefused, verifyDatabase } from '../../../core/database-import.ts';
import { latestTopStatements, metricBuckets } from '../../../db/project-metrics.repo.ts';
import { newId } from '../../../core/ids.ts';
import { createBatcher } from '../../lib/batch.ts';
import { decodeCursor, mutate, page, validationHook } from '../../lib/http.ts';
import { requireRole } from '../../middleware/auth.ts';
import { auditForStatement, auditWritten } from '../../middleware/audit.ts';
import { toJob, toProject } from '../schemas.ts';
import * as routes from './projects.routes.ts';
import { traceparentOf } from '../../middleware/tracing.ts';
import { deadlineAt } from '../../../core/deadlines.ts';
import { supabaseRefusal } from '../../../core/supabase-rules.ts';
import { deadlinesOf } from '../../../core/env.ts';

const ACTIONS = {
  suspend: { transition: 'suspend', kind: 'project.suspend', waitsIn: 'suspending' },
  resume: { transition: 'resume', kind: 'project.resume', waitsIn: 'resuming' },
  delete: { transition: 'delete', kind: 'project.delete', waitsIn: 'deleting' },
} as const;

/** The sealed credentials: JSON since the supabase provider; a bare connection string before it. */
function parseCredentials(opened: string): z.infer<typeof routes.Credentials> {
  if (opened.startsWith('{')) return JSON.parse(opened) as z.infer<typeof routes.Credentials>;
  return { connection_string: opened };
}

function slugify(name: string): string {
  const s = name.toLowerCase().normalize('NFKD').replace(/[^a-z0-9]+/g, '-').replace(/^-+|-+$/g, '').slice(0, 40);
  return /^[a-z]/.test(s) && s.length >= 3 ? s : `p-${s}`.replace(/-+$/, '').padEnd(3, '0');
}

export function projectsRouter(deps: AppDeps) {
  const app = new OpenAPIHono<AppEnv>({ defaultHook: validationHook });
  const deadlines = deadlinesOf(deps.config);
  const member = requireRole('member');
  app.on(['POST', 'DELETE'], '/v1/projects', member);
  app.on(['POST', 'DELETE'], '/v1/projects/*', member);
  app.use('/v1/projects/:id/credentials', member);

  // A create without an Idempotency-Key is one statement on the pool, and under load several share
  // one (functions/lib/batch.ts): bench, 50 connections, 1.6–2× the creates per second, with
  // Postgres's CPU per create cut by more than half. A new Idempotency-Key is stored by that same
  // statement (mutate's `inStatement`); a key seen before goes through the key's transaction.
  type Create = { project: NewProject; job: SubjectJob };
  const writeCreates = async (sql: Sql, items: Create[]) => {
    const written = await writeSubjectsWithJobs<Project>(sql, 'project', insertProjectsQuery(sql, items.map((i) => i.project)), items.map((i) => i.job));
    return items.map((i) => written.get(i.project.id) ?? null);
  };
  const creates = createBatcher<Create, { subject: Project; job: Job } | null>({ run: (items) => writeCreates(deps.db.sql, items) });
  const createProject = async (sql: Sql, c: Create) =>
    sql === deps.db.sql ? creates.submit(c) : (await writeCreates(sql, [c]))[0]!;

  app.openapi(routes.createProject, async (c) => {
    const body = c.req.valid('json');
    const { tenantId } = c.get('principal');
    const provider = body.provider ?? deps.projectProviders[0]!;
    if (!deps.projectProviders.includes(provider)) {
      throw unprocessable(`the ${provider} project provider is not configured on this deployment (available: ${deps.projectProviders.join(', ')})`
        + (provider === 'supabase' ? '; it needs SUPABASE_ACCESS_TOKEN and SUPABASE_ORGANIZATION_SLUG' : ''));
    }
    const audit = auditForStatement(c);
    return mutate(c, deps, body, async (sql, keyed) => {
      const id = newId('prj');
      const slug = body.slug ?? slugify(body.name);
      const project = { id, tenantId, name: body.name, slug, plan: body.plan, region: body.region, provider };
      const headers = { Location: `/v1/projects/${id}` };
      const job = {
        id: newId('job'), subjectId: id, kind: 'project.provision', payload: { project_id: id }, maxAttempts: deps.config.SWITCHYARD_MAX_ATTEMPTS, traceparent: traceparentOf(c),
        deadlineAt: deadlineAt(deadlines, 'project', provider, 'provisioning'),
        // With a key, the create's own statement stores it with the rows it wrote.
        ...(keyed ? { idempotency: { ...keyed, status: 202, headers } } : {}),
        // The audit row too (middleware/audit.ts, IN_STATEMENT): the change and its record commit as one.
        ...(audit ? { audit: { ...audit, status: 202 } } : {}),
      };
      const created = (await createProject(sql, { project, job }))
        // A slug the caller chose must be theirs; one derived from the name gets a suffix instead.
        ?? (body.slug ? null : await createProject(sql, { project: { ...project, slug: `${slug}-${id.slice(-6)}` }, job }));
      if (!created) throw conflict(`the slug "${slug}" is already used by another project`, { errors: [{ field: 'slug', message: 'already in use' }] });
      if (audit) auditWritten(c);
      return { status: 202, body: { project: toProject(created.subject), job: toJob(created.job) }, headers, jobs: [created.job] };
    }, { inStatement: { render: (rows) => ({ project: toProject(rowFromJson<Project>(rows.subject)), job: toJob(rowFromJson<Job>(rows.job)) }) } });
  });

  app.openapi(routes.importProject, async (c) => {
    const body = c.req.valid('json');
    const { tenantId } = c.get('principal');
    if (!deps.projectProviders.includes(body.provider)) {
      throw unprocessable(`the ${body.provider} project provider is not configured on this deployment (available: ${deps.projectProviders.join(', ')})`
        + (body.provider === 'supabase' ? '; it needs SUPABASE_ACCESS_TOKEN and SUPABASE_ORGANIZATION_SLUG' : ''));
    }
    const id = newId('prj');
    const slug = body.slug ?? `${slugify(body.name).slice(0, 40)}-${id.slice(-6)}`;
    const base = { id, tenantId, name: body.name, slug, plan: body.plan, region: body.region, provider: body.provider };
    const taken = async (sql: Sql, ref: string | null) => {
      if (ref && await providerRefTaken(sql, body.provider, ref)) throw conflict(`this ${body.provider} project is already registered`, { errors: [{ field: body.provider === 'supabase' ? 'ref' : 'connection_string', message: 'already registered' }] });
      throw conflict(`the slug "${slug}" is already used by another project`, { errors: [{ field: 'slug', message: 'already in use' }] });
    };
    if (body.provider === 'postgres') {
      // Verified before anything is written: it must be a public host, and connect.
      let verified;
      try {
        verified = await verifyDatabase(body.connection_string, { allowPrivate: deps.config.SWITCHYARD_IMPORT_ALLOW_PRIVATE_HOSTS, ...(deps.resolveHost ? { resolve: deps.resolveHost } : {}) });
      } catch (err) {
        if (!(err instanceof DatabaseRefused)) throw err;
        throw new Problem(422, 'Unprocessable request', `the connection string was refused: ${err.message}`, { errors: [{ field: 'connection_string', message: err.message }] });
      }
      // The same database twice is the same project: its identity is host, database and user.
      const ref = `${verified.host}/${verified.database}/${verified.user}`;
      const sealed = await deps.box.seal(JSON.stringify({ connection_string: body.connection_string }), id);
      return mutate(c, deps, body, async (sql) => {
        const [row] = await insertImportedProjectQuery(sql, {
          ...base, status: 'active', providerRef: ref, connection: sealed,
          providerDetails: { imported: true, database: verified.database, user: verified.user, server_version: verified.server_version, serving: true },
        }) as unknown as Project[];
        if (!row) return taken(sql, ref);
        return { status: 201, body: { project: toProject(row) }, headers: { Location: `/v1/projects/${id}` }, jobs: [] };
      });
    }
    const dbPass = body.db_pass === undefined ? undefined : await deps.box.seal(body.db_pass, `${id}:db-password`);
    return mutate(c, deps, body, async (sql) => {
      const job = {
        id: newId('job'), subjectId: id, kind: 'project.provision', payload: { project_id: id, ...(dbPass ? { db_pass: dbPass } : {}) },
        maxAttempts: deps.config.SWITCHYARD_MAX_ATTEMPTS, traceparent: traceparentOf(c),
        deadlineAt: deadlineAt(deadlines, 'project', body.provider, 'provisioning'),
      };
      const created = await writeSubjectWithJob<Project>(sql, 'project', insertImportedProjectQuery(sql, {
        ...base, status: 'provisioning', providerRef: body.ref, connection: null, providerDetails: { imported: true },
      }), job);
      if (!created) return taken(sql, body.ref);
      return { status: 202, body: { project: toProject(created.subject), job: toJob(created.job) }, headers: { Location: `/v1/projects/${id}` }, jobs: [created.job] };
    });
  });

  app.openapi(routes.listProjects, async (c) => {
    const q = c.req.valid('query');
    const rows = await listProjects(deps.db.sql, c.get('principal').tenantId, { status: q.status, after: decodeCursor(q.cursor), limit: q.limit + 1 });
    const p = page(c, rows, q.limit);
    return c.json({ data: p.rows.map(toProject), pagination: p.pagination }, 200);
  });

  app.openapi(routes.getProject, async (c) => {
    const { id } = c.req.valid('param');
    const project = await getProject(deps.db.sql, c.get('principal').tenantId, id);
    if (!project) throw notFound(`project ${id}`);
    return c.json({ project: toProject(project) }, 200);
  });

  const requestAction = (c: Context<AppEnv>, id: string, action: keyof typeof ACTIONS) => {
    const { tenantId } = c.get('principal');
    const { transition, kind, waitsIn } = ACTIONS[action];
    return mutate(c, deps, { id, action }, async (sql) => {
      const existing = await getProject(sql, tenantId, id);
      if (!existing) throw notFound(`project ${id}`);
      // An imported Postgres database is the tenant's own: watched, never changed.
      if (existing.provider === 'postgres' && action !== 'delete' && (existing.providerDetails as { imported?: boolean }).imported) {
        throw unprocessable(`an imported Postgres database can't be ${action === 'suspend' ? 'suspended' : 'resumed'} by Switchyard: it only watches it (delete forgets it)`);
      }
      if (existing.provider === 'supabase' && action !== 'delete') {
        const refusal = supabaseRefusal(action, existing.providerDetails as Record<string, unknown>);
        if (refusal) throw unprocessable(refusal);
      }
      const job = {
        id: newId('job'), subjectId: id, kind, payload: { project_id: id }, maxAttempts: deps.config.SWITCHYARD_MAX_ATTEMPTS, traceparent: traceparentOf(c),
        deadlineAt: deadlineAt(deadlines, 'project', existing.provider, waitsIn),
      };
      const done = await writeSubjectWithJob<Project>(sql, 'project', transitionProjectQuery(sql, tenantId, id, transition), job);
      if (!done) {
        const current = await getProject(sql, tenantId, id);
        if (!current) throw notFound(`project ${id}`);
        const allowed = projectTransitions[transition].from;
        throw conflict(`cannot ${action} a project that is ${current.status}; ${action} is allowed from ${allowed.join(', ')}`, {
          current_status: current.status,
          action,
        });
      }
      return { status: 202, body: { project: toProject(done.subject), job: toJob(done.job) }, headers: { Location: `/v1/projects/${id}` }, jobs: [done.job] };
    });
  };

  app.openapi(routes.suspendProject, (c) => requestAction(c, c.req.valid('param').id, 'suspend'));
  app.openapi(routes.resumeProject, (c) => requestAction(c, c.req.valid('param').id, 'resume'));
  app.openapi(routes.deleteProject, (c) => requestAction(c, c.req.valid('param').id, 'delete'));

  app.openapi(routes.getCredentials, async (c) => {
    const { id } = c.req.valid('param');
    const { tenantId } = c.get('principal');
    const row = await getProjectConnection(deps.db.sql, tenantId, id);
    if (!row) throw notFound(`project ${id}`);
    if (!row.connection) throw conflict(`project ${id} has no credentials while it is ${row.status}`, { current_status: row.status });
    const { secret_key, ...shared } = parseCredentials(await deps.box.open(row.connection, id));
    c.header('Cache-Control', 'no-store');
    // Full access to a Supabase project goes to admin keys only.
    return c.json({ ...shared, ...(secret_key && c.get('principal').role === 'admin' ? { secret_key } : {}) }, 200);
  });

  app.openapi(routes.getHealth, async (c) => {
    const { id } = c.req.valid('param');
    const project = await getProject(deps.db.sql, c.get('principal').tenantId, id);
    if (!project) throw notFound(`project ${id}`);
    return c.json({ project_id: id, project_status: project.status, health: (project.health ?? null) as z.infer<typeof routes.HealthSchema> | null }, 200);
  });

  app.openapi(routes.getMetrics, async (c) => {
    const { id } = c.req.valid('param');
    const q = c.req.valid('query');
    const { tenantId } = c.get('principal');
    const project = await getProject(deps.db.sql, tenantId, id);
    if (!project) throw notFound(`project ${id}`);
    const intervalS = routes.METRIC_INTERVALS[q.interval];
    const until = q.until ? new Date(q.until) : new Date();
    const since = q.since ? new Date(q.since) : new Date(until.getTime() - intervalS * (q.interval === '1h' ? 168 : q.interval === '5m' ? 72 : 60) * 1000);
    const buckets = (until.getTime() - since.getTime()) / (intervalS * 1000);
    if (!(buckets > 0)) throw badRequest('since must be before until', [{ field: 'since', message: 'after until' }]);
    if (buckets > 1440) throw badRequest('at most 1440 buckets per query', [{ field: 'since', message: 'range too long for this interval' }]);
    const [rows, top] = await Promise.all([
      metricBuckets(deps.db.sql, tenantId, id, { since: since.toISOString(), until: until.toISOString(), intervalS }),
      latestTopStatements(deps.db.sql, tenantId, id),
    ]);
    return c.json({
      interval: q.interval, since: since.toISOString(), until: until.toISOString(),
      data: rows.map((r) => ({
        ts: new Date(r.ts).toISOString(), samples: r.samples, connections: r.connections, connections_active: r.connectionsActive,
        connections_idle: r.connectionsIdle, connections_idle_in_transaction: r.connectionsIdleInTx, connections_limit: r.connectionsLimit,
        connections_ratio: r.connectionsRatio, commits_per_s: r.commitsPerS, rollbacks_per_s: r.rollbacksPerS, cache_hit_ratio: r.cacheHitRatio,
        deadlocks: r.deadlocks, temp_bytes: r.tempBytes, size_bytes: r.sizeBytes,
      })),
      top_statements: top ? { ts: new Date(top.ts).toISOString(), statements: top.statements as z.infer<typeof routes.TopStatement>[] } : null,
    }, 200);
  });

  return app;
}
