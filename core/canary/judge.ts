/**
 * The canary judge: one evaluation of a rollout under its policy, from telemetry aggregated into
 * fine time buckets. Pure and deterministic (no clock, no randomness): the same input gives the
 * same decision, which is what makes decisions replayable and backtests exact.
 *
 * The statistics (../shared/reference/canary.md §4):
 *   - Error rate, relative bound (canary ≤ baseline × (1 + max_increase) + slack): condition on
 *     the errors in each bucket. Under H0 (rate ratio ρ ≤ ρ₀ = 1 + max_increase) each error is the
 *     canary's with probability p₀ = ρ₀s / (ρ₀s + 1 − s), s the canary's share of the bucket's
 *     requests. The likelihood ratio of ρ > ρ₀ against ρ₀, mixed over a fixed grid of ρ, is a
 *     nonnegative supermartingale under H0 however traffic shifts between buckets, so by Ville's
 *     inequality it exceeds 1/α with probability at most α ever: the test stays honest when it
 *     is checked every interval for hours (anytime-valid; Lindon & Malek 2022 use the same
 *     conditioning). It accumulates over the whole rollout, counted in error events, not minutes;
 *     an early spike that heals is outweighed by the evidence after it. A breach also needs the
 *     observed rates to differ by more than the policy's slack (a gate that can only remove
 *     rollbacks, so α still holds).
 *   - Error rate, absolute bound (max: 1%): the same mixture on the canary's own requests.
 *   - Latency quantiles: from the merged explicit-bucket histograms of the window, never from
 *     averages. A breach is tested as "more than 1 − q of the canary's requests are slower than
 *     the bound" with the same kind of mixture (per evaluation; see the README for what that does
 *     and doesn't guarantee across evaluations).
 *   - Several metrics share α: each test runs at α / m (Bonferroni).
 *   - Promotion needs evidence: the step's minimum time, `min_requests` on each track in the
 *     window, and for each error metric the canary's upper confidence bound (Wilson, since the
 *     step began) under the allowed rate: a canary with 0 errors in 300 requests is not proven
 *     better than 0.1%, whatever a point estimate says. No data, or too little, never promotes.
 */
import type { MetricSpec, Policy } from './policy.ts';

export type Track = 'baseline' | 'canary';

export interface Histogram {
  /** Upper bounds of the buckets, ms; counts has one more entry (the bucket above the last bound). */
  boundaries: number[];
  counts: number[];
}

/** Telemetry summed over one fine time bucket and track. */
export interface Bucket {
  start: number; // epoch ms
  track: Track;
  requests: number;
  errors: number;
  latency: Histogram | null;
}

export interface JudgeInput {
  policy: Policy;
  /** The end of the window being judged (epoch ms, aligned to the interval). */
  at: number;
  stepIndex: number;
  stepStartedAt: number;
  /** Every bucket of the rollout from its start up to `at`. */
  buckets: Bucket[];
}

export type Verdict = 'promote' | 'wait' | 'pause' | 'rollback';

export interface TrackFigures {
  requests: number;
  errors: number;
  error_rate: number | null;
  quantile_ms?: number | null;
  latency_samples?: number;
}

export interface MetricExplanation {
  name: string;
  kind: MetricSpec['kind'];
  bound: string;
  window: { baseline: TrackFigures; canary: TrackFigures };
  /** Since the rollout (error tests) or the step (promotion bounds) began. */
  cumulative?: { baseline: TrackFigures; canary: TrackFigures };
  test?: { statistic: string; value: number; threshold: number; alpha: number };
  upper_bound?: { value: number; allowed: number; confidence: number };
  outcome: 'ok' | 'breach' | 'insufficient' | 'no_data';
  note: string;
}

export interface Judgement {
  verdict: Verdict;
  window: { start: string; end: string };
  step: { index: number; weight: number; held_ms: number; min_duration_ms: number };
  /** After a promote: the step moved to, or null when the rollout is done. */
  next_step: number | null;
  metrics: MetricExplanation[];
  sentence: string;
}

