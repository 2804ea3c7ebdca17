/** Canary policies (as code, versioned) and rollouts judged under them: the contract. */
import { createRoute, z } from '@hono/zod-openapi';
import { RolloutStatus } from '../../../db/status.ts';
import { idParam, ListQuery, problemContent, Timestamp, pageOf, problems } from '../../lib/http.ts';
import { location } from '../../openapi.ts';
import { JobSchema } from '../schemas.ts';
import { ExportMetricsRequest } from '../../../core/canary/otlp.ts';

/** "<name>" or "<name>@<version>". */
const PolicyRefText = z.string().regex(/^[a-z][a-z0-9-]{1,62}(@\d{1,9})?$/, '"<name>" or "<name>@<version>"');

const PolicyName = z.string().regex(/^[a-z][a-z0-9-]{1,62}$/, 'lowercase letters, digits and dashes, 2–63 characters, starting with a letter');

export const PolicySchema = z.object({
  id: z.string(),
  name: z.string(),
  version: z.number().int(),
  hash: z.string().openapi({ description: 'sha256 of the normalized document' }),
  yaml: z.string(),
  document: z.record(z.string(), z.unknown()).openapi({ description: 'the validated policy, durations in ms and percentages as fractions' }),
  created_at: z.string(),
}).openapi('CanaryPolicy');

export const RolloutSchema = z.object({
  id: z.string(),
  project_id: z.string(),
  service: z.string(),
  baseline: z.object({ version: z.string() }),
  canary: z.object({ version: z.string() }),
  policy: z.object({ id: z.string(), name: z.string(), version: z.number().int() }),
  shadow_policies: z.array(z.object({ id: z.string(), name: z.string(), version: z.number().int() })),
  notify: z.object({
    host: z.string(),
    failures: z.number().int().openapi({ description: 'notifications failed in a row (0 after a success)' }),
    last_error: z.string().nullable(),
    last_success_at: z.string().nullable(),
  }).nullable().openapi({ description: 'where decisions are sent, and whether that works; never the URL or secret' }),
  status: RolloutStatus,
  step: z.object({ index: z.number().int(), weight: z.number().int(), started_at: z.string().nullable() }),
  last_error: z.string().nullable(),
  created_at: z.string(),
  updated_at: z.string(),
}).openapi('Rollout');

export const DecisionSchema = z.object({
  id: z.string(),
  rollout_id: z.string(),
  policy_id: z.string(),
  window: z.object({ start: z.string(), end: z.string() }),
  step_index: z.number().int(),
  verdict: z.enum(['promote', 'wait', 'pause', 'rollback']),
  sentence: z.string(),
  explanation: z.record(z.string(), z.unknown()),
  shadow: z.boolean(),
  created_at: z.string(),
}).openapi('RolloutDecision');

export const putPolicy = createRoute({
  operationId: 'putPolicy',
  method: 'post',
  path: '/v1/canary-policies',
  tags: ['canary'],
  summary: 'Store a canary policy (a new body under a name is a new version)',
  request: {
    body: {
      required: true,
      content: { 'application/json': { schema: z.strictObject({ name: PolicyName, yaml: z.string().min(1).max(20_000) }).openapi('PutCanaryPolicy') } },
    },
  },
  responses: {
    201: { description: 'a new version', content: { 'application/json': { schema: z.object({ policy: PolicySchema }) } } },
    200: { description: 'the same document as an existing version: that version', content: { 'application/json': { schema: z.object({ policy: PolicySchema }) } } },
    ...problems({ 403: 'a viewer key or an event token may not change anything (member or admin keys only)', 409: 'other versions of this policy are being written at the same moment; retry' }),
  },
});

export const listPolicies = createRoute({
  operationId: 'listPolicies',
  method: 'get',
  path: '/v1/canary-policies',
  tags: ['canary'],
  summary: 'The latest version of each policy',
  responses: { 200: { description: 'policies', content: { 'application/json': { schema: z.object({ data: z.array(PolicySchema) }) } } } },
});

export const getPolicy = createRoute({
  operationId: 'getPolicy',
  method: 'get',
  path: '/v1/canary-policies/{name}',
  tags: ['canary'],
  summary: 'A policy: its latest version and every version',
  request: { params: z.object({ name: PolicyName.openapi({ param: { name: 'name', in: 'path' } }) }) },
  responses: {
    200: { description: 'the policy', content: { 'application/json': { schema: z.object({ policy: PolicySchema, versions: z.array(PolicySchema.pick({ id: true, version: true, hash: true, created_at: true })) }) } } },
  },
});

