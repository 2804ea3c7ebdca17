/**
 * Monitoring handlers. Webhooks answer fast (Sentry wants a reply within a second): look up the
 * source, verify the signature on the raw body, store the raw delivery and its ingest job in one
 * statement (a repeated delivery id inserts nothing and answers 200), dispatch after commit.
 * Normalizing is the worker's (workers/tasks/logs.ts).
 */
import { OpenAPIHono } from '@hono/zod-openapi';
import { eventStats, listEvents, type EventRow } from '../../../db/events.repo.ts';
import { insertJob, writeSubjectWithJob } from '../../../db/jobs.repo.ts';
import {
  deleteLogSource, getDelivery, getLogSource, getLogSourceForWebhook, insertDeliveryQuery, insertLogSource, listDeliveries, listLogSources,
  type LogSource, type WebhookDelivery,
} from '../../../db/log-sources.repo.ts';
import { pullJob } from '../../../workers/scheduler.ts';
import { getProject } from '../../../db/projects.repo.ts';
import { toJob } from '../schemas.ts';
import type { AppDeps, AppEnv } from '../../deps.ts';
import { badRequest, notFound, Problem, unprocessable } from '../../errors.ts';
import { fromBase64Url, toBase64Url } from '../../../core/crypto.ts';
import { afterCommit, page, storableTime, validationHook } from '../../lib/http.ts';
import { newId } from '../../../core/ids.ts';
import { isStandardWebhookSecret, verifyRender, verifySentry } from '../../lib/webhooks.ts';
import { requireRole } from '../../middleware/auth.ts';
import * as routes from './logs.routes.ts';
import { traceparentOf } from '../../middleware/tracing.ts';

const strictUtf8 = new TextDecoder('utf-8', { fatal: true });
const KEPT_HEADERS = /^(content-type|user-agent|webhook-id|webhook-timestamp|request-id|sentry-hook-resource|sentry-hook-timestamp)$/i;

function toLogSource(s: LogSource, origin: string) {
  return {
    id: s.id, project_id: s.projectId, provider: s.provider as 'render', config: s.config as Record<string, unknown>,
    credentials: { api_key: s.hasApiKey, webhook_secret: s.hasWebhookSecret },
    webhook_url: s.provider === 'supabase' ? null : `${origin}/v1/webhooks/${s.provider}/${s.id}`,
    pull_interval_s: s.pullIntervalS, next_pull_at: s.nextPullAt && new Date(s.nextPullAt).toISOString(),
    last_pulled_at: s.lastPulledAt && new Date(s.lastPulledAt).toISOString(),
    high_water_mark: typeof (s.cursor as { mark?: unknown } | null)?.mark === 'string' ? (s.cursor as { mark: string }).mark : null, last_error: s.lastError, created_at: new Date(s.createdAt).toISOString(),
  };
}

const toDelivery = (d: WebhookDelivery) => ({
  id: d.id, delivery_id: d.deliveryId, resource: d.resource, received_at: new Date(d.receivedAt).toISOString(),
  processed_at: d.processedAt && new Date(d.processedAt).toISOString(), event_count: d.eventCount,
});

const toEvent = (e: EventRow) => ({
  id: e.id, ts: new Date(e.ts).toISOString(), project_id: e.projectId, source_id: e.sourceId, provider: e.provider, service: e.service,
  environment: e.environment, level: e.level, kind: e.kind, message: e.message, fingerprint: e.fingerprint, attrs: e.attrs,
});

function decodeEventCursor(cursor: string | undefined): { ts: string; id: string } | undefined {
  if (!cursor) return undefined;
  try {
    const [ts, id] = new TextDecoder().decode(fromBase64Url(cursor)).split('|');
    if (ts && id && /^\d{1,18}$/.test(id) && storableTime(Date.parse(ts))) return { ts, id };
  } catch {
    // fall through
  }
  throw badRequest('the cursor is not valid; use next_cursor from a previous page', [{ field: 'cursor', message: 'malformed' }]);
}

