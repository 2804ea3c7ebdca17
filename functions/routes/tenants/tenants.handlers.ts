import { OpenAPIHono } from '@hono/zod-openapi';
import {
  getSelf,
  insertApiKey,
  insertTenant,
  listApiKeys,
  listTenants,
  revokeApiKey,
  setTenantApiVersion,
  type ApiKey,
  type Tenant,
} from '../../../db/tenants.repo.ts';
import type { AppDeps, AppEnv } from '../../deps.ts';
import { notFound } from '../../errors.ts';
import { decodeCursor, page, validationHook } from '../../lib/http.ts';
import { newId } from '../../../core/ids.ts';
import { mintApiKey } from '../../lib/keys.ts';
import { operatorOnly, requireRole, type AuthCache } from '../../middleware/auth.ts';
import * as routes from './tenants.routes.ts';
import { CURRENT_API_VERSION } from '../../../core/api-versions.ts';

const toTenant = (t: Tenant) => ({ id: t.id, name: t.name, plan: t.plan as 'free', is_operator: t.isOperator, api_version: t.apiVersion, created_at: t.createdAt });
const toApiKey = (k: ApiKey) => ({
  id: k.id, name: k.name, role: k.role as 'admin', prefix: k.prefix,
  created_at: k.createdAt, last_used_at: k.lastUsedAt, revoked_at: k.revokedAt,
});

export function tenantsRouter(deps: AppDeps, authCache: AuthCache) {
  const app = new OpenAPIHono<AppEnv>({ defaultHook: validationHook });
  app.use('/v1/tenants', operatorOnly());
  app.use('/v1/tenants/*', operatorOnly());
  app.use('/v1/tenant', requireRole('admin'));
  app.use('/v1/api-keys', requireRole('admin'));
  app.use('/v1/api-keys/*', requireRole('admin'));

  app.openapi(routes.getMe, async (c) => {
    const { tenantId, keyId } = c.get('principal');
    const self = await getSelf(deps.db.orm, tenantId, keyId);
    if (!self) throw notFound('key');
    const { id, name, role, prefix } = toApiKey(self.key);
    return c.json({ tenant: toTenant(self.tenant), api_key: { id, name, role, prefix } }, 200);
  });

  app.openapi(routes.createTenant, async (c) => {
    const body = c.req.valid('json');
    const key = await mintApiKey();
    const { tenant, apiKey } = await deps.db.orm.transaction(async (orm) => {
      const tenant = await insertTenant(orm, { id: newId('ten'), name: body.name, plan: body.plan, apiVersion: body.api_version ?? CURRENT_API_VERSION });
      const apiKey = await insertApiKey(orm, { id: key.id, tenantId: tenant.id, role: 'admin', hash: key.hash, prefix: key.prefix, name: 'initial admin key' });
      return { tenant, apiKey };
    });
    return c.json({ tenant: toTenant(tenant), api_key: { ...toApiKey(apiKey), secret: key.secret } }, 201, { Location: `/v1/tenants/${tenant.id}` });
  });

  app.openapi(routes.updateOwnTenant, async (c) => {
    const row = await setTenantApiVersion(deps.db.orm, c.get('principal').tenantId, c.req.valid('json').api_version);
    if (!row) throw notFound('tenant');
    authCache.clear();
    return c.json({ tenant: toTenant(row) }, 200);
  });

  app.openapi(routes.listTenants, async (c) => {
    const q = c.req.valid('query');
    const rows = await listTenants(deps.db.orm, { after: decodeCursor(q.cursor), limit: q.limit + 1 });
    const p = page(c, rows, q.limit);
    return c.json({ data: p.rows.map(toTenant), pagination: p.pagination }, 200);
  });

  app.openapi(routes.createApiKey, async (c) => {
    const body = c.req.valid('json');
    const key = await mintApiKey();
    const row = await insertApiKey(deps.db.orm, {
      id: key.id, tenantId: c.get('principal').tenantId, role: body.role, hash: key.hash, prefix: key.prefix, name: body.name,
    });
    return c.json({ api_key: { ...toApiKey(row), secret: key.secret } }, 201);
  });

  app.openapi(routes.listApiKeys, async (c) => {
    const rows = await listApiKeys(deps.db.orm, c.get('principal').tenantId);
    return c.json({ data: rows.map(toApiKey) }, 200);
  });

  app.openapi(routes.revokeApiKey, async (c) => {
    const { id } = c.req.valid('param');
    const row = await revokeApiKey(deps.db.orm, c.get('principal').tenantId, id);
    if (!row) throw notFound(`api key ${id}`);
    // This process forgets it at once; others within the auth cache TTL.
    authCache.clear();
    return c.json({ api_key: toApiKey(row) }, 200);
  });

  return app;
}