const RATIO_GRID = [1.25, 1.5, 2, 3, 5, 10];

export function judge(input: JudgeInput): Judgement {
  const { policy, at } = input;
  const windowStart = at - policy.windowMs;
  const step = policy.steps[input.stepIndex]!;
  const held = at - input.stepStartedAt;
  // Promoting into the last step (100%) finishes the rollout.
  const nextIndex = input.stepIndex + 1;
  const finalStep = nextIndex >= policy.steps.length || policy.steps[nextIndex]!.weight >= 100;
  const tested = policy.metrics.filter((m) => m.kind !== 'throughput').length;
  const alpha = (1 - policy.confidence) / Math.max(1, tested);

  const inWindow = input.buckets.filter((b) => b.start >= windowStart && b.start < at);
  const inStep = input.buckets.filter((b) => b.start >= input.stepStartedAt && b.start < at);
  const all = input.buckets.filter((b) => b.start < at);
  const win = { baseline: sum(inWindow, 'baseline'), canary: sum(inWindow, 'canary') };
  const stp = { baseline: sum(inStep, 'baseline'), canary: sum(inStep, 'canary') };
  const cum = { baseline: sum(all, 'baseline'), canary: sum(all, 'canary') };

  const explanations = policy.metrics.map((m) => explainMetric(m, { win, stp, cum, all, alpha, policy, windowSeconds: policy.windowMs / 1000 }));

  const noData = win.baseline.requests === 0 || win.canary.requests === 0;
  const breach = (action: 'rollback' | 'pause') => explanations.filter((e, i) => e.outcome === 'breach' && policy.metrics[i]!.onBreach === action);
  let verdict: Verdict;
  let sentence: string;
  const rollbacks = breach('rollback');
  const pauses = breach('pause');
  if (rollbacks.length > 0) {
    verdict = 'rollback';
    sentence = `rolled back: ${rollbacks.map((e) => e.note).join('; ')}`;
  } else if (pauses.length > 0) {
    verdict = 'pause';
    sentence = `paused: ${pauses.map((e) => e.note).join('; ')}`;
  } else if (noData && held < policy.windowMs) {
    // Telemetry may lag a step's start: no data counts only once a whole window has passed.
    verdict = 'wait';
    sentence = `waiting: ${win.canary.requests === 0 ? 'no canary' : 'no baseline'} traffic yet, ${fmtDuration(held)} into the step (no data pauses after ${fmtDuration(policy.windowMs)})`;
  } else if (noData) {
    verdict = policy.onNoData;
    const which = win.canary.requests === 0 && win.baseline.requests === 0 ? 'no traffic on either track' : win.canary.requests === 0 ? 'no canary traffic' : 'no baseline traffic';
    sentence = `${verdict === 'pause' ? 'paused' : 'waiting'}: ${which} in the last ${fmtDuration(policy.windowMs)}; no data is never a reason to promote`;
  } else {
    const missing: string[] = [];
    if (held < step.minDurationMs) missing.push(`step ${input.stepIndex + 1} (${step.weight}%) has held ${fmtDuration(held)} of its ${fmtDuration(step.minDurationMs)}`);
    for (const t of ['canary', 'baseline'] as const) {
      if (win[t].requests < policy.minRequests) missing.push(`${fmtInt(win[t].requests)} of the ${fmtInt(policy.minRequests)} ${t} requests needed in the window`);
    }
    const events = win.baseline.errors + win.canary.errors;
    if (events < policy.minEvents) missing.push(`${fmtInt(events)} of the ${fmtInt(policy.minEvents)} error events needed in the window`);
    for (const e of explanations) if (e.outcome !== 'ok') missing.push(e.note);
    if (missing.length === 0) {
      verdict = 'promote';
      sentence = `${finalStep ? 'promoted: the canary takes all traffic' : `promoted to step ${nextIndex + 1} (${policy.steps[nextIndex]!.weight}%)`}; ${explanations.map((e) => e.note).join('; ')}`;
    } else {
      verdict = 'wait';
      sentence = `waiting: ${missing.join('; ')}`;
    }
  }
  return {
    verdict,
    window: { start: new Date(windowStart).toISOString(), end: new Date(at).toISOString() },
    step: { index: input.stepIndex, weight: step.weight, held_ms: held, min_duration_ms: step.minDurationMs },
    next_step: verdict === 'promote' && !finalStep ? nextIndex : null,
    metrics: explanations,
    sentence,
  };
}

