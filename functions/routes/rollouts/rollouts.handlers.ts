/**
 * Canary handlers. A rollout create is one transaction (rollout row + its `rollout.evaluate` job
 * + idempotency row); telemetry is one statement; a person's action is one conditional update.
 */
import { OpenAPIHono } from '@hono/zod-openapi';
import { parsePolicy } from '../../../core/canary/policy.ts';
import { replay } from '../../../core/canary/judge.ts';
import { DURATION_METRIC, readDurationPoints } from '../../../core/canary/otlp.ts';
import type { Policy } from '../../../core/canary/policy.ts';
import { writeSubjectWithJob, type Job } from '../../../db/jobs.repo.ts';
import { getProject } from '../../../db/projects.repo.ts';
import {
  advanceRollout, allDecisions, loadBuckets, claimFlaggerChecksum, claimLatencyBoundaries, latestDecision, findPolicy, getPolicyById, getRollout, insertPoints, insertRolloutQuery, listDecisions,
  listLatestPolicies, listPolicyVersions, listRollouts, putPolicyVersion, transitionRollout,
  getPoliciesByIds, ingestOtlpSeries, liveRolloutsOfService, type OtlpSeriesPoint, type CanaryPolicyRow, type Decision, type PolicyRef, type Rollout,
} from '../../../db/rollouts.repo.ts';
import { isFinalRolloutStatus } from '../../../db/status.ts';
import type { Sql } from '../../../db/client.ts';
import type { AppDeps, AppEnv } from '../../deps.ts';
import { badRequest, conflict, notFound, Problem } from '../../errors.ts';
import { sha256Hex } from '../../../core/crypto.ts';
import { newId } from '../../../core/ids.ts';
import { decodeCursor, mutate, page, validationHook } from '../../lib/http.ts';
import { requireRole } from '../../middleware/auth.ts';
import { toJob } from '../schemas.ts';
import { assertDeliverable } from '../../../workers/providers/alerts/outbound.ts';
import * as routes from './rollouts.routes.ts';
import { traceparentOf } from '../../middleware/tracing.ts';

const toPolicy = (p: CanaryPolicyRow) => ({
  id: p.id, name: p.name, version: p.version, hash: p.hash, yaml: p.yaml, document: p.document as Record<string, unknown>, created_at: p.createdAt,
});

const toRollout = (r: Rollout, p: PolicyRef, shadows: PolicyRef[]) => ({
  id: r.id, project_id: r.projectId, service: r.service,
  baseline: { version: r.baselineVersion }, canary: { version: r.canaryVersion },
  policy: { id: p.id, name: p.name, version: p.version },
  shadow_policies: shadows.map((s) => ({ id: s.id, name: s.name, version: s.version })),
  notify: r.notifyHost
    ? { host: r.notifyHost, failures: r.notifyFailures, last_error: r.notifyLastError, last_success_at: r.notifyLastSuccessAt }
    : null,
  status: r.status, step: { index: r.stepIndex, weight: r.weight, started_at: r.stepStartedAt },
  last_error: r.lastError, created_at: r.createdAt, updated_at: r.updatedAt,
});

const toDecision = (d: Decision) => ({
  id: d.id, rollout_id: d.rolloutId, policy_id: d.policyId, window: { start: d.windowStart, end: d.windowEnd },
  step_index: d.stepIndex, verdict: d.verdict, sentence: d.sentence, explanation: d.explanation as Record<string, unknown>,
  shadow: d.shadow, created_at: d.createdAt,
});

