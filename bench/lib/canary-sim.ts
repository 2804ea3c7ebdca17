/**
 * Judge quality on simulated rollouts: the same seeded traffic judged by Switchyard's engine
 * (core/canary/judge.ts), by the rule of the system it replaces, and by a Kayenta-style judge.
 *
 * Traffic: 10 s buckets for an hour. Each track's requests are Poisson, split into latency buckets
 * by a log-normal (median 50 ms, σ 0.5; Poisson splitting keeps the buckets independent), with
 * binomial errors. A rollout is one canary step held for an hour, judged every 30 s; it ends at
 * the first rollback (or pause), and otherwise promotes when the hour is up.
 *
 * - **Switchyard**: the policy below, as written.
 * - **The seed's rule**: tumbling 30 s windows, averages, fixed thresholds (canary error rate over
 *   2%, mean latency over 75 ms: twice the simulated baseline's 1% and half again its ~57 ms mean),
 *   promote otherwise. It has no baseline: it can't tell a regression from a bad hour.
 * - **Kayenta-style** (NetflixACAJudge as spinnaker/kayenta implements it): per-minute points of the
 *   growing window, Mann-Whitney U at confidence 0.98 per metric (error rate, mean latency), High when
 *   the canary is significantly higher and its mean ratio ≥ 1; a minute with no requests is
 *   removed (NaN `remove`), either side empty is Nodata, identical or single-valued data is Pass;
 *   score = 100·Pass/classified, forced to 0 when half the metrics are Nodata; an interim score ≤ 50
 *   ends the run (a rollback), and the last judgement must reach 75 to promote. No correction for
 *   looking every interval.
 */
import { judge, type Bucket, type Histogram } from '../../core/canary/judge.ts';
import { parsePolicy, type Policy } from '../../core/canary/policy.ts';

export const POLICY_YAML = `
interval: 30s
window: 5m
confidence: 0.95
min_requests: 50
on_no_data: wait
steps:
  - {weight: 10, min_duration: 1h}
  - {weight: 100}
metrics:
  - {name: errors, kind: error_rate, max_increase: 10%, slack: 0.1%, on_breach: rollback}
  - {name: p95, kind: latency_quantile, q: 0.95, max_increase: 10%, on_breach: rollback}
`;

const parsed = parsePolicy(POLICY_YAML);
if (!parsed.ok) throw new Error(`bench policy: ${JSON.stringify(parsed.errors)}`);
export const POLICY: Policy = parsed.policy;

const BOUNDS = [10, 20, 30, 40, 50, 60, 75, 90, 110, 130, 160, 200, 250, 300, 400, 500, 750, 1000, 2000];
const BUCKET_MS = 10_000;
const INTERVAL_MS = 30_000;
const HOUR_MS = 3_600_000;
const MEDIAN_MS = 50;
const SIGMA = 0.5;
const BASE_ERROR_RATE = 0.01;

export interface Scenario {
  /** Requests per second across both tracks. */
  rps: number;
  /** The canary's share of them. */
  share: number;
  /** Canary error rate as a multiple of the baseline's 1%. */
  errorFactor: number;
  /** Canary latency as a multiple of the baseline's (every quantile moves with it). */
  latencyFactor: number;
}

export interface Outcome {
  verdict: 'promote' | 'rollback' | 'pause' | 'none';
  /** Simulated seconds from the start to the verdict. */
  atS: number;
  /** A promotion whose last window held fewer than 50 canary requests. */
  thinPromotion: boolean;
}

/** mulberry32: the same simulation every run. */
function rng(seed: number) {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}
const gauss = (r: () => number) => Math.sqrt(-2 * Math.log(r() || 1e-12)) * Math.cos(2 * Math.PI * r());
function poisson(r: () => number, lambda: number): number {
  if (lambda <= 0) return 0;
  if (lambda > 40) return Math.max(0, Math.round(lambda + Math.sqrt(lambda) * gauss(r)));
  const l = Math.exp(-lambda);
  let k = 0;
  let p = 1;
  do {
    k++;
    p *= r();
  } while (p > l);
  return k - 1;
}
function binomial(r: () => number, n: number, p: number): number {
  if (n * p > 30 && n * (1 - p) > 30) return Math.max(0, Math.min(n, Math.round(n * p + Math.sqrt(n * p * (1 - p)) * gauss(r))));
  let k = 0;
  for (let i = 0; i < n; i++) if (r() < p) k++;
  return k;
}
/** Standard normal CDF (Abramowitz–Stegun 7.1.26). */
function phi(z: number): number {
  const t = 1 / (1 + 0.3275911 * Math.abs(z) / Math.SQRT2);
  const y = 1 - (((((1.061405429 * t - 1.453152027) * t) + 1.421413741) * t - 0.284496736) * t + 0.254829592) * t * Math.exp(-(z * z) / 2);
  return z >= 0 ? (1 + y) / 2 : (1 - y) / 2;
}
/** Bucket probabilities of a log-normal latency scaled by `factor`. */
function bucketShares(factor: number): number[] {
  const cdf = BOUNDS.map((b) => phi(Math.log(b / (MEDIAN_MS * factor)) / SIGMA));
  return cdf.map((c, i) => c - (i ? cdf[i - 1]! : 0)).concat(1 - cdf.at(-1)!);
}
/** Bucket midpoints, for the mean latency the averaging judges use. */
const MIDS = BOUNDS.map((b, i) => (b + (i ? BOUNDS[i - 1]! : 0)) / 2).concat(3000);