interface Sums {
  requests: number;
  errors: number;
  latency: Histogram | null;
}

function sum(buckets: Bucket[], track: Track): Sums {
  const out: Sums = { requests: 0, errors: 0, latency: null };
  for (const b of buckets) {
    if (b.track !== track) continue;
    out.requests += b.requests;
    out.errors += b.errors;
    if (b.latency) out.latency = out.latency ? mergeHistograms(out.latency, b.latency) : { boundaries: b.latency.boundaries, counts: [...b.latency.counts] };
  }
  return out;
}

export function mergeHistograms(a: Histogram, b: Histogram): Histogram {
  if (a.boundaries.length !== b.boundaries.length || a.boundaries.some((x, i) => x !== b.boundaries[i])) {
    throw new Error('histograms with different boundaries cannot be merged');
  }
  return { boundaries: a.boundaries, counts: a.counts.map((c, i) => c + (b.counts[i] ?? 0)) };
}

/** The q-quantile of a histogram, interpolated within its bucket; null when empty, Infinity above the last bound. */
export function histogramQuantile(h: Histogram, q: number): number | null {
  const total = h.counts.reduce((a, c) => a + c, 0);
  if (total === 0) return null;
  const rank = q * total;
  let seen = 0;
  for (let i = 0; i < h.counts.length; i++) {
    const c = h.counts[i]!;
    if (seen + c >= rank && c > 0) {
      if (i >= h.boundaries.length) return Infinity;
      const lo = i === 0 ? 0 : h.boundaries[i - 1]!;
      const hi = h.boundaries[i]!;
      return lo + (hi - lo) * ((rank - seen) / c);
    }
    seen += c;
  }
  return Infinity;
}

/** Requests slower than `ms`, counted conservatively (buckets wholly above the first bound ≥ ms). */
function slowerThan(h: Histogram, ms: number): { slow: number; total: number; bound: number } {
  const total = h.counts.reduce((a, c) => a + c, 0);
  const i = h.boundaries.findIndex((b) => b >= ms);
  if (i < 0) return { slow: h.counts.at(-1) ?? 0, total, bound: h.boundaries.at(-1) ?? 0 };
  return { slow: h.counts.slice(i + 1).reduce((a, c) => a + c, 0), total, bound: h.boundaries[i]! };
}

/** Mixture likelihood ratio for "p > p₀" on k successes in n Bernoulli trials. */
export function binomialEValue(k: number, n: number, p0: number): number {
  if (n === 0 || p0 <= 0 || p0 >= 1) return 1;
  let e = 0;
  for (const r of RATIO_GRID) {
    const p = Math.min(0.999_999, p0 * r);
    if (p <= p0) continue;
    e += Math.exp(k * Math.log(p / p0) + (n - k) * Math.log((1 - p) / (1 - p0)));
  }
  return e / RATIO_GRID.length;
}

/**
 * Mixture likelihood ratio for "the canary's error rate is more than ρ₀ times the baseline's",
 * conditioning each bucket on its errors (a bucket where one track had no requests says nothing).
 */