export function rolloutsRouter(deps: AppDeps) {
  const app = new OpenAPIHono<AppEnv>({ defaultHook: validationHook });
  const member = requireRole('member');
  app.on('POST', '/v1/canary-policies', member);
  app.on('POST', '/v1/rollouts', member);
  app.on('POST', '/v1/rollouts/*', member);

  // Policy versions are never deleted (rollouts reference them), so a rollout's is always there.
  const policyOf = async (tenantId: string, r: Rollout) => (await getPolicyById(deps.db.sql, tenantId, r.policyId))!;
  const shown = async (tenantId: string, r: Rollout, p?: PolicyRef) =>
    toRollout(r, p ?? await policyOf(tenantId, r), await getPoliciesByIds(deps.db.sql, tenantId, r.shadowPolicyIds));

  /** "<name>" (the latest version) or "<name>@<version>": the policy row, or a 422 naming the field. */
  const resolvePolicy = async (tenantId: string, text: string, field: string) => {
    const [name, version] = text.split('@') as [string, string | undefined];
    const policy = await findPolicy(deps.db.sql, tenantId, name, version === undefined ? undefined : Number(version));
    if (!policy) throw new Problem(422, 'Unprocessable content', `no canary policy ${text} in this tenant`, { errors: [{ field, message: 'unknown policy or version' }] });
    return policy;
  };

  app.openapi(routes.putPolicy, async (c) => {
    const sql = deps.db.sql;
    const { name, yaml } = c.req.valid('json');
    const parsed = parsePolicy(yaml);
    if (!parsed.ok) {
      throw new Problem(400, 'Invalid request', `the policy is not valid: ${parsed.errors.map((e) => `${e.field}${e.line ? ` (line ${e.line}, column ${e.column})` : ''}: ${e.message}`).join('; ')}`,
        { errors: parsed.errors.map((e) => ({ ...e, field: `yaml.${e.field}` })) });
    }
    const hash = await sha256Hex(parsed.normalized);
    const { tenantId } = c.get('principal');
    for (let i = 0; i < 5; i++) {
      const put = await putPolicyVersion(sql, { id: newId('pol'), tenantId, name, hash, yaml, document: parsed.policy });
      if (put) return c.json({ policy: toPolicy(put.policy) }, put.created ? 201 : 200);
    }
    throw conflict('other versions of this policy are being written at the same moment; retry');
  });

  app.openapi(routes.listPolicies, async (c) => {
    const sql = deps.db.sql;
    return c.json({ data: (await listLatestPolicies(sql, c.get('principal').tenantId)).map(toPolicy) }, 200);
  });

  app.openapi(routes.getPolicy, async (c) => {
    const sql = deps.db.sql;
    const { name } = c.req.valid('param');
    const versions = await listPolicyVersions(sql, c.get('principal').tenantId, name);
    if (versions.length === 0) throw notFound(`canary policy ${name}`);
    return c.json({
      policy: toPolicy(versions[0]!),
      versions: versions.map((v) => ({ id: v.id, version: v.version, hash: v.hash, created_at: v.createdAt })),
    }, 200);
  });

  app.openapi(routes.createRollout, async (c) => {
    const sql = deps.db.sql;
    const body = c.req.valid('json');
    const { tenantId } = c.get('principal');
    const policy = await resolvePolicy(tenantId, body.policy, 'policy');
    const shadows: CanaryPolicyRow[] = [];
    for (const [i, text] of (body.shadow_policies ?? []).entries()) {
      const p = await resolvePolicy(tenantId, text, `shadow_policies[${i}]`);
      if (p.id !== policy.id && !shadows.some((x) => x.id === p.id)) shadows.push(p);
    }
    if (!(await getProject(sql, tenantId, body.project))) throw new Problem(422, 'Unprocessable content', `project ${body.project} does not exist`, { errors: [{ field: 'project', message: 'unknown project' }] });
    let notifyUrl: URL | null = null;
    if (body.notify) {
      try {
        notifyUrl = await assertDeliverable(body.notify.url, { allowPrivate: deps.config.SWITCHYARD_ALERT_ALLOW_PRIVATE_URLS, ...(deps.resolveHost ? { resolve: deps.resolveHost } : {}) });
      } catch (err) {
        throw badRequest((err as Error).message, [{ field: 'notify.url', message: (err as Error).message }]);
      }
    }
    const doc = policy.document as Policy;
    // The id is chosen before the transaction: the sealed notify URL and secret are bound to it.
    const id = newId('rol');
    const notify = notifyUrl && body.notify
      ? { notifyUrl: await deps.box.seal(notifyUrl.toString(), `${id}:notify-url`), notifyHost: notifyUrl.host, notifySecret: await deps.box.seal(body.notify.secret, `${id}:notify-secret`) }
      : {};
    return mutate(c, deps, body, async (tx: Sql) => {
      const job = { id: newId('job'), subjectId: id, kind: 'rollout.evaluate', payload: { rollout_id: id }, maxAttempts: deps.config.SWITCHYARD_MAX_ATTEMPTS, traceparent: traceparentOf(c) };
      const created = await writeSubjectWithJob<Rollout>(tx, 'rollout', insertRolloutQuery(tx, {
        id, tenantId, projectId: body.project, service: body.service, baselineVersion: body.baseline.version,
        canaryVersion: body.canary.version, policyId: policy.id, weight: doc.steps[0]!.weight,
        shadowPolicyIds: shadows.map((p) => p.id), ...notify,
      }), job);
      if (!created) throw new Error('the rollout insert wrote nothing');
      return { status: 202, body: { rollout: toRollout(created.subject, policy, shadows), job: toJob(created.job) }, headers: { Location: `/v1/rollouts/${id}` }, jobs: [created.job as Job] };
    });
  });

  app.openapi(routes.listRollouts, async (c) => {
    const sql = deps.db.sql;
    const q = c.req.valid('query');
    const { tenantId } = c.get('principal');
    const rows = await listRollouts(sql, tenantId, { status: q.status, after: decodeCursor(q.cursor), limit: q.limit + 1 });
    const p = page(c, rows, q.limit);
    const data = p.rows.map((r) => toRollout(r, { id: r.policyId, name: r.policyName, version: r.policyVersion }, r.shadowPolicies));
    return c.json({ data, pagination: p.pagination }, 200);
  });

  app.openapi(routes.getRollout, async (c) => {
    const sql = deps.db.sql;
    const { tenantId } = c.get('principal');
    const r = await getRollout(sql, tenantId, c.req.valid('param').id);
    if (!r) throw notFound('rollout');
    return c.json({ rollout: await shown(tenantId, r) }, 200);
  });

  app.openapi(routes.listDecisions, async (c) => {
    const sql = deps.db.sql;
    const { tenantId } = c.get('principal');
    const { id } = c.req.valid('param');
    const q = c.req.valid('query');
    if (!(await getRollout(sql, tenantId, id))) throw notFound('rollout');
    const rows = await listDecisions(sql, tenantId, id, { after: decodeCursor(q.cursor), limit: q.limit + 1 });
    const p = page(c, rows, q.limit);
    return c.json({ data: p.rows.map(toDecision), pagination: p.pagination }, 200);
  });

  // Registered before the {action} route, which would otherwise take /telemetry.
  app.openapi(routes.postTelemetry, async (c) => {
    const sql = deps.db.sql;
    const { tenantId } = c.get('principal');
    const { id } = c.req.valid('param');
    const { points } = c.req.valid('json');
    const r = await getRollout(sql, tenantId, id);
    if (!r) throw notFound('rollout');
    if (isFinalRolloutStatus(r.status)) throw conflict(`rollout ${id} is ${r.status}; it takes no more telemetry`);
    const withLatency = points.find((p) => p.latency);
    if (withLatency) {
      const b = withLatency.latency!.boundaries_ms;
      const mismatch = points.some((p) => p.latency && (p.latency.boundaries_ms.length !== b.length || p.latency.boundaries_ms.some((x, i) => x !== b[i])));
      if (mismatch || !(await claimLatencyBoundaries(sql, id, b))) {
        throw new Problem(422, 'Unprocessable content', 'latency histograms of a rollout must all use the bucket boundaries of its first one, so they can be merged',
          { errors: [{ field: 'points.latency.boundaries_ms', message: 'differ from the rollout\'s' }] });
      }
    }
    const now = Date.now();
    const future = points.findIndex((p) => Date.parse(p.ts) > now + 60_000);
    if (future >= 0) throw badRequest('a point is more than a minute in the future', [{ field: `points[${future}].ts`, message: 'in the future' }]);
    const accepted = await insertPoints(sql, id, points.map((p) => ({
      ts: new Date(p.ts), track: p.track, requests: p.requests, errors: p.errors, latencyCounts: p.latency?.counts ?? null,
    })));
    return c.json({ accepted, duplicates: points.length - accepted }, 202);
  });

  // OTLP/HTTP JSON only: an exporter sending protobuf gets a problem that says how to switch.
  app.use('/v1/otlp/v1/metrics', async function otlpJsonOnly(c, next) {
    const type = c.req.header('content-type') ?? '';
    if (c.req.method === 'POST' && !/^application\/json\s*(;|$)/i.test(type)) {
      throw new Problem(415, 'Unsupported media type',
        `this endpoint reads OTLP/HTTP JSON (Content-Type: application/json), not ${type || 'an untyped body'}; set OTEL_EXPORTER_OTLP_METRICS_PROTOCOL=http/json`);
    }
    return next();
  });
  app.on('POST', '/v1/otlp/v1/metrics', member);

  app.openapi(routes.otlpMetrics, async (c) => {
    const sql = deps.db.sql;
    const { tenantId } = c.get('principal');
    const { points, unnamed } = readDurationPoints(c.req.valid('json'));
    const rollouts = await liveRolloutsOfService(sql, tenantId, [...new Set(points.map((p) => p.service))]);
    const groups = new Map<string, { rollout: Rollout; track: 'baseline' | 'canary'; items: OtlpSeriesPoint[] }>();
    const unmatched = new Set<string>();
    let rejected = unnamed;
    for (const p of points) {
      const matches = rollouts.filter((r) => r.service === p.service && (r.canaryVersion === p.version || r.baselineVersion === p.version));
      if (matches.length === 0) {
        rejected++;
        unmatched.add(`${p.service} ${p.version}`);
        continue;
      }
      const series = await sha256Hex(p.series);
      for (const r of matches) {
        const track = r.canaryVersion === p.version ? 'canary' : 'baseline';
        const key = `${r.id}:${track}`;
        const g = groups.get(key) ?? { rollout: r, track, items: [] };
        g.items.push({ series, point: p });
        groups.set(key, g);
      }
    }
    if (points.length + unnamed > 0 && groups.size === 0) {
      throw new Problem(422, 'Unprocessable content', unmatched.size
        ? `no live rollout in this tenant for ${[...unmatched].slice(0, 5).map((x) => `service ${x.replace(' ', ' version ')}`).join(', ')}`
        : `the ${DURATION_METRIC} data points carry no service.name and service.version resource attributes, so they can't be matched to a rollout`,
        { errors: [{ field: 'resourceMetrics.resource.attributes', message: unmatched.size ? 'no live rollout for this service and version' : 'service.name and service.version are required' }] });
    }
    let unmergeable = 0;
    await sql.begin(async (tx) => {
      for (const g of groups.values()) {
        // The first histogram fixes the rollout's bucket boundaries, as for JSON telemetry.
        const first = g.items.find((i) => i.point.boundariesMs)?.point.boundariesMs;
        if (first && !g.rollout.latencyBoundaries) {
          await claimLatencyBoundaries(tx, g.rollout.id, first);
          g.rollout = (await getRollout(tx, tenantId, g.rollout.id)) ?? g.rollout;
        }
        const fixed = g.rollout.latencyBoundaries?.map(Number);
        unmergeable += g.items.filter((i) => i.point.boundariesMs && !(fixed && fixed.length === i.point.boundariesMs.length && fixed.every((b, k) => b === i.point.boundariesMs![k]))).length;
        await ingestOtlpSeries(tx, g.rollout, g.track, g.items);
      }
    });
    const notes = [
      ...(unmatched.size ? [`${rejected - unnamed} data points belong to no live rollout (${[...unmatched].slice(0, 5).join(', ')})`] : []),
      ...(unnamed ? [`${unnamed} data points carry no service.name and service.version`] : []),
      ...(unmergeable ? [`the latency of ${unmergeable} data points was not counted: their bucket boundaries differ from the rollout's first histogram`] : []),
    ];
    return c.json(notes.length ? { partialSuccess: { rejectedDataPoints: rejected, errorMessage: notes.join('; ') } } : {}, 200);
  });

  // Argo Rollouts and Flagger ask what the judge decided; neither drives a decision itself.
  const currentDecision = async (tenantId: string, r: Rollout, askedWeight?: number) => {
    const latest = await latestDecision(deps.db.sql, tenantId, r.id);
    const decision: 'PROMOTE' | 'ROLLBACK' | 'WAIT' | 'PAUSE' =
      r.status === 'promoted' ? 'PROMOTE'
      : r.status === 'rolled_back' || r.status === 'aborted' ? 'ROLLBACK'
      : r.status === 'paused' ? 'PAUSE'
      : askedWeight !== undefined ? (r.weight > askedWeight ? 'PROMOTE' : 'WAIT')
      : latest?.verdict === 'promote' && latest.stepIndex === r.stepIndex - 1 ? 'PROMOTE'
      : 'WAIT';
    return { decision, latest };
  };

  app.openapi(routes.argoAnalysis, async (c) => {
    const { tenantId } = c.get('principal');
    const { id } = c.req.valid('param');
    const r = await getRollout(deps.db.sql, tenantId, id);
    if (!r) throw notFound('rollout');
    const body = (c.req.valid('json') ?? {}) as { weight?: number };
    const { decision, latest } = await currentDecision(tenantId, r, body.weight);
    return c.json({ decision, status: r.status, step: { index: r.stepIndex, weight: r.weight }, sentence: latest?.sentence ?? null, window_end: latest?.windowEnd ?? null }, 200);
  });

  app.openapi(routes.flaggerWebhook, async (c) => {
    const { tenantId } = c.get('principal');
    const { id, type } = c.req.valid('param');
    const payload = c.req.valid('json');
    const r = await getRollout(deps.db.sql, tenantId, id);
    if (!r) throw notFound('rollout');
    if (!(await claimFlaggerChecksum(deps.db.sql, tenantId, id, payload.checksum))) {
      throw conflict(`rollout ${id} judges another Flagger revision than ${payload.checksum}; start a rollout for this one`);
    }
    const { decision, latest } = await currentDecision(tenantId, r);
    const why = latest?.sentence ?? `the rollout is ${r.status}`;
    const approved =
      type === 'rollback' ? decision === 'ROLLBACK'
      : type === 'rollout' ? decision !== 'ROLLBACK'
      : type === 'confirm-promotion' ? decision === 'PROMOTE' && r.status === 'promoted'
      : decision === 'PROMOTE';
    if (!approved) {
      throw new Problem(403, 'Not approved', type === 'rollback' ? `no rollback: ${why}` : `${type} not approved (${decision}): ${why}`, { decision });
    }
    return c.json({ decision, sentence: latest?.sentence ?? null }, 200);
  });

  app.openapi(routes.backtestRollout, async (c) => {
    const sql = deps.db.sql;
    const { tenantId } = c.get('principal');
    const { id } = c.req.valid('param');
    const body = c.req.valid('json');
    const r = await getRollout(sql, tenantId, id);
    if (!r) throw notFound('rollout');
    let policy: Policy;
    let about: { name: string | null; version: number | null; hash: string };
    if (body.yaml !== undefined) {
      const parsed = parsePolicy(body.yaml);
      if (!parsed.ok) throw new Problem(400, 'Invalid request', 'the policy is not valid', { errors: parsed.errors.map((e) => ({ ...e, field: `yaml.${e.field}` })) });
      policy = parsed.policy;
      about = { name: null, version: null, hash: await sha256Hex(parsed.normalized) };
    } else {
      const [name, version] = body.policy!.split('@') as [string, string | undefined];
      const row = await findPolicy(sql, tenantId, name, version === undefined ? undefined : Number(version));
      if (!row) throw new Problem(422, 'Unprocessable content', `no canary policy ${body.policy} in this tenant`, { errors: [{ field: 'policy', message: 'unknown policy or version' }] });
      policy = row.document as Policy;
      about = { name: row.name, version: row.version, hash: row.hash };
    }
    const real = await allDecisions(sql, tenantId, id, r.policyId);
    const actual = real.map((d) => ({ window_end: d.windowEnd, step_index: d.stepIndex, verdict: d.verdict, sentence: d.sentence }));
    const until = real.length ? Date.parse(real.at(-1)!.windowEnd) : Date.now();
    const startedAt = Date.parse(r.startedAt ?? r.createdAt);
    const buckets = await loadBuckets(sql, r, new Date(until), policy.windowMs, policy.intervalMs, { latencyForAll: true });
    const backtest = replay(policy, buckets, startedAt, until);
    let first: { index: number; window_end: string | null; backtest: (typeof backtest)[number] | null; actual: (typeof actual)[number] | null } | null = null;
    for (let i = 0; i < Math.max(backtest.length, actual.length); i++) {
      const b = backtest[i] ?? null;
      const a = actual[i] ?? null;
      if (!b || !a || b.window_end !== a.window_end || b.verdict !== a.verdict || b.step_index !== a.step_index) {
        first = { index: i, window_end: b?.window_end ?? a?.window_end ?? null, backtest: b, actual: a };
        break;
      }
    }
    return c.json({ policy: about, backtest, actual, first_difference: first }, 200);
  });

  app.openapi(routes.rolloutAction, async (c) => {
    const sql = deps.db.sql;
    const { tenantId } = c.get('principal');
    const { id, action } = c.req.valid('param');
    const r = await getRollout(sql, tenantId, id);
    if (!r) throw notFound('rollout');
    const policy = await policyOf(tenantId, r);
    let after: Rollout | null = null;
    if (action === 'pause') after = await transitionRollout(sql, tenantId, id, 'pause');
    else if (action === 'resume') after = await transitionRollout(sql, tenantId, id, 'resume', { startStep: false });
    else if (action === 'abort') after = await transitionRollout(sql, tenantId, id, 'abort');
    else {
      const steps = (policy.document as Policy).steps;
      const next = r.stepIndex + 1;
      after = next >= steps.length || steps[next]!.weight >= 100
        ? await transitionRollout(sql, tenantId, id, 'promoted', { onlyAtStep: r.stepIndex })
        : r.status === 'running' || r.status === 'paused' ? await advanceRollout(sql, tenantId, id, r.stepIndex, { index: next, weight: steps[next]!.weight }, new Date()) : null;
    }
    if (!after) throw conflict(`rollout ${id} is ${r.status}; it can't ${action} from there`, { rollout_status: r.status });
    return c.json({ rollout: await shown(tenantId, after, policy) }, 200);
  });

  return app;
}
