/** Realtime over Server-Sent Events, and the short-lived tokens browsers use to open them. */
import { createRoute, z } from '@hono/zod-openapi';
import { problemContent } from '../../lib/http.ts';

export const TOPIC = /^(tenant|project|store|job|rollout):[a-z]{3}_[0-9a-z]{26}$/;

export const streamEvents = createRoute({
  operationId: 'streamEvents',
  method: 'get',
  path: '/v1/events',
  tags: ['realtime'],
  summary: 'Stream status and job events (text/event-stream)',
  description:
    'Each event has an `id`; reconnect with `Last-Event-ID` (EventSource does this itself) to receive every event ' +
    'committed since, possibly with a few repeats, which clients drop by id. Heartbeat comments keep proxies open. ' +
    'Authenticate with the Authorization header, or with `?token=` from POST /v1/events/token in browsers.',
  request: {
    query: z.object({
      topic: z.preprocess((v) => (Array.isArray(v) ? v : v === undefined ? [] : [v]),
        z.array(z.string().regex(TOPIC, 'a topic such as project:prj_… or tenant:ten_…')).min(1, 'at least one topic').max(20))
        .openapi({ description: 'repeatable: tenant:<id>, project:<id>, store:<id>, job:<id>, rollout:<id>' }),
      token: z.string().max(2000).optional(),
      last_event_id: z.string().regex(/^\d{1,19}$/).optional().openapi({ description: 'alternative to the Last-Event-ID header' }),
    }),
  },
  responses: {
    200: { description: 'an event stream', content: { 'text/event-stream': { schema: z.string() } } },
    400: problemContent('invalid topics'),
    401: problemContent('missing or invalid credentials'),
    404: problemContent('a topic names something outside your tenant'),
    501: problemContent('this runtime has no SSE hub; use Supabase Realtime'),
  },
});

export const createEventToken = createRoute({
  operationId: 'createEventToken',
  method: 'post',
  path: '/v1/events/token',
  tags: ['realtime'],
  summary: 'A short-lived, read-only token for ?token= on /v1/events',
  responses: {
    201: {
      description: 'token',
      content: { 'application/json': { schema: z.object({ token: z.string(), expires_at: z.string() }) } },
    },
    401: problemContent('missing or invalid API key'),
  },
});