/** An hour of 10 s buckets for both tracks. */
export function simulate(seed: number, s: Scenario): Bucket[] {
  const r = rng(seed);
  const out: Bucket[] = [];
  const tracks = [
    { track: 'baseline' as const, rate: s.rps * (1 - s.share), errorRate: BASE_ERROR_RATE, shares: bucketShares(1) },
    { track: 'canary' as const, rate: s.rps * s.share, errorRate: Math.min(1, BASE_ERROR_RATE * s.errorFactor), shares: bucketShares(s.latencyFactor) },
  ];
  for (let start = 0; start < HOUR_MS; start += BUCKET_MS) {
    for (const t of tracks) {
      const counts = t.shares.map((p) => poisson(r, t.rate * (BUCKET_MS / 1000) * p));
      const requests = counts.reduce((a, b) => a + b, 0);
      out.push({ start, track: t.track, requests, errors: binomial(r, requests, t.errorRate), latency: { boundaries: BOUNDS, counts } });
    }
  }
  return out;
}

const canaryIn = (buckets: Bucket[], from: number, to: number) =>
  buckets.filter((b) => b.track === 'canary' && b.start >= from && b.start < to).reduce((a, b) => a + b.requests, 0);

export function judgeSwitchyard(buckets: Bucket[]): Outcome {
  for (let at = INTERVAL_MS; at <= HOUR_MS; at += INTERVAL_MS) {
    const upTo = buckets.filter((b) => b.start < at);
    const v = judge({ policy: POLICY, at, stepIndex: 0, stepStartedAt: 0, buckets: upTo }).verdict;
    if (v === 'rollback' || v === 'pause') return { verdict: v, atS: at / 1000, thinPromotion: false };
    if (v === 'promote') return { verdict: 'promote', atS: at / 1000, thinPromotion: canaryIn(buckets, at - POLICY.windowMs, at) < 50 };
  }
  return { verdict: 'none', atS: HOUR_MS / 1000, thinPromotion: false };
}

const meanLatency = (h: Histogram[]) => {
  let n = 0;
  let sum = 0;
  for (const x of h) x.counts.forEach((c, i) => ((n += c), (sum += c * MIDS[i]!)));
  return n ? sum / n : null;
};

/**
 * `k` scales the rule's margins over the simulated baseline (k = 1 is the seed's own 2% and 75 ms;
 * larger k is laxer), for the matched-false-alarm comparison in the bench.
 */
export function judgeSeedRule(buckets: Bucket[], k = 1): Outcome {
  const maxErrorRate = BASE_ERROR_RATE * (1 + k);
  const maxMean = 57 * (1 + (18 / 57) * k);
  for (let at = INTERVAL_MS; at <= HOUR_MS; at += INTERVAL_MS) {
    const w = buckets.filter((b) => b.track === 'canary' && b.start >= at - INTERVAL_MS && b.start < at);
    const requests = w.reduce((a, b) => a + b.requests, 0);
    const errors = w.reduce((a, b) => a + b.errors, 0);
    const mean = meanLatency(w.map((b) => b.latency!));
    if ((requests && errors / requests > maxErrorRate) || (mean !== null && mean > maxMean)) return { verdict: 'rollback', atS: at / 1000, thinPromotion: false };
  }
  // Nothing breached (an empty window breaches nothing): promote.
  return { verdict: 'promote', atS: HOUR_MS / 1000, thinPromotion: canaryIn(buckets, HOUR_MS - INTERVAL_MS, HOUR_MS) < 50 };
}

