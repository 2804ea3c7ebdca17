/**
 * Store handlers. A create is one transaction: the rate-limit token, the plan-cap check (the
 * bucket row's lock serialises a tenant's creates, so racing creates can't both take the last
 * slot), the store row, its job and the idempotency row; then a dispatch after commit. A refused
 * create writes nothing.
 */
import { OpenAPIHono, type z } from '@hono/zod-openapi';
import { writeSubjectWithJob } from '../../../db/jobs.repo.ts';
import { storeTransitions } from '../../../db/status.ts';
import {
  countLiveStores,
  lockTenantStores,
  getStore,
  insertStoreQuery,
  listStoreEvents,
  listStores,
  takeInitialCredentials,
  transitionStoreQuery,
  type Store,
} from '../../../db/stores.repo.ts';
import type { AppDeps, AppEnv } from '../../deps.ts';
import { conflict, notFound, Problem, unprocessable } from '../../errors.ts';
import { newId } from '../../../core/ids.ts';
import { decodeCursor, mutate, page, validationHook } from '../../lib/http.ts';
import { requireRole } from '../../middleware/auth.ts';
import { toJob } from '../schemas.ts';
import * as routes from './stores.routes.ts';
import { traceparentOf } from '../../middleware/tracing.ts';
import { deadlineAt } from '../../../core/deadlines.ts';
import { deadlinesOf } from '../../../core/env.ts';

export const toStore = (s: Store): z.infer<typeof routes.StoreSchema> => ({
  id: s.id,
  name: s.name,
  engine: s.engine as 'medusa',
  plan: s.plan as 'free',
  runtime: s.runtime as 'postgres',
  status: s.status,
  urls: { storefront: null, admin: null, ...(s.urls as object) },
  runtime_details: s.runtimeDetails as Record<string, unknown>,
  last_error: s.lastError,
  credentials_available: s.initialCredentials !== null,
  created_at: s.createdAt,
  updated_at: s.updatedAt,
});

