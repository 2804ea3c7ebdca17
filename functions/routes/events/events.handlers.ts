/**
 * SSE delivery. Order of operations on connect: subscribe to the live hub (buffering), read the
 * backlog after Last-Event-ID from the outbox, send it, then flush the buffer skipping anything
 * already sent. Subscribing first is what guarantees nothing falls between backlog and live.
 */
import { OpenAPIHono } from '@hono/zod-openapi';
import { streamSSE } from 'hono/streaming';
import { getJob } from '../../../db/jobs.repo.ts';
import { getProject } from '../../../db/projects.repo.ts';
import { getStore } from '../../../db/stores.repo.ts';
import { getRollout } from '../../../db/rollouts.repo.ts';
import { listEventsSince, type RealtimeEvent } from '../../../db/realtime.repo.ts';
import { unusableKeyIds } from '../../../db/tenants.repo.ts';
import type { AppDeps, AppEnv } from '../../deps.ts';
import { badRequest, notFound, Problem } from '../../errors.ts';
import { validationHook } from '../../lib/http.ts';
import * as routes from './events.routes.ts';

const MAX_PENDING = 1000;

/**
 * The open streams of this process by API key. Every `everyMs` (while any are open) one query
 * asks which of their keys were revoked, and those streams end: an SSE stream, or one opened with
 * an event token minted by that key, doesn't outlive the key by more than that.
 */
function createStreamRevoker(deps: AppDeps, everyMs: number) {
  const byKey = new Map<string, Set<() => void>>();
  let timer: ReturnType<typeof setInterval> | undefined;
  const check = async () => {
    try {
      for (const id of await unusableKeyIds(deps.db.sql, [...byKey.keys()])) {
        for (const end of byKey.get(id) ?? []) end();
        byKey.delete(id);
      }
    } catch (err) {
      deps.log.warn('could not check open streams for revoked keys; trying again', { err });
    }
  };
  return {
    add(keyId: string, end: () => void): () => void {
      let set = byKey.get(keyId);
      if (!set) byKey.set(keyId, (set = new Set()));
      set.add(end);
      timer ??= setInterval(() => void check(), everyMs);
      return () => {
        set!.delete(end);
        if (set!.size === 0 && byKey.get(keyId) === set) byKey.delete(keyId);
        if (byKey.size === 0 && timer) {
          clearInterval(timer);
          timer = undefined;
        }
      };
    },
  };
}

export function eventsRouter(deps: AppDeps) {
  const app = new OpenAPIHono<AppEnv>({ defaultHook: validationHook });
  const revoker = createStreamRevoker(deps, deps.config.SWITCHYARD_SSE_REVOCATION_CHECK_MS);

  app.openapi(routes.createEventToken, async (c) => {
    const p = c.get('principal');
    const exp = Math.floor(Date.now() / 1000) + deps.config.SWITCHYARD_EVENT_TOKEN_TTL_S;
    const token = await deps.box.sign({ typ: 'events', t: p.tenantId, k: p.keyId, op: p.isOperator, p: p.plan, v: p.apiVersion, exp });
    return c.json({ token, expires_at: new Date(exp * 1000).toISOString() }, 201);
  });

  app.openapi(routes.streamEvents, async (c) => {
    const hub = deps.realtime;
    if (!hub) throw new Problem(501, 'Not implemented', 'this runtime serves realtime through Supabase Realtime, not SSE');
    const q = c.req.valid('query');
    const { tenantId, keyId, role, via } = c.get('principal');
    // The audit log is the admins' (GET /v1/audit-log): its events reach only an admin key's streams.
    const seesAudit = via === 'api_key' && role === 'admin';
    for (const topic of q.topic) await assertTopicVisible(deps, tenantId, topic);
    const lastEventId = c.req.header('Last-Event-ID') ?? q.last_event_id;
    // Event ids are bigint: one past 2^63 - 1 can't be compared with them.
    if (lastEventId !== undefined && (!/^\d{1,19}$/.test(lastEventId) || BigInt(lastEventId) > 9223372036854775807n)) {
      throw badRequest('Last-Event-ID must be an event id from this stream', [{ field: 'Last-Event-ID', message: 'malformed' }]);
    }
    const topics = new Set(q.topic);

    const metrics = deps.metrics;
    return streamSSE(c, async (stream) => {
      const sent = new Set<string>();
      let live = false;
      const buffered: RealtimeEvent[] = [];
      let chain = Promise.resolve();
      let finish!: () => void;
      const finished = new Promise<void>((r) => (finish = r));

      const write = (e: RealtimeEvent) => {
        if (sent.has(e.id) || (e.event === 'audit' && !seesAudit)) return Promise.resolve();
        sent.add(e.id);
        if (sent.size > 5000) sent.delete(sent.values().next().value!);
        const written = stream.writeSSE({ id: e.id, event: e.event, data: JSON.stringify({ ...(e.payload as object), topics: e.topics, event_id: e.id }) });
        if (metrics && e.createdAt) {
          const createdAt = Date.parse(e.createdAt);
          void written.then(() => metrics.observe('realtime_publish_lag_seconds', {}, Math.max(0, Date.now() - createdAt) / 1000), () => {});
        }
        return written;
      };

      let pending = 0;
      const unsubscribe = hub.subscribe({
        tenantId,
        topics,
        deliver(e) {
          if (!live) return void buffered.push(e);
          // A client too slow to keep up is dropped; it reconnects with Last-Event-ID and loses nothing.
          if (++pending > MAX_PENDING) return finish();
          chain = chain.then(() => write(e)).catch(() => finish()).finally(() => void pending--);
        },
      });
      stream.onAbort(() => finish());
      const untrack = revoker.add(keyId, () => finish());
      metrics?.add('sse_subscribers', {}, 1);

      try {
        await stream.write('retry: 2000\n: connected\n\n');
        if (lastEventId !== undefined) {
          for (const e of await listEventsSince(deps.db.sql, tenantId, [...topics], lastEventId)) await write(e);
        }
        // Drain until empty, then go live with no await in between: an event the hub delivers
        // while a write is pending joins `buffered` and is drained on the next turn of the loop.
        while (buffered.length > 0) await write(buffered.shift()!);
        live = true;
        const heartbeat = setInterval(() => {
          chain = chain.then(() => stream.write(': ping\n\n')).then(() => {}).catch(() => finish());
        }, deps.config.SWITCHYARD_SSE_HEARTBEAT_MS);
        await finished;
        clearInterval(heartbeat);
      } finally {
        unsubscribe();
        untrack();
        metrics?.add('sse_subscribers', {}, -1);
      }
    });
  });

  return app;
}

/** A topic must name the caller's tenant or something in it; anything else is a 404, as for any route. */
async function assertTopicVisible(deps: AppDeps, tenantId: string, topic: string) {
  const [type, id] = topic.split(':') as [string, string];
  const visible =
    type === 'tenant' ? id === tenantId
    : type === 'project' ? (await getProject(deps.db.sql, tenantId, id)) !== null
    : type === 'store' ? (await getStore(deps.db.sql, tenantId, id)) !== null
    : type === 'job' ? (await getJob(deps.db.sql, tenantId, id)) !== null
    : type === 'rollout' ? (await getRollout(deps.db.sql, tenantId, id)) !== null
    : false;
  if (!visible) throw notFound(`topic ${topic}`);
}
