/**
 * Alert rules: count a project's matching events over a window and alert at the threshold (once
 * per cooldown), or watch one of its database metrics and alert when it crosses a bound; either
 * resolves when its condition stops holding.
 */
import { createRoute, z } from '@hono/zod-openapi';
import { WATCHABLE_METRICS } from '../../../db/project-metrics.repo.ts';
import { idParam, problemContent, problems } from '../../lib/http.ts';
import { location } from '../../openapi.ts';

const duration = (min: number, max: number) => z.string()
  .regex(/^\d{1,6}(s|m|h)$/, 'a duration such as 30s, 5m or 1h')
  .transform((v) => Number(v.slice(0, -1)) * { s: 1, m: 60, h: 3600 }[v.slice(-1) as 's'])
  .refine((s) => s >= min && s <= max, `between ${min} s and ${max / 3600} h`);

export const AlertFilter = z.strictObject({
  provider: z.enum(['supabase', 'render', 'sentry']).optional(),
  service: z.string().min(1).max(200).optional(),
  level: z.enum(['debug', 'info', 'warn', 'error', 'fatal']).optional(),
  kind: z.enum(['log', 'error', 'deploy']).optional(),
  q: z.string().min(1).max(200).optional().openapi({ description: 'substring of the message' }),
}).openapi('AlertFilter');

export const MetricCondition = z.strictObject({
  name: z.enum(WATCHABLE_METRICS).openapi({
    description: 'connections (count), connections_ratio (connections / limit), cache_hit_ratio, rollback_ratio, deadlocks and temp_bytes (over the window), size_bytes',
  }),
  above: z.number().finite().optional().openapi({ description: 'holds while the value is above this' }),
  below: z.number().finite().optional().openapi({ description: 'holds while the value is below this' }),
}).refine((m) => (m.above === undefined) !== (m.below === undefined), { message: 'give exactly one of above and below' })
  .openapi('MetricCondition');

export const AlertChannel = z.discriminatedUnion('type', [
  z.strictObject({
    type: z.enum(['slack', 'webhook']),
    url: z.string().url().max(2000).openapi({ description: 'https; never a private or loopback address' }),
  }),
  z.strictObject({
    type: z.literal('pagerduty'),
    routing_key: z.string().regex(/^[0-9a-zA-Z]{32}$/, 'a 32-character Events API v2 integration key')
      .openapi({ description: "the Events API v2 integration's routing key (sealed; never shown again)" }),
  }),
]).openapi('AlertChannel');

export const CreateAlertRuleBody = z.strictObject({
  project: z.string().regex(/^prj_[0-9a-z]{26}$/, 'a project id'),
  name: z.string().trim().min(1).max(100),
  filter: AlertFilter.optional().openapi({ description: 'which events an event-count rule counts (not with metric)' }),
  threshold: z.number().int().min(1).max(1_000_000).optional().openapi({ description: 'an event-count rule: fire at this many matching events or more within the window' }),
  metric: MetricCondition.optional().openapi({ description: 'a metric rule instead: fire when the metric over the window crosses the bound' }),
  window: duration(30, 86_400).openapi({ type: 'string', example: '5m' }),
  cooldown: duration(0, 7 * 86_400).optional().openapi({ type: 'string', example: '15m', description: 'at most one firing per cooldown (default: the window)' }),
  channel: AlertChannel,
}).openapi('CreateAlertRule');

export const AlertRuleSchema = z.object({
  id: z.string().openapi({ example: 'alr_01jd2x3y4z5a6b7c8d9e0f1g2h' }),
  project_id: z.string(),
  name: z.string(),
  filter: z.record(z.string(), z.unknown()),
  threshold: z.number().int().nullable().openapi({ description: 'null on a metric rule' }),
  metric: z.object({ name: z.string(), above: z.number().optional(), below: z.number().optional() }).nullable(),
  window_s: z.number().int(),
  cooldown_s: z.number().int(),
  channel: z.object({
    type: z.enum(['slack', 'webhook', 'pagerduty']), host: z.string().openapi({ description: 'the URL is sealed; only its host is shown' }),
    healthy: z.boolean().openapi({ description: 'false while the latest notifications failed' }),
    consecutive_failures: z.number().int().openapi({ description: 'failed notification attempts since the last success' }),
    last_error: z.string().nullable(),
    last_failure_at: z.string().nullable(),
    last_success_at: z.string().nullable(),
  }),
  evaluated_every_s: z.number().int(),
  next_eval_at: z.string().nullable(),
  last_fired_at: z.string().nullable(),
  firing_since: z.string().nullable().openapi({ description: 'set while the condition holds (since its firing); null once resolved' }),
  firings: z.number().int(),
  created_at: z.string(),
}).openapi('AlertRule');

const RuleParam = idParam('alr');

export const createAlertRule = createRoute({
  operationId: 'createAlertRule',
  method: 'post', path: '/v1/alert-rules', tags: ['monitoring'],
  summary: 'Create an alert rule (its signing secret is returned once)',
  request: { body: { required: true, content: { 'application/json': { schema: CreateAlertRuleBody } } } },
  responses: {
    201: {
      description: 'created',
      headers: location,
      content: {
        'application/json': {
          schema: z.object({
            alert_rule: AlertRuleSchema,
            signing_secret: z.string().optional().openapi({ description: 'whsec_…: verify notifications with Standard Webhooks; shown only now (not for pagerduty, whose events are not signed)' }),
          }),
        },
      },
    },
    ...problems({ 403: 'a viewer key or an event token may not change anything (member or admin keys only)', 404: 'no such project in this tenant' }),
  },
});

export const listAlertRules = createRoute({
  operationId: 'listAlertRules',
  method: 'get', path: '/v1/alert-rules', tags: ['monitoring'],
  summary: 'Alert rules',
  request: { query: z.object({ project: z.string().regex(/^prj_[0-9a-z]{26}$/).optional() }) },
  responses: { 200: { description: 'rules', content: { 'application/json': { schema: z.object({ data: z.array(AlertRuleSchema) }) } } } },
});

export const getAlertRule = createRoute({
  operationId: 'getAlertRule',
  method: 'get', path: '/v1/alert-rules/{id}', tags: ['monitoring'],
  summary: 'An alert rule',
  request: { params: RuleParam },
  responses: { 200: { description: 'the rule', content: { 'application/json': { schema: z.object({ alert_rule: AlertRuleSchema }) } } } },
});

export const deleteAlertRule = createRoute({
  operationId: 'deleteAlertRule',
  method: 'delete', path: '/v1/alert-rules/{id}', tags: ['monitoring'],
  summary: 'Delete an alert rule (no further evaluations or notifications)',
  request: { params: RuleParam },
  responses: { 204: { description: 'deleted' }, ...problems({ 403: 'a viewer key or an event token may not change anything (member or admin keys only)' }) },
});