export function rateRatioEValue(buckets: Bucket[], rho0: number): number {
  const byStart = new Map<number, { rc: number; rb: number; kc: number; kb: number }>();
  for (const b of buckets) {
    const x = byStart.get(b.start) ?? { rc: 0, rb: 0, kc: 0, kb: 0 };
    if (b.track === 'canary') {
      x.rc += b.requests;
      x.kc += b.errors;
    } else {
      x.rb += b.requests;
      x.kb += b.errors;
    }
    byStart.set(b.start, x);
  }
  const logs = RATIO_GRID.map(() => 0);
  for (const x of byStart.values()) {
    if (x.rc === 0 || x.rb === 0 || x.kc + x.kb === 0) continue;
    const s = x.rc / (x.rc + x.rb);
    const p0 = (rho0 * s) / (rho0 * s + 1 - s);
    RATIO_GRID.forEach((r, i) => {
      const rho = rho0 * r;
      const p = (rho * s) / (rho * s + 1 - s);
      logs[i]! += x.kc * Math.log(p / p0) + x.kb * Math.log((1 - p) / (1 - p0));
    });
  }
  return logs.reduce((a, l) => a + Math.exp(l), 0) / RATIO_GRID.length;
}

/** Wilson score upper bound of a proportion (one-sided, at `confidence`). */
export function wilsonUpper(k: number, n: number, confidence: number): number {
  if (n === 0) return 1;
  const z = normalQuantile(confidence);
  const p = k / n;
  const z2 = z * z;
  return Math.min(1, (p + z2 / (2 * n) + z * Math.sqrt((p * (1 - p)) / n + z2 / (4 * n * n))) / (1 + z2 / n));
}

/** Inverse of the standard normal CDF (Acklam's rational approximation, |error| < 1.2e-9). */
export function normalQuantile(p: number): number {
  const a = [-39.69683028665376, 220.9460984245205, -275.9285104469687, 138.357751867269, -30.66479806614716, 2.506628277459239];
  const b = [-54.47609879822406, 161.5858368580409, -155.6989798598866, 66.80131188771972, -13.28068155288572];
  const c = [-0.007784894002430293, -0.3223964580411365, -2.400758277161838, -2.549732539343734, 4.374664141464968, 2.938163982698783];
  const d = [0.007784695709041462, 0.3224671290700398, 2.445134137142996, 3.754408661907416];
  const lo = 0.02425;
  if (p < lo) {
    const q = Math.sqrt(-2 * Math.log(p));
    return (((((c[0]! * q + c[1]!) * q + c[2]!) * q + c[3]!) * q + c[4]!) * q + c[5]!) / ((((d[0]! * q + d[1]!) * q + d[2]!) * q + d[3]!) * q + 1);
  }
  if (p > 1 - lo) return -normalQuantile(1 - p);
  const q = p - 0.5;
  const r = q * q;
  return ((((((a[0]! * r + a[1]!) * r + a[2]!) * r + a[3]!) * r + a[4]!) * r + a[5]!) * q) / (((((b[0]! * r + b[1]!) * r + b[2]!) * r + b[3]!) * r + b[4]!) * r + 1);
}

interface Ctx {
  win: { baseline: Sums; canary: Sums };
  stp: { baseline: Sums; canary: Sums };
  cum: { baseline: Sums; canary: Sums };
  all: Bucket[];
  alpha: number;
  policy: Policy;
  windowSeconds: number;
}

const rate = (s: Sums) => (s.requests > 0 ? s.errors / s.requests : null);
const figures = (s: Sums, q?: number): TrackFigures => ({
  requests: s.requests, errors: s.errors, error_rate: rate(s),
  ...(q !== undefined ? { quantile_ms: s.latency ? histogramQuantile(s.latency, q) : null, latency_samples: s.latency ? s.latency.counts.reduce((a, c) => a + c, 0) : 0 } : {}),
});

