/**
 * Alert-rule handlers. The channel URL is checked when the rule is made (and again, resolved, at
 * every send), sealed at rest, and shown back only as its host: Slack's incoming-webhook URLs are
 * themselves secrets. The signing secret is generated here and returned once.
 */
import { OpenAPIHono } from '@hono/zod-openapi';
import { deleteAlertRule, getAlertRule, insertAlertRule, listAlertRules, type AlertRule } from '../../../db/alerts.repo.ts';
import { assertDeliverable } from '../../../workers/providers/alerts/outbound.ts';
import type { AppDeps, AppEnv } from '../../deps.ts';
import { badRequest, notFound } from '../../errors.ts';
import { newId } from '../../../core/ids.ts';
import { validationHook } from '../../lib/http.ts';
import { requireRole } from '../../middleware/auth.ts';
import * as routes from './alerts.routes.ts';

const iso = (v: string | Date | null) => (v === null ? null : new Date(v).toISOString());

const toRule = (r: AlertRule) => ({
  id: r.id, project_id: r.projectId, name: r.name, filter: r.filter as Record<string, unknown>, threshold: r.threshold,
  metric: r.metric as { name: string; above?: number; below?: number } | null,
  window_s: r.windowS, cooldown_s: r.cooldownS,
  channel: {
    type: r.channelType as 'webhook' | 'pagerduty', host: r.channelHost,
    healthy: r.channelFailures === 0, consecutive_failures: r.channelFailures, last_error: r.channelLastError,
    last_failure_at: iso(r.channelLastFailureAt), last_success_at: iso(r.channelLastSuccessAt),
  },
  evaluated_every_s: r.evalIntervalS, next_eval_at: iso(r.nextEvalAt), last_fired_at: iso(r.lastFiredAt), firing_since: iso(r.firingSince), firings: r.firings,
  created_at: new Date(r.createdAt).toISOString(),
});

export function alertsRouter(deps: AppDeps) {
  const app = new OpenAPIHono<AppEnv>({ defaultHook: validationHook });
  const member = requireRole('member');
  app.on(['POST', 'DELETE'], '/v1/alert-rules', member);
  app.on(['POST', 'DELETE'], '/v1/alert-rules/*', member);

  app.openapi(routes.createAlertRule, async (c) => {
    const body = c.req.valid('json');
    const { tenantId } = c.get('principal');
    // One kind of rule: an event count (threshold, filter) or a metric (metric).
    if ((body.threshold === undefined) === (body.metric === undefined)) {
      const message = 'give either threshold (an event-count rule) or metric (a metric rule)';
      throw badRequest(message, [{ field: body.metric ? 'metric' : 'threshold', message }]);
    }
    if (body.metric && body.filter) throw badRequest('a metric rule has no event filter', [{ field: 'filter', message: 'not with metric' }]);
    const pagerduty = body.channel.type === 'pagerduty';
    const target = body.channel.type === 'pagerduty' ? deps.config.SWITCHYARD_PAGERDUTY_EVENTS_URL : body.channel.url;
    let url: URL;
    try {
      url = await assertDeliverable(target, { allowPrivate: deps.config.SWITCHYARD_ALERT_ALLOW_PRIVATE_URLS, ...(deps.resolveHost ? { resolve: deps.resolveHost } : {}) });
    } catch (err) {
      if (pagerduty) throw new Error(`SWITCHYARD_PAGERDUTY_EVENTS_URL can't be used: ${(err as Error).message}`);
      throw badRequest((err as Error).message, [{ field: 'channel.url', message: (err as Error).message }]);
    }
    const id = newId('alr');
    // A webhook's signing secret is made here and shown once; PagerDuty's routing key is the
    // tenant's own, kept in the same sealed column and never shown.
    const secret = body.channel.type === 'pagerduty' ? body.channel.routing_key : `whsec_${btoa(String.fromCharCode(...crypto.getRandomValues(new Uint8Array(32))))}`;
    const rule = await insertAlertRule(deps.db.sql, {
      id, tenantId, projectId: body.project, name: body.name, filter: body.filter ?? {}, threshold: body.threshold ?? null,
      metric: body.metric ? { name: body.metric.name, ...(body.metric.above !== undefined ? { above: body.metric.above } : { below: body.metric.below! }) } : null,
      windowS: body.window, cooldownS: body.cooldown ?? body.window, channelType: body.channel.type,
      channelUrl: await deps.box.seal(url.toString(), `${id}:url`), channelHost: url.host,
      signingSecret: await deps.box.seal(secret, `${id}:secret`), evalIntervalS: deps.config.SWITCHYARD_ALERT_EVAL_INTERVAL_S,
    });
    if (!rule) throw notFound('project');
    return c.json({ alert_rule: toRule(rule), ...(pagerduty ? {} : { signing_secret: secret }) }, 201, { Location: `/v1/alert-rules/${id}` });
  });

  app.openapi(routes.listAlertRules, async (c) => {
    const rows = await listAlertRules(deps.db.sql, c.get('principal').tenantId, c.req.valid('query').project);
    return c.json({ data: rows.map(toRule) }, 200);
  });

  app.openapi(routes.getAlertRule, async (c) => {
    const rule = await getAlertRule(deps.db.sql, c.get('principal').tenantId, c.req.valid('param').id);
    if (!rule) throw notFound('alert rule');
    return c.json({ alert_rule: toRule(rule) }, 200);
  });

  app.openapi(routes.deleteAlertRule, async (c) => {
    if (!(await deleteAlertRule(deps.db.sql, c.get('principal').tenantId, c.req.valid('param').id))) throw notFound('alert rule');
    return c.body(null, 204);
  });

  return app;
}
