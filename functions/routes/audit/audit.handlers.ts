import { OpenAPIHono } from '@hono/zod-openapi';
import { listAudit, type AuditRow } from '../../../db/audit.repo.ts';
import type { AppDeps, AppEnv } from '../../deps.ts';
import { decodeCursor, page, validationHook } from '../../lib/http.ts';
import { requireRole } from '../../middleware/auth.ts';
import * as routes from './audit.routes.ts';

const toEntry = (r: AuditRow) => ({
  id: r.id, ts: new Date(r.ts).toISOString(), tenant_id: r.tenantId,
  key: { id: r.keyId, role: r.keyRole, prefix: r.keyPrefix },
  method: r.method, route: r.route, resource_id: r.resourceId, status: r.status,
  request_id: r.requestId, client_address: r.clientAddress, user_agent: r.userAgent,
});

export function auditRouter(deps: AppDeps) {
  const app = new OpenAPIHono<AppEnv>({ defaultHook: validationHook });
  app.use('/v1/audit-log', requireRole('admin'));
  app.openapi(routes.listAuditLog, async (c) => {
    const q = c.req.valid('query');
    const p = c.get('principal');
    const rows = await listAudit(deps.db.sql, p.tenantId, p.isOperator, {
      keyId: q.key, resourceId: q.resource, route: q.route, method: q.method, status: q.status, since: q.since, until: q.until,
      after: decodeCursor(q.cursor), limit: q.limit + 1,
    });
    const out = page(c, rows, q.limit);
    return c.json({ data: out.rows.map(toEntry), pagination: out.pagination }, 200);
  });
  return app;
}