export function storesRouter(deps: AppDeps) {
  const app = new OpenAPIHono<AppEnv>({ defaultHook: validationHook });
  const member = requireRole('member');
  app.on(['POST', 'DELETE'], '/v1/stores', member);
  app.on(['POST', 'DELETE'], '/v1/stores/*', member);
  app.use('/v1/stores/:id/credentials', member);

  const cfg = deps.config;
  const deadlines = deadlinesOf(cfg);
  const caps = { free: cfg.SWITCHYARD_STORE_CAP_FREE, pro: cfg.SWITCHYARD_STORE_CAP_PRO, enterprise: cfg.SWITCHYARD_STORE_CAP_ENTERPRISE };

  app.openapi(routes.createStore, async (c) => {
    const body = c.req.valid('json');
    const { tenantId, plan: tenantPlan } = c.get('principal');
    if (!deps.storeRuntimes.includes(body.runtime)) {
      throw unprocessable(`the ${body.runtime} runtime is not configured on this deployment (available: ${deps.storeRuntimes.join(', ')})`);
    }
    return mutate(c, deps, body, async (tx) => {
      // The create rate (the `stores-create` class) was checked before the handler. This lock
      // serialises the tenant's creates until commit, so the cap check below can't be raced.
      await lockTenantStores(tx, tenantId);
      const cap = caps[tenantPlan];
      const live = await countLiveStores(tx, tenantId);
      if (live >= cap) {
        throw conflict(`the ${tenantPlan} plan allows ${cap} stores and this tenant has ${live}; delete one or upgrade`, { limit: cap, current: live });
      }
      const id = newId('sto');
      const store = { id, tenantId, name: body.name, engine: body.engine, plan: body.plan ?? tenantPlan, runtime: body.runtime };
      const job = {
        id: newId('job'), subjectId: id, kind: 'store.provision', payload: { store_id: id }, maxAttempts: cfg.SWITCHYARD_MAX_ATTEMPTS, traceparent: traceparentOf(c),
        deadlineAt: deadlineAt(deadlines, 'store', body.runtime, 'provisioning'),
      };
      const created = await writeSubjectWithJob<Store>(tx, 'store', insertStoreQuery(tx, store), job);
      if (!created) throw conflict(`a store named "${body.name}" already exists`, { errors: [{ field: 'name', message: 'already in use' }] });
      return {
        status: 202,
        body: { store: toStore(created.subject), job: toJob(created.job) },
        headers: { Location: `/v1/stores/${id}` },
        jobs: [created.job],
      };
    }, { transaction: true });
  });

  app.openapi(routes.listStores, async (c) => {
    const q = c.req.valid('query');
    const rows = await listStores(deps.db.sql, c.get('principal').tenantId, { status: q.status, after: decodeCursor(q.cursor), limit: q.limit + 1 });
    const p = page(c, rows, q.limit);
    return c.json({ data: p.rows.map(toStore), pagination: p.pagination }, 200);
  });

  app.openapi(routes.getStore, async (c) => {
    const { id } = c.req.valid('param');
    const store = await getStore(deps.db.sql, c.get('principal').tenantId, id);
    if (!store) throw notFound(`store ${id}`);
    return c.json({ store: toStore(store) }, 200);
  });

  app.openapi(routes.storeEvents, async (c) => {
    const { id } = c.req.valid('param');
    const { tenantId } = c.get('principal');
    if (!(await getStore(deps.db.sql, tenantId, id))) throw notFound(`store ${id}`);
    const rows = await listStoreEvents(deps.db.sql, tenantId, id);
    return c.json({ data: rows.map((e) => ({ id: e.id, job_id: e.jobId, kind: e.kind, type: e.type, data: e.data, created_at: e.createdAt })) }, 200);
  });

  app.openapi(routes.deleteStore, async (c) => {
    const { id } = c.req.valid('param');
    const { tenantId } = c.get('principal');
    return mutate(c, deps, { id, action: 'delete' }, async (sql) => {
      const existing = await getStore(sql, tenantId, id);
      if (!existing) throw notFound(`store ${id}`);
      const job = {
        id: newId('job'), subjectId: id, kind: 'store.delete', payload: { store_id: id }, maxAttempts: cfg.SWITCHYARD_MAX_ATTEMPTS, traceparent: traceparentOf(c),
        deadlineAt: deadlineAt(deadlines, 'store', existing.runtime, 'deleting'),
      };
      const done = await writeSubjectWithJob<Store>(sql, 'store', transitionStoreQuery(sql, tenantId, id, 'delete'), job);
      if (!done) {
        const current = await getStore(sql, tenantId, id);
        if (!current) throw notFound(`store ${id}`);
        throw conflict(`cannot delete a store that is ${current.status}; delete is allowed from ${storeTransitions.delete.from.join(', ')}`, {
          current_status: current.status, action: 'delete',
        });
      }
      return { status: 202, body: { store: toStore(done.subject), job: toJob(done.job) }, headers: { Location: `/v1/stores/${id}` }, jobs: [done.job] };
    });
  });

  app.openapi(routes.getCredentials, async (c) => {
    const { id } = c.req.valid('param');
    const { tenantId } = c.get('principal');
    const row = await takeInitialCredentials(deps.db.sql, tenantId, id);
    if (!row) throw notFound(`store ${id}`);
    if (!row.sealed) {
      if (row.revealedAt) throw new Problem(410, 'Gone', `the first admin credentials of store ${id} were revealed at ${row.revealedAt} and are not kept; reset the password in the store`);
      throw conflict(`store ${id} has no credentials while it is ${row.status}`, { current_status: row.status });
    }
    c.header('Cache-Control', 'no-store');
    return c.json(JSON.parse(await deps.box.open(row.sealed, id)), 200);
  });

  return app;
}
