/** `GET /versions`: the changelog of dated API versions, public (deprecation links point here). */
import { OpenAPIHono, createRoute, z } from '@hono/zod-openapi';
import { API_VERSIONS, CURRENT_API_VERSION } from '../../../core/api-versions.ts';
import type { AppEnv } from '../../deps.ts';

const VersionSchema = z.object({
  version: z.string(),
  changes: z.array(z.string()).openapi({ description: 'what this version changed from the one before it' }),
  deprecated_at: z.string().nullable(),
  sunset_at: z.string().nullable().openapi({ description: 'when it stops being served' }),
}).openapi('ApiVersion');

export const listVersions = createRoute({
  operationId: 'listVersions',
  method: 'get',
  path: '/versions',
  tags: ['versions'],
  summary: 'The API versions this server serves, newest first',
  security: [],
  responses: {
    200: { description: 'versions', content: { 'application/json': { schema: z.object({ current: z.string(), data: z.array(VersionSchema) }) } } },
  },
});

export function versionsRouter() {
  const app = new OpenAPIHono<AppEnv>();
  const body = {
    current: CURRENT_API_VERSION,
    data: API_VERSIONS.map((v) => ({
      version: v.version, changes: v.changes.map((ch) => ch.description),
      deprecated_at: v.deprecated?.at ?? null, sunset_at: v.deprecated?.sunset ?? null,
    })),
  };
  app.openapi(listVersions, (c) => c.json(body, 200));
  return app;
}
