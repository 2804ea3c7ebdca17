/** The stores contract: zod schemas that validate requests and generate /openapi.json. */
import { createRoute, z } from '@hono/zod-openapi';
import { StoreStatus } from '../../../db/status.ts';
import { idParam, ListQuery, problemContent, pageOf, problems } from '../../lib/http.ts';
import { location } from '../../openapi.ts';
import { JobSchema } from '../schemas.ts';

export const CreateStoreBody = z.strictObject({
  // It becomes part of a namespace, label values and a DNS label (`<name>-<id8>.<domain>`), so it
  // follows RFC 1123 label rules, kept short enough for the suffix: no dash at either end.
  name: z.string().regex(/^[a-z](?:[a-z0-9-]{1,38}[a-z0-9])$/, 'an RFC 1123 label: lowercase letters, digits and dashes, 3–40 characters, starting with a letter and not ending with a dash')
    .openapi({ example: 'acme-shop' }),
  engine: z.enum(['woocommerce', 'medusa']),
  plan: z.enum(['free', 'pro', 'enterprise']).optional().openapi({ description: "default: the tenant's plan" }),
  runtime: z.enum(['postgres', 'kubernetes']).default('postgres'),
}).openapi('CreateStore');

export const StoreSchema = z.object({
  id: z.string().openapi({ example: 'sto_01jd2x3y4z5a6b7c8d9e0f1g2h' }),
  name: z.string(),
  engine: z.enum(['woocommerce', 'medusa']),
  plan: z.enum(['free', 'pro', 'enterprise']),
  runtime: z.enum(['postgres', 'kubernetes']),
  status: StoreStatus,
  urls: z.object({ storefront: z.string().nullable(), admin: z.string().nullable() }),
  runtime_details: z.record(z.string(), z.unknown()),
  last_error: z.string().nullable(),
  credentials_available: z.boolean().openapi({ description: 'true until the first admin credentials have been revealed once' }),
  created_at: z.string(),
  updated_at: z.string(),
}).openapi('Store');

const IdParam = idParam('sto');
const Accepted = z.object({ store: StoreSchema, job: JobSchema }).openapi('StoreAccepted');

export const createStore = createRoute({
  operationId: 'createStore',
  method: 'post',
  path: '/v1/stores',
  tags: ['stores'],
  summary: 'Create a store (provisioned asynchronously)',
  request: {
    headers: z.object({ 'idempotency-key': z.string().optional() }),
    body: { required: true, content: { 'application/json': { schema: CreateStoreBody } } },
  },
  responses: { 202: { description: 'accepted', headers: location, content: { 'application/json': { schema: Accepted } } }, ...problems({ 403: 'a viewer key or an event token may not change anything (member or admin keys only)', 409: "the name is taken, the plan's store cap is reached, or a request with this Idempotency-Key is still in progress", 422: 'a runtime this deployment lacks, or an Idempotency-Key already used with a different request' }) },
});

export const listStores = createRoute({
  operationId: 'listStores',
  method: 'get',
  path: '/v1/stores',
  tags: ['stores'],
  summary: 'List stores, newest first',
  request: { query: ListQuery.extend({ status: StoreStatus.optional() }) },
  responses: {
    200: { description: 'a page of stores', content: { 'application/json': { schema: pageOf(StoreSchema) } } },
  },
});

export const getStore = createRoute({
  operationId: 'getStore',
  method: 'get',
  path: '/v1/stores/{id}',
  tags: ['stores'],
  summary: 'Get a store',
  request: { params: IdParam },
  responses: { 200: { description: 'the store', content: { 'application/json': { schema: z.object({ store: StoreSchema }) } } } },
});

export const storeEvents = createRoute({
  operationId: 'storeEvents',
  method: 'get',
  path: '/v1/stores/{id}/events',
  tags: ['stores'],
  summary: "The store's provisioning timeline (every job about it, with its events)",
  request: { params: IdParam },
  responses: {
    200: {
      description: 'the timeline, oldest first',
      content: { 'application/json': { schema: z.object({ data: z.array(z.object({
        id: z.string(), job_id: z.string(), kind: z.string(), type: z.string(), data: z.record(z.string(), z.unknown()), created_at: z.string(),
      })) }) } },
    },
  },
});

export const deleteStore = createRoute({
  operationId: 'deleteStore',
  method: 'delete',
  path: '/v1/stores/{id}',
  tags: ['stores'],
  summary: 'Delete a store (torn down; the record stays as `deleted`)',
  request: { params: IdParam, headers: z.object({ 'idempotency-key': z.string().optional() }) },
  responses: { 202: { description: 'accepted', headers: location, content: { 'application/json': { schema: Accepted } } }, ...problems({ 403: 'a viewer key or an event token may not change anything (member or admin keys only)', 409: "the store's status does not allow deleting it, or a request with this Idempotency-Key is still in progress" }) },
});

export const getCredentials = createRoute({
  operationId: 'getStoreCredentials',
  method: 'get',
  path: '/v1/stores/{id}/credentials',
  tags: ['stores'],
  summary: 'Reveal the first admin credentials, once (admin and member keys only)',
  request: { params: IdParam },
  responses: {
    200: {
      description: 'the credentials; they are not stored in readable form after this',
      content: { 'application/json': { schema: z.object({ admin_email: z.string(), admin_password: z.string(), database_url: z.string().optional() }) } },
    },
    410: problemContent('already revealed'),
    ...problems({ 403: 'a viewer key may not read credentials', 409: 'the store has no credentials in its status', 410: 'already revealed once; they are not kept' }),
  },
});