const IdParam = idParam('rol');
const Accepted = z.object({ rollout: RolloutSchema, job: JobSchema }).openapi('RolloutAccepted');
const IdempotencyHeader = z.object({ 'idempotency-key': z.string().optional() });

export const createRollout = createRoute({
  operationId: 'createRollout',
  method: 'post',
  path: '/v1/rollouts',
  tags: ['canary'],
  summary: 'Start a canary rollout, judged every interval under a pinned policy version',
  request: {
    headers: IdempotencyHeader,
    body: {
      required: true,
      content: {
        'application/json': {
          schema: z.strictObject({
            project: z.string().regex(/^prj_[0-9a-z]{26}$/),
            service: z.string().trim().min(1).max(200),
            baseline: z.strictObject({ version: z.string().trim().min(1).max(200) }),
            canary: z.strictObject({ version: z.string().trim().min(1).max(200) }),
            policy: PolicyRefText.openapi({ example: 'standard@2' }),
            shadow_policies: z.array(PolicyRefText).max(5).optional()
              .openapi({ description: 'judged on every interval beside `policy`, their decisions stored and shown (shadow: true), never acted on', example: ['strict@1'] }),
            notify: z.strictObject({
              url: z.string().url().max(2000).openapi({ description: 'https; never a private or loopback address' }),
              secret: z.string().regex(/^whsec_[A-Za-z0-9+/]{32,88}={0,2}$/, 'a Standard Webhooks secret: "whsec_" and 24 to 64 random bytes in base64')
                .openapi({ description: 'yours, like a GitHub webhook secret: it is sealed at once and never shown again', example: 'whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw' }),
            }).optional().openapi({ description: 'each decision (not shadow ones) is POSTed here, signed with Standard Webhooks, type rollout.decision, retried like alert notifications' }),
          }).openapi('CreateRollout'),
        },
      },
    },
  },
  responses: { 202: { description: 'accepted; decisions follow every interval', headers: location, content: { 'application/json': { schema: Accepted } } }, ...problems({ 403: 'a viewer key or an event token may not change anything (member or admin keys only)', 422: 'an unknown project or policy (the problem names the field), or an Idempotency-Key already used with a different request' }) },
});

export const listRollouts = createRoute({
  operationId: 'listRollouts',
  method: 'get',
  path: '/v1/rollouts',
  tags: ['canary'],
  summary: 'Rollouts, newest first',
  request: { query: ListQuery.extend({ status: RolloutStatus.optional() }) },
  responses: { 200: { description: 'a page', content: { 'application/json': { schema: pageOf(RolloutSchema) } } } },
});

export const getRollout = createRoute({
  operationId: 'getRollout',
  method: 'get',
  path: '/v1/rollouts/{id}',
  tags: ['canary'],
  summary: 'A rollout',
  request: { params: IdParam },
  responses: { 200: { description: 'the rollout', content: { 'application/json': { schema: z.object({ rollout: RolloutSchema }) } } } },
});

export const listDecisions = createRoute({
  operationId: 'listDecisions',
  method: 'get',
  path: '/v1/rollouts/{id}/decisions',
  tags: ['canary'],
  summary: 'The decision timeline, newest first, each with its explanation',
  request: { params: IdParam, query: ListQuery },
  responses: { 200: { description: 'a page of decisions', content: { 'application/json': { schema: pageOf(DecisionSchema) } } } },
});

export const rolloutAction = createRoute({
  operationId: 'rolloutAction',
  method: 'post',
  path: '/v1/rollouts/{id}/{action}',
  tags: ['canary'],
  summary: 'A person\'s decision: pause, resume, promote (to the next step, or finish) or abort',
  request: { params: IdParam.extend({ action: z.enum(['pause', 'resume', 'promote', 'abort']).openapi({ param: { name: 'action', in: 'path' } }) }) },
  responses: { 200: { description: 'the rollout after it', content: { 'application/json': { schema: z.object({ rollout: RolloutSchema }) } } }, ...problems({ 403: 'a viewer key or an event token may not change anything (member or admin keys only)', 409: "the rollout's status does not allow this action (the problem carries rollout_status)" }) },
});