/** Mann-Whitney U: one-sided p-value that `x` tends to be larger than `y` (normal approximation, tie-corrected). */
function mannWhitneyGreater(x: number[], y: number[]): number {
  const all = [...x.map((v) => ({ v, g: 0 })), ...y.map((v) => ({ v, g: 1 }))].sort((a, b) => a.v - b.v);
  const ranks = new Array<number>(all.length);
  let tie = 0;
  for (let i = 0; i < all.length;) {
    let j = i;
    while (j + 1 < all.length && all[j + 1]!.v === all[i]!.v) j++;
    for (let k = i; k <= j; k++) ranks[k] = (i + j) / 2 + 1;
    const t = j - i + 1;
    tie += t * t * t - t;
    i = j + 1;
  }
  const n1 = x.length;
  const n2 = y.length;
  const r1 = all.reduce((a, e, i) => a + (e.g === 0 ? ranks[i]! : 0), 0);
  const u = r1 - (n1 * (n1 + 1)) / 2;
  const n = n1 + n2;
  const variance = (n1 * n2 / 12) * ((n + 1) - tie / (n * (n - 1)));
  if (variance <= 0) return 1;
  return 1 - phi((u - n1 * n2 / 2 - 0.5) / Math.sqrt(variance));
}

type Classified = 'pass' | 'high' | 'nodata';
function classify(canary: number[], baseline: number[], confidence: number): Classified {
  if (canary.length === 0 || baseline.length === 0) return 'nodata';
  const sortedC = [...canary].sort((a, b) => a - b);
  const sortedB = [...baseline].sort((a, b) => a - b);
  if (sortedC.length === sortedB.length && sortedC.every((v, i) => v === sortedB[i])) return 'pass';
  if (new Set([...canary, ...baseline]).size === 1) return 'pass';
  const meanC = canary.reduce((a, b) => a + b, 0) / canary.length;
  const meanB = baseline.reduce((a, b) => a + b, 0) / baseline.length;
  const ratio = meanB === 0 ? NaN : meanC / meanB;
  // confLevel (0.98 by default): half of 1 − confLevel in each tail; the effect check is skipped when the ratio is NaN.
  const high = mannWhitneyGreater(canary, baseline) < (1 - confidence) / 2 && (Number.isNaN(ratio) || ratio >= 1);
  return high ? 'high' : 'pass';
}

/** Per-minute points of a track over [0, at): error rate and mean latency, minutes without requests removed. */
function minutePoints(buckets: Bucket[], track: 'baseline' | 'canary', at: number) {
  const errors: number[] = [];
  const latency: number[] = [];
  for (let m = 0; m + 60_000 <= at; m += 60_000) {
    const w = buckets.filter((b) => b.track === track && b.start >= m && b.start < m + 60_000);
    const requests = w.reduce((a, b) => a + b.requests, 0);
    if (!requests) continue;
    errors.push(w.reduce((a, b) => a + b.errors, 0) / requests);
    latency.push(meanLatency(w.map((b) => b.latency!))!);
  }
  return { errors, latency };
}

/** `confidence` is Kayenta's confLevel (0.98 by default); higher is stricter, for the matched-false-alarm comparison. */
export function judgeKayentaStyle(buckets: Bucket[], confidence = 0.98): Outcome {
  const score = (at: number) => {
    const c = minutePoints(buckets, 'canary', at);
    const b = minutePoints(buckets, 'baseline', at);
    const classes = [classify(c.errors, b.errors, confidence), classify(c.latency, b.latency, confidence)];
    const nodata = classes.filter((x) => x === 'nodata').length;
    if (nodata * 2 >= classes.length) return 0;
    const judged = classes.filter((x) => x !== 'nodata');
    return (100 * judged.filter((x) => x === 'pass').length) / judged.length;
  };
  // Interim judgements every interval once a minute of points exists.
  for (let at = 60_000; at < HOUR_MS; at += INTERVAL_MS) {
    if (score(at) <= 50) return { verdict: 'rollback', atS: at / 1000, thinPromotion: false };
  }
  const last = score(HOUR_MS);
  return last >= 75
    ? { verdict: 'promote', atS: HOUR_MS / 1000, thinPromotion: canaryIn(buckets, HOUR_MS - 60_000, HOUR_MS) < 50 }
    : { verdict: 'rollback', atS: HOUR_MS / 1000, thinPromotion: false };
}

export const JUDGES = {
  switchyard: (b: Bucket[]) => judgeSwitchyard(b),
  seed_rule: (b: Bucket[]) => judgeSeedRule(b),
  kayenta_style: (b: Bucket[]) => judgeKayentaStyle(b),
} as const;

/**
 * The baselines with their one knob turned, per traffic cell, to the laxest setting whose A/A
 * false rollbacks stay ≤ α (knowing the traffic in advance, which is generous to them): the
 * comparison of detection delay at a matched false-alarm rate, as detectors are compared.
 */
export const TUNABLE = {
  seed_rule: { knob: 'k (error margin 1%·k, mean-latency margin 18 ms·k)', values: [1, 1.5, 2, 3, 4, 6, 9, 14, 20, 30, 50, 100], judge: judgeSeedRule },
  kayenta_style: { knob: 'confLevel', values: [0.98, 0.99, 0.995, 0.998, 0.999, 0.9995, 0.9999, 0.99999], judge: judgeKayentaStyle },
} as const;