function explainMetric(m: MetricSpec, ctx: Ctx): MetricExplanation {
  const { win, stp, cum, alpha, policy } = ctx;
  const threshold = 1 / alpha;
  const base = { name: m.name, kind: m.kind };
  if (m.kind === 'throughput') {
    const rps = win.canary.requests / ctx.windowSeconds;
    const ok = rps >= m.min!;
    return {
      ...base, bound: `canary ≥ ${m.min} requests/s`, window: { baseline: figures(win.baseline), canary: figures(win.canary) },
      outcome: win.canary.requests === 0 ? 'no_data' : ok ? 'ok' : 'breach',
      note: `canary throughput ${round(rps, 2)} requests/s ${ok ? 'meets' : 'is under'} the ${m.min} requests/s floor`,
    };
  }
  if (m.kind === 'error_rate') {
    const relative = m.maxIncrease !== undefined;
    const bound = relative ? `canary ≤ baseline × ${round(1 + m.maxIncrease!, 4)} + ${pct(m.slack)}` : `canary ≤ ${pct(m.max!)}`;
    const cr = rate(cum.canary);
    const br = rate(cum.baseline);
    const e = relative ? rateRatioEValue(ctx.all, 1 + m.maxIncrease!) : binomialEValue(cum.canary.errors, cum.canary.requests, m.max!);
    const allowedCum = relative ? (br ?? 0) * (1 + m.maxIncrease!) + m.slack : m.max!;
    const significant = e >= threshold && cr !== null && cr > allowedCum;
    const test = { statistic: relative ? 'rate-ratio mixture likelihood ratio (anytime-valid)' : 'binomial mixture likelihood ratio (anytime-valid)', value: round(e, 4), threshold: round(threshold, 2), alpha: round(alpha, 5) };
    const cumulative = { baseline: figures(cum.baseline), canary: figures(cum.canary) };
    const window = { baseline: figures(win.baseline), canary: figures(win.canary) };
    const requests = cum.canary.requests + (relative ? cum.baseline.requests : 0);
    if (significant) {
      return {
        ...base, bound, window, cumulative, test, outcome: 'breach',
        note: relative
          ? `canary error rate ${pct(cr!)} vs baseline ${pct(br ?? 0)} over ${fmtInt(requests)} requests; the increase is significant at ${pct(policy.confidence)}`
          : `canary error rate ${pct(cr!)} is above ${pct(m.max!)} over ${fmtInt(requests)} requests, significant at ${pct(policy.confidence)}`,
      };
    }
    // Promotion: since the step began, the canary's upper bound must be under the allowed rate.
    const allowedStep = relative ? (rate(stp.baseline) ?? 0) * (1 + m.maxIncrease!) + m.slack : m.max!;
    const upper = wilsonUpper(stp.canary.errors, stp.canary.requests, policy.confidence);
    const upper_bound = { value: round(upper, 6), allowed: round(allowedStep, 6), confidence: policy.confidence };
    if (stp.canary.requests === 0 || (relative && stp.baseline.requests === 0)) {
      return { ...base, bound, window, cumulative, test, upper_bound, outcome: 'no_data', note: `no ${stp.canary.requests === 0 ? 'canary' : 'baseline'} requests in this step yet` };
    }
    if (upper > allowedStep) {
      return {
        ...base, bound, window, cumulative, test, upper_bound, outcome: 'insufficient',
        note: `canary error rate ${pct(rate(stp.canary)!)} over ${fmtInt(stp.canary.requests)} requests could still be up to ${pct(upper)}, above the ${pct(allowedStep)} allowed`,
      };
    }
    return {
      ...base, bound, window, cumulative, test, upper_bound, outcome: 'ok',
      note: `canary error rate ${pct(rate(stp.canary)!)} (at most ${pct(upper)}) vs baseline ${pct(rate(stp.baseline) ?? 0)} over ${fmtInt(stp.canary.requests + stp.baseline.requests)} requests`,
    };
  }
  // latency_quantile
  const q = m.q!;
  const label = `p${round(q * 100, 2)}`;
  const bq = win.baseline.latency ? histogramQuantile(win.baseline.latency, q) : null;
  const cq = win.canary.latency ? histogramQuantile(win.canary.latency, q) : null;
  const relative = m.maxIncrease !== undefined;
  const window = { baseline: figures(win.baseline, q), canary: figures(win.canary, q) };
  const boundText = relative ? `canary ${label} ≤ baseline ${label} × ${round(1 + m.maxIncrease!, 4)} + ${m.slack} ms` : `canary ${label} ≤ ${m.max} ms`;
  if (!win.canary.latency || cq === null || (relative && (bq === null || !Number.isFinite(bq)))) {
    return { ...base, bound: boundText, window, outcome: 'no_data', note: `no ${cq === null ? 'canary' : 'baseline'} latency in the window` };
  }
  const limit = relative ? bq! * (1 + m.maxIncrease!) + m.slack : m.max!;
  const { slow, total, bound } = slowerThan(win.canary.latency, limit);
  const e = binomialEValue(slow, total, 1 - q);
  const test = { statistic: `share of canary requests slower than ${round(bound, 2)} ms (binomial mixture)`, value: round(e, 4), threshold: round(1 / alpha, 2), alpha: round(alpha, 5) };
  const shown = (x: number) => (Number.isFinite(x) ? `${round(x, 1)} ms` : `over ${win.canary.latency!.boundaries.at(-1)} ms`);
  if (e >= 1 / alpha && cq > limit) {
    return {
      ...base, bound: boundText, window, test, outcome: 'breach',
      note: `canary ${label} ${shown(cq)} is above the ${round(limit, 1)} ms bound over ${fmtInt(total)} requests${relative ? ` (baseline ${shown(bq!)})` : ''}, significant at ${pct(policy.confidence)}`,
    };
  }
  if (total < policy.minRequests || cq > limit) {
    return {
      ...base, bound: boundText, window, test, outcome: 'insufficient',
      note: cq > limit ? `canary ${label} ${shown(cq)} is above the ${round(limit, 1)} ms bound, not yet significantly` : `${fmtInt(total)} canary latency samples, ${fmtInt(policy.minRequests)} needed`,
    };
  }
  return { ...base, bound: boundText, window, test, outcome: 'ok', note: `canary ${label} ${shown(cq)} within the ${round(limit, 1)} ms bound` };
}