const Point = z.strictObject({
  ts: Timestamp,
  track: z.enum(['baseline', 'canary']),
  requests: z.number().int().min(0).max(1e12),
  errors: z.number().int().min(0).max(1e12),
  latency: z.strictObject({
    boundaries_ms: z.array(z.number().finite().nonnegative()).min(1).max(64),
    counts: z.array(z.number().int().min(0).max(1e12)).min(2).max(65),
  }).optional().openapi({ description: 'an explicit-bucket histogram (OpenTelemetry): one more count than boundaries' }),
}).superRefine((p, ctx) => {
  if (p.errors > p.requests) ctx.addIssue({ code: 'custom', path: ['errors'], message: 'can\'t exceed requests' });
  if (p.latency) {
    if (p.latency.counts.length !== p.latency.boundaries_ms.length + 1) ctx.addIssue({ code: 'custom', path: ['latency', 'counts'], message: 'needs one more count than boundaries' });
    if (p.latency.boundaries_ms.some((b, i) => i > 0 && b <= p.latency!.boundaries_ms[i - 1]!)) ctx.addIssue({ code: 'custom', path: ['latency', 'boundaries_ms'], message: 'must increase' });
  }
});

export const otlpMetrics = createRoute({
  operationId: 'otlpMetrics',
  method: 'post',
  path: '/v1/otlp/v1/metrics',
  tags: ['canary'],
  summary: 'OpenTelemetry metrics (OTLP/HTTP, JSON) as canary telemetry',
  description: 'Point an OTLP/HTTP metrics exporter here (OTEL_EXPORTER_OTLP_METRICS_ENDPOINT, protocol http/json, '
    + 'header Authorization: Bearer sk_…). The `http.server.request.duration` histogram of a resource whose `service.name` '
    + 'and `service.version` name a live rollout\'s service and one of its versions becomes that track\'s requests, errors '
    + '(`http.response.status_code` 5xx) and latency. Cumulative and delta temporality both work; a repeated export counts once. '
    + 'Other metrics are ignored.',
  request: { body: { required: true, content: { 'application/json': { schema: ExportMetricsRequest } } } },
  responses: {
    200: {
      description: 'taken; `partialSuccess` says how many data points were refused and why (OTLP\'s ExportMetricsServiceResponse)',
      content: { 'application/json': { schema: z.object({ partialSuccess: z.object({ rejectedDataPoints: z.number().int(), errorMessage: z.string() }).optional() }).openapi('OtlpExportMetricsServiceResponse') } },
    },
    415: problemContent('not OTLP/HTTP JSON: protobuf is not read here (set the exporter\'s protocol to http/json)'),
    ...problems({ 403: 'a viewer key or an event token may not change anything (member or admin keys only)' }),
    422: problemContent('no data point belongs to a live rollout (the problem names the service and versions it saw)'),
  },
});

export const postTelemetry = createRoute({
  operationId: 'postTelemetry',
  method: 'post',
  path: '/v1/rollouts/{id}/telemetry',
  tags: ['canary'],
  summary: 'Telemetry points for a live rollout\'s baseline and canary',
  description:
    'One point per track and timestamp: the counts since the track\'s previous point. A point sent again (the same ' +
    'track and `ts`) is a duplicate and changes nothing, so clients may retry freely. Late points are stored and count in ' +
    'every window judged after they arrive; a window already decided keeps its decision.',
  request: {
    params: IdParam,
    body: { required: true, content: { 'application/json': { schema: z.strictObject({ points: z.array(Point).min(1).max(1000) }).openapi('RolloutTelemetry') } } },
  },
  responses: {
    202: { description: 'stored', content: { 'application/json': { schema: z.object({ accepted: z.number().int(), duplicates: z.number().int() }) } } },
    ...problems({ 403: 'a viewer key or an event token may not change anything (member or admin keys only)', 409: 'the rollout has ended and takes no more telemetry', 422: "latency histograms whose bucket boundaries differ from the rollout's first one" }),
  },
});

const ArgoAnswer = z.object({
  decision: z.enum(['PROMOTE', 'ROLLBACK', 'WAIT', 'PAUSE']).openapi({ description: 'for successCondition / failureCondition: PROMOTE → Successful, ROLLBACK → Failed, WAIT and PAUSE → Inconclusive' }),
  status: RolloutStatus,
  step: z.object({ index: z.number().int(), weight: z.number().int() }),
  sentence: z.string().nullable(),
  window_end: z.string().nullable(),
}).openapi('ArgoAnalysisAnswer');

