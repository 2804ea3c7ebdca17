/**
 * Canary policies, rollouts, their telemetry points and decisions (supabase/migrations/
 * 20261202003000_canary.sql). Every query is scoped by tenant, or by a rollout already read
 * under its tenant.
 */
import type { Bucket, Histogram, Track } from '../core/canary/judge.ts';
import { deltaOf, type OtlpPoint, type SeriesState } from '../core/canary/otlp.ts';
import type { Sql } from './client.ts';
import { rolloutTransitions, type RolloutStatus, type RolloutTransition } from './status.ts';

export interface CanaryPolicyRow {
  id: string;
  tenantId: string;
  name: string;
  version: number;
  hash: string;
  yaml: string;
  document: unknown;
  createdAt: string;
}

/**
 * A new version of a policy, or the existing one with the same document (same hash): a repeated
 * POST of the same body is not a new version. `created` says which.
 */
export async function putPolicyVersion(
  sql: Sql,
  p: { id: string; tenantId: string; name: string; hash: string; yaml: string; document: unknown },
): Promise<{ policy: CanaryPolicyRow; created: boolean } | null> {
  const rows = await sql<(CanaryPolicyRow & { created: boolean })[]>`
    with existing as (
      select * from canary_policies where tenant_id = ${p.tenantId} and name = ${p.name} and hash = ${p.hash}
    ), ins as (
      insert into canary_policies (id, tenant_id, name, version, hash, yaml, document)
      select ${p.id}, ${p.tenantId}, ${p.name},
             coalesce((select max(version) from canary_policies where tenant_id = ${p.tenantId} and name = ${p.name}), 0) + 1,
             ${p.hash}, ${p.yaml}, ${JSON.stringify(p.document)}::jsonb
       where not exists (select 1 from existing)
      on conflict do nothing
      returning *
    )
    select *, true as created from ins
    union all
    select *, false as created from existing`;
  const row = rows[0];
  if (!row) return null; // a racing create took the version number: the caller tries again
  const { created, ...policy } = row;
  return { policy, created };
}

export async function listLatestPolicies(sql: Sql, tenantId: string): Promise<CanaryPolicyRow[]> {
  return sql<CanaryPolicyRow[]>`
    select distinct on (name) * from canary_policies where tenant_id = ${tenantId} order by name, version desc limit 500`;
}

export async function listPolicyVersions(sql: Sql, tenantId: string, name: string): Promise<CanaryPolicyRow[]> {
  return sql<CanaryPolicyRow[]>`select * from canary_policies where tenant_id = ${tenantId} and name = ${name} order by version desc limit 500`;
}

/** A version of a policy by name (the latest when `version` is absent). */
export async function findPolicy(sql: Sql, tenantId: string, name: string, version?: number): Promise<CanaryPolicyRow | null> {
  const [row] = await sql<CanaryPolicyRow[]>`
    select * from canary_policies where tenant_id = ${tenantId} and name = ${name}
       ${version !== undefined ? sql`and version = ${version}` : sql``}
     order by version desc limit 1`;
  return row ?? null;
}

/** A policy version as a rollout names it. */
export interface PolicyRef {
  id: string;
  name: string;
  version: number;
}

export async function getPolicyById(sql: Sql, tenantId: string, id: string): Promise<CanaryPolicyRow | null> {
  const [row] = await sql<CanaryPolicyRow[]>`select * from canary_policies where id = ${id} and tenant_id = ${tenantId}`;
  return row ?? null;
}

export interface Rollout {
  id: string;
  tenantId: string;
  projectId: string;
  service: string;
  baselineVersion: string;
  canaryVersion: string;
  policyId: string;
  status: RolloutStatus;
  stepIndex: number;
  weight: number;
  stepStartedAt: string | null;
  startedAt: string | null;
  latencyBoundaries: number[] | null;
  flaggerChecksum: string | null;
  lastError: string | null;
  /** Policies judged beside the rollout's own on every interval; never acted on. */
  shadowPolicyIds: string[];
  /** Sealed (core/crypto.ts); the host is shown. */
  notifyUrl: string | null;
  notifyHost: string | null;
  notifySecret: string | null;
  notifyFailures: number;
  notifyLastError: string | null;
  notifyLastSuccessAt: string | null;
  createdAt: string;
  updatedAt: string;
}