const round = (x: number, d: number) => Math.round(x * 10 ** d) / 10 ** d;
const pct = (x: number) => `${round(x * 100, x < 0.001 ? 3 : x < 0.1 ? 2 : 1)}%`;
const fmtInt = (n: number) => n.toLocaleString('en-US');
function fmtDuration(ms: number): string {
  if (ms % 3_600_000 === 0 && ms > 0) return `${ms / 3_600_000}h`;
  if (ms >= 60_000) return `${round(ms / 60_000, 1)}m`;
  return `${round(ms / 1000, 1)}s`;
}

export interface ReplayedDecision {
  window_end: string;
  step_index: number;
  verdict: Verdict;
  sentence: string;
}

/**
 * What a policy would have decided over stored telemetry: judged at every interval boundary from
 * `startedAt` to `until`, moving through the steps on each promote, and stopping where a real
 * rollout would have stopped (a rollback, the last promote, or a pause, which needs a person).
 * Deterministic: the same buckets and policy give the same timeline.
 */
export function replay(policy: Policy, buckets: Bucket[], startedAt: number, until: number): ReplayedDecision[] {
  const out: ReplayedDecision[] = [];
  let step = 0;
  let stepStartedAt = startedAt;
  for (let at = Math.floor(startedAt / policy.intervalMs) * policy.intervalMs + policy.intervalMs; at <= until; at += policy.intervalMs) {
    const j = judge({ policy, at, stepIndex: step, stepStartedAt, buckets });
    out.push({ window_end: j.window.end, step_index: step, verdict: j.verdict, sentence: j.sentence });
    if (j.verdict === 'rollback' || j.verdict === 'pause' || (j.verdict === 'promote' && j.next_step === null)) break;
    if (j.verdict === 'promote') {
      step = j.next_step!;
      stepStartedAt = at;
    }
    if (out.length >= 10_000) break;
  }
  return out;
}