export const argoAnalysis = createRoute({
  operationId: 'argoAnalysis',
  method: 'post',
  path: '/v1/rollouts/{id}/analysis',
  tags: ['canary'],
  summary: 'Argo Rollouts Web metric: the rollout\'s current decision (always 200 while the rollout exists)',
  description:
    'Point an AnalysisTemplate\'s `provider.web` here (infra/argo/analysis-template.yaml) with `successCondition: result.decision == "PROMOTE"` ' +
    'and `failureCondition: result.decision == "ROLLBACK"`. Send `{"weight": <the Rollout\'s current setWeight>}` to be told PROMOTE once ' +
    'the judge has moved past that weight. Non-2xx answers are kept for real failures: Argo counts them toward consecutiveErrorLimit.',
  request: {
    params: IdParam,
    body: { required: false, content: { 'application/json': { schema: z.looseObject({ weight: z.coerce.number().int().min(0).max(100).optional() }).openapi('ArgoAnalysisRequest') } } },
  },
  responses: { 200: { description: 'the decision', content: { 'application/json': { schema: ArgoAnswer } } }, ...problems({ 403: 'a viewer key or an event token may not change anything (member or admin keys only)' }) },
});

export const flaggerWebhook = createRoute({
  operationId: 'flaggerWebhook',
  method: 'post',
  path: '/v1/rollouts/{id}/flagger/{type}',
  tags: ['canary'],
  summary: 'Flagger webhooks, in Flagger\'s status semantics (≤ 202 passes; anything else fails; rollback is inverted)',
  description:
    '`confirm-traffic-increase`: 200 once the judge has promoted the current step, else 403 (Flagger holds the weight and counts no failure). ' +
    '`confirm-promotion`: 200 when the rollout is promoted. `rollout`: 200 unless the judge rolled back. `rollback`: 200 (roll back now) when the ' +
    'judge rolled back, else 403. The first call fixes the revision (`checksum`); calls for another revision are a 409.',
  request: {
    params: IdParam.extend({ type: z.enum(['confirm-traffic-increase', 'confirm-promotion', 'rollout', 'rollback']).openapi({ param: { name: 'type', in: 'path' } }) }),
    body: {
      required: true,
      content: {
        'application/json': {
          schema: z.looseObject({
            name: z.string().max(253), namespace: z.string().max(253), phase: z.string().max(64),
            checksum: z.string().min(1).max(200), metadata: z.record(z.string(), z.string()).optional(),
          }).openapi('FlaggerWebhookPayload'),
        },
      },
    },
  },
  responses: {
    200: { description: 'approved (for rollback: roll back now)', content: { 'application/json': { schema: z.object({ decision: ArgoAnswer.shape.decision, sentence: z.string().nullable() }) } } },
    ...problems({ 409: 'the rollout judges another Flagger revision' }),
    403: problemContent('not approved (for rollback: no rollback); the detail says why'),
  },
});

const Replayed = z.object({ window_end: z.string(), step_index: z.number().int(), verdict: z.enum(['promote', 'wait', 'pause', 'rollback']), sentence: z.string() });

export const backtestRollout = createRoute({
  operationId: 'backtestRollout',
  method: 'post',
  path: '/v1/rollouts/{id}/backtest',
  tags: ['canary'],
  summary: 'The decisions another policy would have made over this rollout\'s stored telemetry, beside the real ones',
  description:
    'Give `policy` ("<name>@<version>", or a name for its latest) or `yaml` (a policy not stored). Deterministic: the same telemetry and ' +
    'policy give the same timeline. It replays from the rollout\'s start with the telemetry stored now, so points that arrived after a ' +
    'real decision can make the replay differ from it.',
  request: {
    params: IdParam,
    body: {
      required: true,
      content: {
        'application/json': {
          schema: z.strictObject({
            policy: z.string().regex(/^[a-z][a-z0-9-]{1,62}(@\d{1,9})?$/).optional(),
            yaml: z.string().min(1).max(20_000).optional(),
          }).refine((b) => (b.policy === undefined) !== (b.yaml === undefined), 'give one of policy and yaml').openapi('BacktestRequest'),
        },
      },
    },
  },
  responses: {
    200: {
      description: 'both timelines, and where they first differ',
      content: {
        'application/json': {
          schema: z.object({
            policy: z.object({ name: z.string().nullable(), version: z.number().int().nullable(), hash: z.string() }),
            backtest: z.array(Replayed),
            actual: z.array(Replayed),
            first_difference: z.object({ index: z.number().int(), window_end: z.string().nullable(), backtest: Replayed.nullable(), actual: Replayed.nullable() }).nullable(),
          }),
        },
      },
    },
    ...problems({ 403: 'a viewer key or an event token may not change anything (member or admin keys only)', 422: 'no such policy in this tenant' }),
  },
});