export type NewRollout = Pick<Rollout, 'id' | 'tenantId' | 'projectId' | 'service' | 'baselineVersion' | 'canaryVersion' | 'policyId' | 'weight'>
  & Partial<Pick<Rollout, 'shadowPolicyIds' | 'notifyUrl' | 'notifyHost' | 'notifySecret'>>;

export function insertRolloutQuery(sql: Sql, r: NewRollout) {
  return sql`
    insert into rollouts (id, tenant_id, project_id, service, baseline_version, canary_version, policy_id, weight,
                          shadow_policy_ids, notify_url, notify_host, notify_secret)
    values (${r.id}, ${r.tenantId}, ${r.projectId}, ${r.service}, ${r.baselineVersion}, ${r.canaryVersion}, ${r.policyId}, ${r.weight},
            ${r.shadowPolicyIds ?? []}::text[], ${r.notifyUrl ?? null}, ${r.notifyHost ?? null}, ${r.notifySecret ?? null})
    returning *`;
}

/** Policy versions by id, in the order asked (missing ones left out). */
export async function getPoliciesByIds(sql: Sql, tenantId: string, ids: string[]): Promise<CanaryPolicyRow[]> {
  if (ids.length === 0) return [];
  const rows = await sql<CanaryPolicyRow[]>`select * from canary_policies where tenant_id = ${tenantId} and id = any(${ids}::text[])`;
  return ids.map((id) => rows.find((r) => r.id === id)).filter((r): r is CanaryPolicyRow => r !== undefined);
}

/** A notification's outcome on its rollout: failures in a row, the last error, the last success. */
export async function recordNotifyOutcome(sql: Sql, tenantId: string, id: string, outcome: { ok: true } | { ok: false; error: string }): Promise<number | null> {
  const [row] = outcome.ok
    ? await sql<{ notifyFailures: number }[]>`
        update rollouts set notify_failures = 0, notify_last_success_at = now()
         where id = ${id} and tenant_id = ${tenantId} returning notify_failures`
    : await sql<{ notifyFailures: number }[]>`
        update rollouts set notify_failures = notify_failures + 1, notify_last_error = ${outcome.error.slice(0, 500)}
         where id = ${id} and tenant_id = ${tenantId} returning notify_failures`;
  return row?.notifyFailures ?? null;
}

export async function getDecision(sql: Sql, tenantId: string, rolloutId: string, id: string): Promise<Decision | null> {
  const [row] = await sql<Decision[]>`
    select id::text, rollout_id, tenant_id, policy_id, window_start, window_end, step_index, verdict, sentence, explanation, shadow, created_at
      from rollout_decisions where id = ${id}::bigint and rollout_id = ${rolloutId} and tenant_id = ${tenantId}`;
  return row ?? null;
}

export async function getRollout(sql: Sql, tenantId: string, id: string): Promise<Rollout | null> {
  const [row] = await sql<Rollout[]>`select * from rollouts where id = ${id} and tenant_id = ${tenantId}`;
  return row ?? null;
}

/** A page of rollouts with their pinned policy's name and version (one query, not one per row). */
export async function listRollouts(
  sql: Sql, tenantId: string, opts: { status?: RolloutStatus; after?: string; limit: number },
): Promise<(Rollout & { policyName: string; policyVersion: number; shadowPolicies: PolicyRef[] })[]> {
  return sql<(Rollout & { policyName: string; policyVersion: number; shadowPolicies: PolicyRef[] })[]>`
    select r.*, p.name as policy_name, p.version as policy_version,
           (select coalesce(jsonb_agg(jsonb_build_object('id', s.id, 'name', s.name, 'version', s.version) order by s.name, s.version), '[]'::jsonb)
              from canary_policies s where s.id = any(r.shadow_policy_ids) and s.tenant_id = r.tenant_id) as shadow_policies
      from rollouts r join canary_policies p on p.id = r.policy_id
     where r.tenant_id = ${tenantId}
       ${opts.status ? sql`and r.status = ${opts.status}` : sql``}
       ${opts.after ? sql`and r.id < ${opts.after}` : sql``}
     order by r.id desc limit ${opts.limit}`;
}