export function logsRouter(deps: AppDeps) {
  const app = new OpenAPIHono<AppEnv>({ defaultHook: validationHook });
  const member = requireRole('member');
  app.on(['POST', 'DELETE'], '/v1/projects/:id/log-sources', member);
  app.on(['POST', 'DELETE'], '/v1/projects/:id/log-sources/*', member);
  // The webhook URL a sender must call: SWITCHYARD_PUBLIC_URL when set (the reliable way behind a
  // proxy), else what a proxy says it was called as (X-Forwarded-Proto/-Host), else the request's own.
  const originOf = (c: { req: { url: string; header(name: string): string | undefined } }) => {
    if (deps.config.SWITCHYARD_PUBLIC_URL) return deps.config.SWITCHYARD_PUBLIC_URL.replace(/\/$/, '');
    const own = new URL(c.req.url);
    const proto = c.req.header('X-Forwarded-Proto')?.split(',')[0]!.trim().toLowerCase();
    const host = c.req.header('X-Forwarded-Host')?.split(',')[0]!.trim();
    const scheme = proto === 'https' || proto === 'http' ? proto : own.protocol.slice(0, -1);
    return `${scheme}://${host && /^[a-z0-9.-]+(:\d{1,5})?$/i.test(host) ? host : own.host}`;
  };

  app.openapi(routes.createLogSource, async (c) => {
    const { id: projectId } = c.req.valid('param');
    const body = c.req.valid('json');
    const { tenantId } = c.get('principal');
    const creds = body.credentials;
    if (body.provider === 'render' && creds.webhook_secret && !isStandardWebhookSecret(creds.webhook_secret)) {
      throw badRequest('Render signs webhooks with a Standard Webhooks secret', [{ field: 'credentials.webhook_secret', message: 'must be a whsec_… secret' }]);
    }
    const id = newId('src');
    const hasAny = !!(creds.api_key || creds.webhook_secret);
    const source = await insertLogSource(deps.db.sql, {
      id, tenantId, projectId, provider: body.provider, config: body.config,
      credentials: hasAny ? await deps.box.seal(JSON.stringify(creds), id) : null,
      hasApiKey: !!creds.api_key, hasWebhookSecret: !!creds.webhook_secret,
      pullIntervalS: body.pull_interval_s ?? deps.config.SWITCHYARD_LOG_PULL_INTERVAL_S,
    });
    if (!source) throw notFound('project');
    return c.json({ log_source: toLogSource(source, originOf(c)) }, 201, { Location: `/v1/projects/${projectId}/log-sources/${id}` });
  });

  app.openapi(routes.listLogSources, async (c) => {
    const { id } = c.req.valid('param');
    const { tenantId } = c.get('principal');
    // Another tenant's (or no) project is a 404, as on every route, not an empty list.
    if (!(await getProject(deps.db.sql, tenantId, id))) throw notFound('project');
    const rows = await listLogSources(deps.db.sql, tenantId, id);
    return c.json({ data: rows.map((s) => toLogSource(s, originOf(c))) }, 200);
  });

  app.openapi(routes.getLogSource, async (c) => {
    const { id, sid } = c.req.valid('param');
    const source = await getLogSource(deps.db.sql, c.get('principal').tenantId, id, sid);
    if (!source) throw notFound('log source');
    return c.json({ log_source: toLogSource(source, originOf(c)) }, 200);
  });

  app.openapi(routes.deleteLogSource, async (c) => {
    const { id, sid } = c.req.valid('param');
    if (!(await deleteLogSource(deps.db.sql, c.get('principal').tenantId, id, sid))) throw notFound('log source');
    return c.body(null, 204);
  });

  app.openapi(routes.pullLogSource, async (c) => {
    const { id, sid } = c.req.valid('param');
    const { tenantId } = c.get('principal');
    const source = await getLogSource(deps.db.sql, tenantId, id, sid);
    if (!source) throw notFound('log source');
    if (!source.hasApiKey) throw unprocessable('the source has no API key to pull with; add one by recreating the source with credentials.api_key');
    // Pulls of one source run one at a time (concurrency key), each from the committed mark.
    const job = await insertJob(deps.db.sql, pullJob(tenantId, source.id));
    afterCommit(deps, [job]);
    return c.json({ job: toJob(job) }, 202, { Location: `/v1/jobs/${job.id}` });
  });

  app.openapi(routes.listDeliveries, async (c) => {
    const { id, sid } = c.req.valid('param');
    const { tenantId } = c.get('principal');
    if (!(await getLogSource(deps.db.sql, tenantId, id, sid))) throw notFound('log source');
    const rows = await listDeliveries(deps.db.sql, tenantId, sid, c.req.valid('query').limit);
    return c.json({ data: rows.map(toDelivery) }, 200);
  });

  app.openapi(routes.replayDelivery, async (c) => {
    const { id, sid, did } = c.req.valid('param');
    const { tenantId } = c.get('principal');
    if (!(await getLogSource(deps.db.sql, tenantId, id, sid))) throw notFound('log source');
    const delivery = await getDelivery(deps.db.sql, tenantId, did);
    if (!delivery || delivery.sourceId !== sid) throw notFound('delivery');
    const job = await insertJob(deps.db.sql, {
      id: newId('job'), tenantId, kind: 'logs.ingest_delivery', subjectType: 'webhook_delivery', subjectId: delivery.id,
      // The same key as the delivery's first ingest job (writeSubjectWithJob), so the two never run at once.
      concurrencyKey: `webhook_delivery:${delivery.id}`,
      payload: { delivery_id: delivery.id }, maxAttempts: deps.config.SWITCHYARD_MAX_ATTEMPTS, traceparent: traceparentOf(c),
    });
    afterCommit(deps, [job]);
    return c.json({ job: toJob(job) }, 202, { Location: `/v1/jobs/${job.id}` });
  });

  app.openapi(routes.logStats, async (c) => {
    const q = c.req.valid('query');
    const span = q.interval === '1m' ? 3_600_000 : 86_400_000;
    const until = q.until ? new Date(q.until) : new Date();
    const since = q.since ? new Date(q.since) : new Date(until.getTime() - span);
    const buckets = (until.getTime() - since.getTime()) / (q.interval === '1m' ? 60_000 : 3_600_000);
    if (!(buckets > 0)) throw badRequest('since must be before until', [{ field: 'since', message: 'after until' }]);
    if (buckets > 1440) {
      throw badRequest(`at most 1440 buckets per query (${q.interval === '1m' ? '24 h of minutes' : '60 days of hours'})`, [{ field: 'since', message: 'range too long for this interval' }]);
    }
    const rows = await eventStats(deps.db.sql, c.get('principal').tenantId, {
      projectId: q.project, provider: q.provider, kind: q.kind, since: since.toISOString(), until: until.toISOString(), interval: q.interval,
    });
    return c.json({
      interval: q.interval, since: since.toISOString(), until: until.toISOString(),
      data: rows.map((r) => ({ ts: new Date(r.bucket).toISOString(), provider: r.provider, level: r.level as 'info', count: r.count })),
    }, 200);
  });

  const receive = (provider: 'render' | 'sentry') => async (c: import('hono').Context<AppEnv>) => {
    const sourceId = c.req.param('sourceId') ?? '';
    const bytes = new Uint8Array(await c.req.arrayBuffer()); // the exact bytes that were signed
    const count = (verdict: string) => deps.metrics?.inc('webhook_deliveries_total', { provider, verdict });
    const source = /^src_[0-9a-z]{26}$/.test(sourceId) ? await getLogSourceForWebhook(deps.db.sql, sourceId, provider) : null;
    if (!source || !source.hasWebhookSecret || !source.credentials) throw (count('unknown_source'), notFound('log source'));
    const { webhook_secret: secret } = JSON.parse(await deps.box.open(source.credentials, source.id)) as { webhook_secret?: string };
    if (!secret) throw (count('unknown_source'), notFound('log source'));
    const verified = provider === 'render' ? await verifyRender(secret, bytes, c.req.raw.headers) : await verifySentry(secret, bytes, c.req.raw.headers);
    // A 401 names how to authenticate (RFC 9110 §11.6.1): here, the provider's signature scheme.
    if (!verified.ok) {
      throw (count('bad_signature'), new Problem(401, 'Invalid signature', verified.reason, {}, { 'WWW-Authenticate': provider === 'render' ? 'Standard-Webhooks realm="render"' : 'Sentry-Hook-Signature realm="sentry"' }));
    }
    // Signed, but not storable: the raw body is kept as text, and Postgres holds only valid UTF-8.
    let raw: string;
    try {
      raw = strictUtf8.decode(bytes);
    } catch {
      throw (count('invalid_body'), badRequest('the body is not valid UTF-8; nothing was stored', [{ field: '(body)', message: 'invalid UTF-8' }]));
    }
    if (raw.includes('\u0000')) throw (count('invalid_body'), badRequest('the body contains U+0000 (NUL), which cannot be stored; nothing was stored', [{ field: '(body)', message: 'contains NUL' }]));

    const headers: Record<string, string> = {};
    c.req.raw.headers.forEach((v, k) => {
      if (KEPT_HEADERS.test(k)) headers[k] = v;
    });
    const deliveryRow = newId('whd');
    const written = await writeSubjectWithJob<{ id: string }>(deps.db.sql, 'webhook_delivery', insertDeliveryQuery(deps.db.sql, {
      id: deliveryRow, tenantId: source.tenantId, sourceId: source.id, provider, deliveryId: verified.deliveryId,
      resource: verified.resource, headers, body: raw,
    }), { id: newId('job'), subjectId: deliveryRow, kind: 'logs.ingest_delivery', payload: { delivery_id: deliveryRow }, maxAttempts: deps.config.SWITCHYARD_MAX_ATTEMPTS, traceparent: traceparentOf(c) });
    if (!written) return (count('duplicate'), c.json({ status: 'duplicate' as const, delivery_id: verified.deliveryId }, 200));
    count('accepted');
    afterCommit(deps, [written.job]);
    return c.json({ status: 'accepted' as const, delivery_id: verified.deliveryId, job_id: written.job.id }, 202);
  };
  app.openapi(routes.renderWebhook, receive('render') as never);
  app.openapi(routes.sentryWebhook, receive('sentry') as never);

  app.openapi(routes.listLogs, async (c) => {
    const q = c.req.valid('query');
    const rows = await listEvents(deps.db.sql, c.get('principal').tenantId, {
      projectId: q.project, provider: q.provider, service: q.service, level: q.level, kind: q.kind, since: q.since, until: q.until, q: q.q,
      after: decodeEventCursor(q.cursor), limit: q.limit + 1,
    });
    const p = page(c, rows, q.limit, (last) => `${new Date(last.ts).toISOString()}|${last.id}`);
    return c.json({ data: p.rows.map(toEvent), pagination: p.pagination }, 200);
  });

  return app;
}
