import { OpenAPIHono } from '@hono/zod-openapi';
import { cancelJob, getJob, jobStats, listJobEvents, listJobs } from '../../../db/jobs.repo.ts';
import { EVENTS_CHANNEL } from '../../../db/notify.repo.ts';
import type { AppDeps, AppEnv } from '../../deps.ts';
import { conflict, notFound } from '../../errors.ts';
import { decodeCursor, page, validationHook } from '../../lib/http.ts';
import { requireRole } from '../../middleware/auth.ts';
import { toJob, toJobEvent } from '../schemas.ts';
import * as routes from './jobs.routes.ts';

export function jobsRouter(deps: AppDeps) {
  const app = new OpenAPIHono<AppEnv>({ defaultHook: validationHook });
  app.on('POST', '/v1/jobs/*', requireRole('member'));

  // Before /v1/jobs/{id}, which would read "stats" as an id.
  app.openapi(routes.jobStats, async (c) => {
    const q = c.req.valid('query');
    const since = q.since ? new Date(q.since) : new Date(Date.now() - 86_400_000);
    const stats = await jobStats(deps.db.sql, c.get('principal').tenantId, since);
    return c.json({
      since: since.toISOString(),
      counts: stats.counts,
      due: stats.due.map((d) => ({ kind: d.kind, count: d.count, oldest_run_at: new Date(d.oldestRunAt).toISOString(), oldest_age_seconds: Math.max(0, d.oldestAgeSeconds) })),
    }, 200);
  });

  app.openapi(routes.getJob, async (c) => {
    const { id } = c.req.valid('param');
    const { tenantId } = c.get('principal');
    const job = await getJob(deps.db.sql, tenantId, id);
    if (!job) throw notFound(`job ${id}`);
    const events = await listJobEvents(deps.db.sql, tenantId, id);
    return c.json({ job: { ...toJob(job), events: events.map(toJobEvent) } }, 200);
  });

  app.openapi(routes.listJobs, async (c) => {
    const q = c.req.valid('query');
    const [subjectType, subjectId] = q.subject ? q.subject.split(':') : [];
    const rows = await listJobs(deps.db.sql, c.get('principal').tenantId, {
      subjectType, subjectId, status: q.status, kind: q.kind, after: decodeCursor(q.cursor), limit: q.limit + 1,
    });
    const p = page(c, rows, q.limit);
    return c.json({ data: p.rows.map(toJob), pagination: p.pagination }, 200);
  });

  app.openapi(routes.cancelJob, async (c) => {
    const { id } = c.req.valid('param');
    const { tenantId } = c.get('principal');
    const job = await deps.db.sql.begin(async (tx) => {
      const canceled = await cancelJob(tx, tenantId, id);
      // A canceled lifecycle job leaves its subject where no job will move it: fail it, as dying would.
      if (canceled) await deps.registry.get(canceled.kind)?.onDead?.(tx, canceled, 'canceled by request');
      return canceled;
    });
    if (job) void deps.signals.signal(EVENTS_CHANNEL);
    if (!job) {
      const current = await getJob(deps.db.sql, tenantId, id);
      if (!current) throw notFound(`job ${id}`);
      throw conflict(`only queued jobs can be canceled; this one is ${current.status}`, { current_status: current.status });
    }
    return c.json({ job: toJob(job) }, 200);
  });

  return app;
}