/** A named status change; null when the rollout isn't in one of its `from` statuses. */
export async function transitionRollout(
  sql: Sql,
  tenantId: string,
  id: string,
  name: RolloutTransition,
  opts: { onlyAtStep?: number; startStep?: boolean; lastError?: string | null } = {},
): Promise<Rollout | null> {
  const t = rolloutTransitions[name];
  const [row] = await sql<Rollout[]>`
    update rollouts
       set status = ${t.to}, updated_at = now(),
           weight = ${t.to === 'promoted' ? 100 : sql`weight`},
           step_started_at = ${opts.startStep ? sql`now()` : sql`step_started_at`},
           started_at = ${name === 'start' ? sql`coalesce(started_at, now())` : sql`started_at`},
           last_error = ${opts.lastError !== undefined ? opts.lastError : sql`last_error`}
     where id = ${id} and tenant_id = ${tenantId} and status = any(${t.from as unknown as string[]})
       ${opts.onlyAtStep !== undefined ? sql`and step_index = ${opts.onlyAtStep}` : sql``}
     returning *`;
  return row ?? null;
}

/**
 * Locks the rollout row for this transaction and says whether it is still running at the step it
 * was judged at. A decision commits only then: an evaluation that read the rollout before another
 * one moved it on (a duplicate job, a second worker, a person) must not record a verdict about a
 * step that is over. The lock orders such writers; the loser's next run judges afresh. (The API
 * reads timestamps to the millisecond, so the stored one is compared truncated to match.)
 */
export async function stillJudgedAs(sql: Sql, tenantId: string, id: string, stepIndex: number, stepStartedAt: string | null): Promise<boolean> {
  const [row] = await sql<{ ok: boolean }[]>`
    select status = 'running' and step_index = ${stepIndex}
           and date_trunc('milliseconds', step_started_at) is not distinct from ${stepStartedAt}::timestamptz as ok
      from rollouts where id = ${id} and tenant_id = ${tenantId} for update`;
  return row?.ok ?? false;
}

/** Moves a running (or paused, for a person) rollout from step `from` to `to`, from `at`. */
export async function advanceRollout(sql: Sql, tenantId: string, id: string, from: number, to: { index: number; weight: number }, at: Date): Promise<Rollout | null> {
  const [row] = await sql<Rollout[]>`
    update rollouts set step_index = ${to.index}, weight = ${to.weight}, step_started_at = ${at.toISOString()}::timestamptz, updated_at = now()
     where id = ${id} and tenant_id = ${tenantId} and status in ('running', 'paused') and step_index = ${from}
     returning *`;
  return row ?? null;
}

export interface PointInput {
  ts: Date;
  track: Track;
  requests: number;
  errors: number;
  latencyCounts: number[] | null;
}

/**
 * Stores points; a point already stored (same rollout, track and timestamp) is a duplicate and
 * changes nothing. Returns how many were new.
 */
export async function insertPoints(sql: Sql, rolloutId: string, points: PointInput[]): Promise<number> {
  if (points.length === 0) return 0;
  // One jsonb parameter for the whole batch (the latency counts are arrays of their own).
  const batch = points.map((p) => ({ track: p.track, ts: p.ts.toISOString(), requests: p.requests, errors: p.errors, latency: p.latencyCounts }));
  const rows = await sql`
    insert into rollout_points (rollout_id, track, ts, requests, errors, latency_counts)
    select ${rolloutId}, p.track, p.ts, p.requests, p.errors,
           case when p.latency is null or jsonb_typeof(p.latency) = 'null' then null
                else (select array_agg(x::bigint order by o) from jsonb_array_elements_text(p.latency) with ordinality as e(x, o)) end
      from jsonb_to_recordset(${JSON.stringify(batch)}::jsonb) as p(track text, ts timestamptz, requests bigint, errors bigint, latency jsonb)
    on conflict do nothing
    returning 1`;
  return rows.length;
}

