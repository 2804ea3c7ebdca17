/** The audit log: read-only, admins only. */
import { createRoute, z } from '@hono/zod-openapi';
import { ID_PATTERN } from '../../../core/ids.ts';
import { ListQuery, Timestamp, pageOf, problemContent, queryInt } from '../../lib/http.ts';

export const AuditEntrySchema = z.object({
  id: z.string(),
  ts: z.string(),
  tenant_id: z.string().nullable().openapi({ description: 'null for a request refused before it named a tenant (a 401; the operator sees these)' }),
  key: z.object({
    id: z.string().nullable(),
    role: z.string().nullable().openapi({ description: 'admin, member, viewer, or event_token' }),
    prefix: z.string().nullable(),
  }),
  method: z.string(),
  route: z.string().openapi({ description: 'the route template, e.g. /v1/projects/:id/suspend' }),
  resource_id: z.string().nullable(),
  status: z.number().int().nullable().openapi({ description: 'the answer\'s status; null while the request runs, or if its process died before it answered' }),
  request_id: z.string(),
  client_address: z.string().nullable(),
  user_agent: z.string().nullable(),
}).openapi('AuditEntry');

export const listAuditLog = createRoute({
  operationId: 'listAuditLog',
  method: 'get',
  path: '/v1/audit-log',
  tags: ['audit'],
  summary: 'Every mutating request of the tenant, refused ones included, newest first (admins only)',
  description: 'Recorded for POST, PUT, PATCH and DELETE on /v1 (webhook deliveries are kept with their sources). A request that reached its handler was recorded before it could change anything. Never bodies, secrets or tokens. Kept by plan; nothing in the API edits or deletes it.',
  request: {
    query: ListQuery.extend({
      limit: queryInt(1, 200, 50),
      key: z.string().regex(/^key_[0-9a-z]{26}$/).optional(),
      resource: z.string().regex(ID_PATTERN).optional(),
      route: z.string().max(200).optional().openapi({ description: 'a route template, e.g. /v1/projects/:id' }),
      method: z.enum(['POST', 'PUT', 'PATCH', 'DELETE']).optional(),
      status: z.coerce.number().int().min(100).max(599).optional(),
      since: Timestamp.optional(),
      until: Timestamp.optional(),
    }),
  },
  responses: {
    200: { description: 'a page of audit entries', content: { 'application/json': { schema: pageOf(AuditEntrySchema) } } },
    400: problemContent('invalid input'),
    401: problemContent('missing or invalid API key'),
    403: problemContent('the key is not an admin key'),
  },
});
