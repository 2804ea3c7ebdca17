/**
 * Monitoring handlers. Webhooks answer fast (Sentry wants a reply within a second): look up the
 * source, verify the signature on the raw body, store the raw delivery and its ingest job in one
 * statement (a repeated delivery id inserts nothing and answers 200), dispatch after commit.
 * Normalizing is the worker's (workers/tasks/logs.ts).
 */
import { OpenAPIHono } from '@hono/zod-openapi';
import { listEvents, type EventRow } from '../../../db/events.repo.ts';
import { writeSubjectWithJob } from '../../../db/jobs.repo.ts';
import {
  deleteLogSource, getLogSource, getLogSourceForWebhook, insertDeliveryQuery, insertLogSource, listLogSources, type LogSource,
} from '../../../db/log-sources.repo.ts';
import type { AppDeps, AppEnv } from '../../deps.ts';
import { badRequest, notFound, Problem } from '../../errors.ts';
import { fromBase64Url, toBase64Url } from '../../lib/crypto.ts';
import { afterCommit, validationHook } from '../../lib/http.ts';
import { newId } from '../../lib/ids.ts';
import { isStandardWebhookSecret, verifyRender, verifySentry } from '../../lib/webhooks.ts';
import { requireRole } from '../../middleware/auth.ts';
import * as routes from './logs.routes.ts';

const KEPT_HEADERS = /^(content-type|user-agent|webhook-id|webhook-timestamp|request-id|sentry-hook-resource|sentry-hook-timestamp)$/i;

function toLogSource(s: LogSource, origin: string) {
  return {
    id: s.id, project_id: s.projectId, provider: s.provider as 'render', config: s.config as Record<string, unknown>,
    credentials: { api_key: s.hasApiKey, webhook_secret: s.hasWebhookSecret },
    webhook_url: s.provider === 'supabase' ? null : `${origin}/v1/webhooks/${s.provider}/${s.id}`,
    last_pulled_at: s.lastPulledAt, last_error: s.lastError, created_at: s.createdAt,
  };
}

const toEvent = (e: EventRow) => ({
  id: e.id, ts: new Date(e.ts).toISOString(), project_id: e.projectId, source_id: e.sourceId, provider: e.provider, service: e.service,
  environment: e.environment, level: e.level, kind: e.kind, message: e.message, fingerprint: e.fingerprint, attrs: e.attrs,
});

function decodeEventCursor(cursor: string | undefined): { ts: string; id: string } | undefined {
  if (!cursor) return undefined;
  try {
    const [ts, id] = new TextDecoder().decode(fromBase64Url(cursor)).split('|');
    if (ts && id && /^\d{1,19}$/.test(id) && !Number.isNaN(Date.parse(ts))) return { ts, id };
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
  const origin = (url: string) => deps.config.SWITCHYARD_PUBLIC_URL?.replace(/\/$/, '') ?? new URL(url).origin;

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
    });
    if (!source) throw notFound('project');
    return c.json({ log_source: toLogSource(source, origin(c.req.url)) }, 201, { Location: `/v1/projects/${projectId}/log-sources/${id}` });
  });

  app.openapi(routes.listLogSources, async (c) => {
    const { id } = c.req.valid('param');
    const rows = await listLogSources(deps.db.sql, c.get('principal').tenantId, id);
    return c.json({ data: rows.map((s) => toLogSource(s, origin(c.req.url))) }, 200);
  });

  app.openapi(routes.getLogSource, async (c) => {
    const { id, sid } = c.req.valid('param');
    const source = await getLogSource(deps.db.sql, c.get('principal').tenantId, id, sid);
    if (!source) throw notFound('log source');
    return c.json({ log_source: toLogSource(source, origin(c.req.url)) }, 200);
  });

  app.openapi(routes.deleteLogSource, async (c) => {
    const { id, sid } = c.req.valid('param');
    if (!(await deleteLogSource(deps.db.sql, c.get('principal').tenantId, id, sid))) throw notFound('log source');
    return c.body(null, 204);
  });

  const receive = (provider: 'render' | 'sentry') => async (c: import('hono').Context<AppEnv>) => {
    const sourceId = c.req.param('sourceId') ?? '';
    const raw = await c.req.text(); // the exact bytes that were signed
    const source = /^src_[0-9a-z]{26}$/.test(sourceId) ? await getLogSourceForWebhook(deps.db.sql, sourceId, provider) : null;
    if (!source || !source.hasWebhookSecret || !source.credentials) throw notFound('log source');
    const { webhook_secret: secret } = JSON.parse(await deps.box.open(source.credentials, source.id)) as { webhook_secret?: string };
    if (!secret) throw notFound('log source');
    const verified = provider === 'render' ? verifyRender(secret, raw, c.req.raw.headers) : await verifySentry(secret, raw, c.req.raw.headers);
    if (!verified.ok) throw new Problem(401, 'Invalid signature', verified.reason);

    const headers: Record<string, string> = {};
    c.req.raw.headers.forEach((v, k) => {
      if (KEPT_HEADERS.test(k)) headers[k] = v;
    });
    const deliveryRow = newId('whd');
    const written = await writeSubjectWithJob<{ id: string }>(deps.db.sql, 'webhook_delivery', insertDeliveryQuery(deps.db.sql, {
      id: deliveryRow, tenantId: source.tenantId, sourceId: source.id, provider, deliveryId: verified.deliveryId,
      resource: verified.resource, headers, body: raw,
    }), { id: newId('job'), tenantId: source.tenantId, kind: 'logs.ingest_delivery', payload: { delivery_id: deliveryRow }, maxAttempts: deps.config.SWITCHYARD_MAX_ATTEMPTS });
    if (!written) return c.json({ status: 'duplicate' as const, delivery_id: verified.deliveryId }, 200);
    afterCommit(deps, [written.job]);
    return c.json({ status: 'accepted' as const, delivery_id: verified.deliveryId, job_id: written.job.id }, 202);
  };
  app.openapi(routes.renderWebhook, receive('render') as never);
  app.openapi(routes.sentryWebhook, receive('sentry') as never);

  app.openapi(routes.listLogs, async (c) => {
    const q = c.req.valid('query');
    const rows = await listEvents(deps.db.sql, c.get('principal').tenantId, {
      projectId: q.project, provider: q.provider, service: q.service, level: q.level, kind: q.kind, since: q.since, until: q.until, q: q.q,
      after: decodeEventCursor(q.cursor), limit: q.limit,
    });
    let next: string | null = null;
    if (rows.length === q.limit) {
      const last = rows[rows.length - 1]!;
      next = toBase64Url(new TextEncoder().encode(`${new Date(last.ts).toISOString()}|${last.id}`));
      const url = new URL(c.req.url);
      url.searchParams.set('cursor', next);
      c.header('Link', `<${url.pathname}${url.search}>; rel="next"`);
    }
    return c.json({ data: rows.map(toEvent), next_cursor: next }, 200);
  });

  return app;
}