/** Fixes the rollout's latency bucket boundaries on first use; false when they differ from those fixed. */
export async function claimLatencyBoundaries(sql: Sql, rolloutId: string, boundaries: number[]): Promise<boolean> {
  const [row] = await sql<{ boundaries: number[] }[]>`
    update rollouts set latency_boundaries = coalesce(latency_boundaries, ${`{${boundaries.join(',')}}`}::float8[])
     where id = ${rolloutId} returning latency_boundaries as boundaries`;
  const fixed = row?.boundaries ?? [];
  return fixed.length === boundaries.length && fixed.every((b, i) => Number(b) === boundaries[i]);
}

/** 10 s buckets where the window and interval are whole multiples of them, else 1 s. */
export const bucketMsFor = (windowMs: number, intervalMs: number) => (windowMs % 10_000 === 0 && intervalMs % 10_000 === 0 ? 10_000 : 1000);

/**
 * The rollout's telemetry up to `at`, in fine buckets per track (bucketMsFor): counts since the
 * start (for the sequential error test), and latency histograms for the buckets inside the window.
 */
export async function loadBuckets(sql: Sql, rollout: Rollout, at: Date, windowMs: number, intervalMs: number, opts: { latencyForAll?: boolean } = {}): Promise<Bucket[]> {
  const BUCKET_MS = bucketMsFor(windowMs, intervalMs);
  const rows = await sql<{ start: string; track: Track; requests: string; errors: string }[]>`
    select date_bin(${`${BUCKET_MS / 1000} seconds`}::interval, ts, timestamptz '2000-01-01') as start, track, sum(requests)::text as requests, sum(errors)::text as errors
      from rollout_points where rollout_id = ${rollout.id} and ts < ${at.toISOString()}::timestamptz
     group by 1, 2 order by 1`;
  // A backtest judges every window, so it needs every bucket's histogram.
  const windowStart = opts.latencyForAll ? new Date(0) : new Date(at.getTime() - windowMs);
  const latency = new Map<string, Histogram>();
  if (rollout.latencyBoundaries) {
    const boundaries = rollout.latencyBoundaries.map(Number);
    const pts = await sql<{ ts: string; track: Track; latencyCounts: string[] }[]>`
      select ts, track, latency_counts from rollout_points
       where rollout_id = ${rollout.id} and ts >= ${windowStart.toISOString()}::timestamptz and ts < ${at.toISOString()}::timestamptz and latency_counts is not null`;
    for (const p of pts) {
      const key = `${Math.floor(Date.parse(p.ts) / BUCKET_MS) * BUCKET_MS}:${p.track}`;
      const counts = p.latencyCounts.map(Number);
      const h = latency.get(key);
      if (h) counts.forEach((c, i) => (h.counts[i] = (h.counts[i] ?? 0) + c));
      else latency.set(key, { boundaries, counts });
    }
  }
  return rows.map((r) => {
    const start = Date.parse(r.start);
    return { start, track: r.track, requests: Number(r.requests), errors: Number(r.errors), latency: latency.get(`${start}:${r.track}`) ?? null };
  });
}

export interface Decision {
  id: string;
  rolloutId: string;
  tenantId: string;
  policyId: string;
  windowStart: string;
  windowEnd: string;
  stepIndex: number;
  verdict: 'promote' | 'wait' | 'pause' | 'rollback';
  sentence: string;
  explanation: unknown;
  shadow: boolean;
  createdAt: string;
}

/** One decision per rollout, policy and window: null when that window already has one. */
export async function insertDecision(
  sql: Sql,
  d: Omit<Decision, 'id' | 'createdAt'>,
): Promise<Decision | null> {
  const [row] = await sql<Decision[]>`
    insert into rollout_decisions (rollout_id, tenant_id, policy_id, window_start, window_end, step_index, verdict, sentence, explanation, shadow)
    values (${d.rolloutId}, ${d.tenantId}, ${d.policyId}, ${d.windowStart}, ${d.windowEnd}, ${d.stepIndex}, ${d.verdict}, ${d.sentence},
            ${JSON.stringify(d.explanation)}::jsonb, ${d.shadow})
    on conflict (rollout_id, policy_id, window_end) do nothing
    returning id::text, rollout_id, tenant_id, policy_id, window_start, window_end, step_index, verdict, sentence, explanation, shadow, created_at`;
  return row ?? null;
}

