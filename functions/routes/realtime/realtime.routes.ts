/** How this deployment pushes status changes, and tokens for Supabase Realtime's private channels. */
import { createRoute, z } from '@hono/zod-openapi';
import { problemContent } from '../../lib/http.ts';

const Transport = z.discriminatedUnion('transport', [
  z.object({
    transport: z.literal('sse'),
    url: z.string().openapi({ example: '/v1/events' }),
  }),
  z.object({
    transport: z.literal('supabase'),
    url: z.string().openapi({ example: 'https://abcdefghijklmnopqrst.supabase.co' }),
    anon_key: z.string(),
    token_url: z.string().openapi({ example: '/v1/realtime/token' }),
    private: z.literal(true),
  }),
]).openapi('RealtimeTransport');

export const discoverRealtime = createRoute({
  operationId: 'discoverRealtime',
  method: 'get',
  path: '/v1/realtime',
  tags: ['realtime'],
  summary: 'How this deployment pushes status changes',
  description:
    'The preferred transport first, with every one this deployment offers in `transports`. Both carry the same events ' +
    '(`status`, `job`, `log`) with the same payloads on the same topics (`topics`: the caller\'s tenant topic and the ' +
    'patterns of the others), so a client can switch between them without changing its handlers.',
  responses: {
    200: {
      description: 'the transports',
      content: {
        'application/json': {
          schema: z.object({
            transport: z.enum(['sse', 'supabase']),
            url: z.string(),
            transports: z.array(Transport),
            topics: z.array(z.string()).openapi({ example: ['tenant:ten_…', 'project:<id>', 'store:<id>', 'job:<id>'] }),
          }),
        },
      },
    },
    401: problemContent('missing or invalid credentials'),
  },
});

export const createRealtimeToken = createRoute({
  operationId: 'createRealtimeToken',
  method: 'post',
  path: '/v1/realtime/token',
  tags: ['realtime'],
  summary: 'A short-lived JWT for Supabase Realtime private channels',
  description:
    'Signed with the Supabase project\'s JWT secret (HS256) or its imported signing key (ES256, with `kid`). Claims: ' +
    '`role: authenticated`, `sub` (this API key\'s id), `app_metadata.tenant_id`, `exp`. Realtime\'s policy lets it read ' +
    'its own tenant\'s topics while the key is live; mint a new one before `expires_at` and pass it to `realtime.setAuth`.',
  responses: {
    201: {
      description: 'the token',
      content: { 'application/json': { schema: z.object({ access_token: z.string(), token_type: z.literal('bearer'), expires_at: z.string() }) } },
    },
    401: problemContent('missing or invalid API key'),
    403: problemContent('an event token may not mint a realtime token'),
    404: problemContent('Supabase Realtime is not configured on this deployment'),
  },
});
