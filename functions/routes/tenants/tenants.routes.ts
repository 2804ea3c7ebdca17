/** Tenant management (operator only) and API keys (each tenant's admins). */
import { createRoute, z } from '@hono/zod-openapi';
import { idParam, ListQuery, problemContent, pageOf, problems } from '../../lib/http.ts';
import { location } from '../../openapi.ts';
import { API_VERSIONS } from '../../../core/api-versions.ts';

const ApiVersion = z.enum(API_VERSIONS.map((v) => v.version) as [string, ...string[]]).openapi({ description: 'a dated API version (GET /versions lists them)' });

const Plan = z.enum(['free', 'pro', 'enterprise']);
const Role = z.enum(['admin', 'member', 'viewer']);

export const TenantSchema = z.object({
  id: z.string(), name: z.string(), plan: Plan, is_operator: z.boolean(),
  api_version: z.string().openapi({ description: 'the version its requests get without an API-Version header; pinned at creation' }),
  created_at: z.string(),
}).openapi('Tenant');

export const ApiKeySchema = z.object({
  id: z.string(), name: z.string(), role: Role, prefix: z.string(),
  created_at: z.string(), last_used_at: z.string().nullable(), revoked_at: z.string().nullable(),
}).openapi('ApiKey');

const NewKey = ApiKeySchema.extend({ secret: z.string().openapi({ description: 'shown once; store it now' }) });

export const createTenant = createRoute({
  operationId: 'createTenant',
  method: 'post',
  path: '/v1/tenants',
  tags: ['tenants'],
  summary: 'Create a tenant and its first admin key (operator only)',
  request: {
    body: {
      required: true,
      content: { 'application/json': { schema: z.strictObject({ name: z.string().trim().min(1).max(100), plan: Plan.default('free'), api_version: ApiVersion.optional().openapi({ description: 'the pin; the current version when left out' }) }) } },
    },
  },
  responses: {
    201: { description: 'created', headers: location, content: { 'application/json': { schema: z.object({ tenant: TenantSchema, api_key: NewKey }) } } },
    ...problems({ 403: 'this needs an admin key of the operator tenant', 404: 'only the operator tenant has this route; others get 404' }),
  },
});

export const updateOwnTenant = createRoute({
  operationId: 'updateOwnTenant',
  method: 'patch',
  path: '/v1/tenant',
  tags: ['tenants'],
  summary: "Change the caller's tenant's API version pin (admin only)",
  description: 'Takes effect at once in the process that answers, and everywhere within SWITCHYARD_AUTH_CACHE_MS.',
  request: { body: { required: true, content: { 'application/json': { schema: z.strictObject({ api_version: ApiVersion }) } } } },
  responses: { 200: { description: 'updated', content: { 'application/json': { schema: z.object({ tenant: TenantSchema }) } } }, ...problems({ 403: 'this needs an admin key' }) },
});

export const listTenants = createRoute({
  operationId: 'listTenants',
  method: 'get',
  path: '/v1/tenants',
  tags: ['tenants'],
  summary: 'List tenants (operator only)',
  request: { query: ListQuery },
  responses: {
    200: { description: 'a page of tenants', content: { 'application/json': { schema: pageOf(TenantSchema) } } },
    ...problems({ 403: 'this needs an admin key of the operator tenant', 404: 'only the operator tenant has this route; others get 404' }),
  },
});

export const createApiKey = createRoute({
  operationId: 'createApiKey',
  method: 'post',
  path: '/v1/api-keys',
  tags: ['api keys'],
  summary: "Create an API key in the caller's tenant (admin only)",
  request: {
    body: {
      required: true,
      content: { 'application/json': { schema: z.strictObject({ name: z.string().trim().max(100).default(''), role: Role }) } },
    },
  },
  responses: { 201: { description: 'created', content: { 'application/json': { schema: z.object({ api_key: NewKey }) } } }, ...problems({ 403: 'this needs an admin key' }) },
});

export const listApiKeys = createRoute({
  operationId: 'listApiKeys',
  method: 'get',
  path: '/v1/api-keys',
  tags: ['api keys'],
  summary: "List the tenant's API keys (admin only; secrets are never shown again)",
  responses: { 200: { description: 'keys', content: { 'application/json': { schema: z.object({ data: z.array(ApiKeySchema) }) } } }, ...problems({ 403: 'this needs an admin key' }) },
});

export const revokeApiKey = createRoute({
  operationId: 'revokeApiKey',
  method: 'delete',
  path: '/v1/api-keys/{id}',
  tags: ['api keys'],
  summary: 'Revoke an API key (admin only)',
  request: { params: idParam('key') },
  responses: { 200: { description: 'revoked', content: { 'application/json': { schema: z.object({ api_key: ApiKeySchema }) } } }, ...problems({ 403: 'this needs an admin key' }) },
});

export const getMe = createRoute({
  operationId: 'getMe',
  method: 'get',
  path: '/v1/me',
  tags: ['api keys'],
  summary: 'The tenant and key the caller authenticated with (any role; event tokens too)',
  responses: {
    200: {
      description: 'who you are',
      content: { 'application/json': { schema: z.object({ tenant: TenantSchema, api_key: ApiKeySchema.pick({ id: true, name: true, role: true, prefix: true }) }) } },
    },
    401: problemContent('missing or invalid credentials'),
  },
});