export async function findDecision(sql: Sql, rolloutId: string, policyId: string, windowEnd: Date): Promise<Decision | null> {
  const [row] = await sql<Decision[]>`
    select id::text, rollout_id, tenant_id, policy_id, window_start, window_end, step_index, verdict, sentence, explanation, shadow, created_at
      from rollout_decisions where rollout_id = ${rolloutId} and policy_id = ${policyId} and window_end = ${windowEnd.toISOString()}::timestamptz`;
  return row ?? null;
}

/** Newest first, keyset by id. */
export async function listDecisions(sql: Sql, tenantId: string, rolloutId: string, opts: { after?: string; limit: number }): Promise<Decision[]> {
  return sql<Decision[]>`
    select id::text, rollout_id, tenant_id, policy_id, window_start, window_end, step_index, verdict, sentence, explanation, shadow, created_at
      from rollout_decisions where rollout_id = ${rolloutId} and tenant_id = ${tenantId}
       ${opts.after ? sql`and rollout_decisions.id < ${opts.after}::bigint` : sql``}
     order by rollout_decisions.id desc limit ${opts.limit}`;
}

/** The newest decision of the rollout's own policy (shadow decisions excluded). */
export async function latestDecision(sql: Sql, tenantId: string, rolloutId: string): Promise<Decision | null> {
  const [row] = await sql<Decision[]>`
    select d.id::text, d.rollout_id, d.tenant_id, d.policy_id, d.window_start, d.window_end, d.step_index, d.verdict, d.sentence, d.explanation, d.shadow, d.created_at
      from rollout_decisions d join rollouts r on r.id = d.rollout_id and r.policy_id = d.policy_id
     where d.rollout_id = ${rolloutId} and d.tenant_id = ${tenantId} and not d.shadow
     order by d.id desc limit 1`;
  return row ?? null;
}

/** Fixes the Flagger revision a rollout judges on first use; false when another one is already fixed. */
export async function claimFlaggerChecksum(sql: Sql, tenantId: string, rolloutId: string, checksum: string): Promise<boolean> {
  const [row] = await sql<{ checksum: string }[]>`
    update rollouts set flagger_checksum = coalesce(flagger_checksum, ${checksum})
     where id = ${rolloutId} and tenant_id = ${tenantId} returning flagger_checksum as checksum`;
  return row?.checksum === checksum;
}

/** Every decision of the rollout's own policy, oldest first (for a backtest's comparison). */
export async function allDecisions(sql: Sql, tenantId: string, rolloutId: string, policyId: string): Promise<Decision[]> {
  return sql<Decision[]>`
    select id::text, rollout_id, tenant_id, policy_id, window_start, window_end, step_index, verdict, sentence, explanation, shadow, created_at
      from rollout_decisions where rollout_id = ${rolloutId} and tenant_id = ${tenantId} and policy_id = ${policyId}
     order by window_end limit 10000`;
}

/** Live rollouts of a tenant's service (the ones OTLP points can belong to). */
export async function liveRolloutsOfService(sql: Sql, tenantId: string, services: string[]): Promise<Rollout[]> {
  if (services.length === 0) return [];
  return sql<Rollout[]>`
    select * from rollouts where tenant_id = ${tenantId} and service = any(${services}::text[])
       and status in ('pending', 'running', 'paused') order by id`;
}

export interface OtlpSeriesPoint {
  /** sha256 of OtlpPoint.series. */
  series: string;
  point: OtlpPoint;
}

/**
 * Counts OTLP points into a rollout's track, in the caller's transaction: the series rows are
 * locked first (created when new), so two deliveries of one export can't both count it; each
 * point adds only what deltaOf says; points at the same instant are summed into one stored point
 * (an export sends every series of a collection with one timestamp). Histograms count only when
 * their boundaries are the rollout's. Returns the points that added something, and those that added
 * nothing (repeats, out of order, a cumulative series' first point from before the rollout).
 */
export async function ingestOtlpSeries(
  tx: Sql, rollout: Rollout, track: Track, items: OtlpSeriesPoint[],
): Promise<{ counted: number; ignored: number }> {
  if (items.length === 0) return { counted: 0, ignored: 0 };
  const hashes = [...new Set(items.map((i) => i.series))];
  await tx`
    insert into rollout_otlp_series (rollout_id, series, track)
    select ${rollout.id}, s, ${track} from unnest(${hashes}::text[]) as s
    on conflict do nothing`;
  const rows = await tx<{ series: string; lastTimeNs: string | null; count: string; bucketCounts: string[] | null }[]>`
    select series, last_time_ns::text as last_time_ns, count::text as count, bucket_counts::text[] as bucket_counts
      from rollout_otlp_series where rollout_id = ${rollout.id} and series = any(${hashes}::text[])
     order by series for update`;
  const state = new Map<string, SeriesState | null>(rows.map((r) => [r.series, r.lastTimeNs === null ? null : {
    lastTimeNs: BigInt(r.lastTimeNs), count: Number(r.count), bucketCounts: r.bucketCounts?.map(Number) ?? null,
  }]));
  const createdNs = BigInt(Date.parse(rollout.createdAt)) * 1_000_000n;
  const boundaries = rollout.latencyBoundaries?.map(Number) ?? null;
  const sums = new Map<string, { requests: number; errors: number; latency: number[] | null }>();
  let counted = 0;
  let ignored = 0;
  for (const { series, point } of [...items].sort((a, b) => (a.point.timeNs < b.point.timeNs ? -1 : a.point.timeNs > b.point.timeNs ? 1 : 0))) {
    const { add, next } = deltaOf(point, state.get(series) ?? null, createdNs);
    state.set(series, next);
    if (!add) {
      ignored++;
      continue;
    }
    counted++;
    if (add.count === 0) continue;
    const us = (point.timeNs / 1000n).toString();
    const sum = sums.get(us) ?? { requests: 0, errors: 0, latency: null };
    sum.requests += add.count;
    if (point.error) sum.errors += add.count;
    const mergeable = add.bucketCounts && boundaries && point.boundariesMs
      && point.boundariesMs.length === boundaries.length && point.boundariesMs.every((b, i) => b === boundaries[i]);
    if (mergeable) sum.latency = add.bucketCounts!.map((c, i) => c + (sum.latency?.[i] ?? 0));
    sums.set(us, sum);
  }
  const updates = [...state].filter((e): e is [string, SeriesState] => e[1] !== null)
    .map(([series, s]) => ({ series, t: s.lastTimeNs.toString(), c: s.count, b: s.bucketCounts }));
  if (updates.length) {
    await tx`
      update rollout_otlp_series s set last_time_ns = x.t::numeric, count = x.c, bucket_counts = (select array_agg(v::bigint) from jsonb_array_elements_text(x.b) as v)
        from jsonb_to_recordset(${JSON.stringify(updates)}::jsonb) as x(series text, t text, c bigint, b jsonb)
       where s.rollout_id = ${rollout.id} and s.series = x.series`;
  }
  const points = [...sums].map(([us, s]) => ({ us, requests: s.requests, errors: s.errors, latency: s.latency }));
  if (points.length) {
    await tx`
      insert into rollout_points as p (rollout_id, track, ts, requests, errors, latency_counts)
      select ${rollout.id}, ${track}, timestamptz 'epoch' + (x.us || ' microseconds')::interval, x.requests, x.errors,
             (select array_agg(v::bigint) from jsonb_array_elements_text(x.latency) as v)
        from jsonb_to_recordset(${JSON.stringify(points)}::jsonb) as x(us text, requests bigint, errors bigint, latency jsonb)
      on conflict (rollout_id, ts, track) do update
        set requests = p.requests + excluded.requests, errors = p.errors + excluded.errors,
            latency_counts = case
              when p.latency_counts is null then excluded.latency_counts
              when excluded.latency_counts is null then p.latency_counts
              else (select array_agg(a + b order by i) from unnest(p.latency_counts, excluded.latency_counts) with ordinality as t(a, b, i))
            end`;
  }
  return { counted, ignored };
}
