import { describe, expect, it } from 'vitest';
import { judge, histogramQuantile, wilsonUpper, type Bucket } from './judge.ts';
import { parsePolicy, type Policy } from './policy.ts';

const policyOf = (yaml: string): Policy => {
  const r = parsePolicy(yaml);
  if (!r.ok) throw new Error(JSON.stringify(r.errors));
  return r.policy;
};

const POLICY = policyOf(`
interval: 30s
window: 5m
confidence: 0.95
min_requests: 500
on_no_data: pause
steps:
  - {weight: 10, min_duration: 2m}
  - {weight: 50, min_duration: 5m}
  - {weight: 100}
metrics:
  - {name: errors, kind: error_rate, max_increase: 10%, slack: 0.1%, on_breach: rollback}
  - {name: p95, kind: latency_quantile, q: 0.95, max: 500ms, on_breach: pause}
`);

const BOUNDS = [50, 100, 200, 300, 500, 750, 1000, 2000];

/** A seeded generator (mulberry32): the same simulation every run. */
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
function binomial(r: () => number, n: number, p: number): number {
  if (n * p > 30) return Math.max(0, Math.min(n, Math.round(n * p + Math.sqrt(n * p * (1 - p)) * gauss(r))));
  let k = 0;
  for (let i = 0; i < n; i++) if (r() < p) k++;
  return k;
}
function gauss(r: () => number) {
  return Math.sqrt(-2 * Math.log(r() || 1e-12)) * Math.cos(2 * Math.PI * r());
}
/** Latencies around `median` ms (log-normal), as an explicit-bucket histogram. */
function latencies(r: () => number, n: number, median: number) {
  const counts = BOUNDS.map(() => 0).concat(0);
  for (let i = 0; i < Math.min(n, 400); i++) {
    const x = median * Math.exp(0.5 * gauss(r));
    const idx = BOUNDS.findIndex((b) => x <= b);
    counts[idx < 0 ? BOUNDS.length : idx]! += Math.round(n / Math.min(n, 400));
  }
  return { boundaries: BOUNDS, counts };
}

interface Sim { rps: number; share: number; baseRate: number; canaryRate: number; canaryRateAfter?: { atS: number; rate: number }; median?: number }
/** 10 s buckets for `seconds` of simulated traffic. */
function traffic(seed: number, sim: Sim, seconds: number, t0 = 0): Bucket[] {
  const r = rng(seed);
  const out: Bucket[] = [];
  for (let s = 0; s < seconds; s += 10) {
    const n = sim.rps * 10;
    const nc = Math.round(n * sim.share);
    const nb = n - nc;
    const cRate = sim.canaryRateAfter && s >= sim.canaryRateAfter.atS ? sim.canaryRateAfter.rate : sim.canaryRate;
    const start = t0 + s * 1000;
    if (nb > 0) out.push({ start, track: 'baseline', requests: nb, errors: binomial(r, nb, sim.baseRate), latency: latencies(r, nb, sim.median ?? 80) });
    if (nc > 0) out.push({ start, track: 'canary', requests: nc, errors: binomial(r, nc, cRate), latency: latencies(r, nc, sim.median ?? 80) });
  }
  return out;
}

/** Runs a rollout through the judge every interval until it ends or `maxS` passes; returns the verdicts. */
function run(policy: Policy, buckets: Bucket[], maxS: number) {
  let step = 0;
  let stepStartedAt = 0;
  const verdicts: { at: number; verdict: string; sentence: string }[] = [];
  for (let at = policy.intervalMs; at <= maxS * 1000; at += policy.intervalMs) {
    const j = judge({ policy, at, stepIndex: step, stepStartedAt, buckets });
    verdicts.push({ at, verdict: j.verdict, sentence: j.sentence });
    if (j.verdict === 'rollback' || j.verdict === 'pause') break;
    if (j.verdict === 'promote') {
      if (j.next_step === null) break;
      step = j.next_step;
      stepStartedAt = at;
    }
  }
  return verdicts;
}

describe('the canary judge', () => {
  it('never promotes a rollout with no telemetry, however long it runs', () => {
    const v = run(POLICY, [], 3600);
    // Waits one window for telemetry to arrive, then pauses.
    expect(v.slice(0, -1).every((x) => x.verdict === 'wait')).toBe(true);
    expect(v.at(-1)!.verdict).toBe('pause');
    expect(v.at(-1)!.at).toBe(300_000);
    expect(v.at(-1)!.sentence).toContain('no traffic on either track');
    const waiting = run({ ...POLICY, onNoData: 'wait' }, [], 3600);
    expect(waiting).toHaveLength(120);
    expect(new Set(waiting.map((x) => x.verdict))).toEqual(new Set(['wait']));
  });

  it('never promotes when only the baseline gets traffic (a canary with no traffic)', () => {
    const buckets = traffic(1, { rps: 100, share: 0, baseRate: 0.01, canaryRate: 0.01 }, 3600);
    const v = run({ ...POLICY, onNoData: 'wait' }, buckets, 3600);
    expect(v.every((x) => x.verdict === 'wait')).toBe(true);
    expect(v[0]!.sentence).toContain('no canary traffic');
  });

  it('a baseline with zero errors against a canary with a few: one error proves nothing either way; three, all on a 10% canary, are significant', () => {
    const p = policyOf('steps: [{weight: 10}, {weight: 100}]\nmin_requests: 100\nmetrics: [{name: errors, kind: error_rate, max_increase: 10%, slack: 0.1%}]');
    const at = (errorsAt: number[]) => {
      const buckets: Bucket[] = [];
      for (let s = 0; s < 300; s += 10) {
        buckets.push({ start: s * 1000, track: 'baseline', requests: 180, errors: 0, latency: null });
        buckets.push({ start: s * 1000, track: 'canary', requests: 20, errors: errorsAt.includes(s) ? 1 : 0, latency: null });
      }
      return judge({ policy: p, at: 300_000, stepIndex: 0, stepStartedAt: 0, buckets });
    };
    const one = at([100]);
    expect(one.verdict).toBe('wait'); // not a rollback on one event, and no promote: 1/600 could still be 0.9%
    expect(one.metrics[0]!.outcome).toBe('insufficient');
    expect(one.sentence).toMatch(/could still be up to/);
    // Under equal rates all three landing on the canary has probability 0.1³ = 0.001.
    const three = at([100, 200, 250]);
    expect(three.verdict).toBe('rollback');
    expect(three.sentence).toContain('canary error rate 0.5% vs baseline 0% over 6,000 requests');
  });

  it('rolls back a 5× error regression, and says so in one sentence with the figures', () => {
    const buckets = traffic(7, { rps: 100, share: 0.1, baseRate: 0.004, canaryRate: 0.02 }, 3600);
    const v = run(POLICY, buckets, 3600);
    const last = v.at(-1)!;
    expect(last.verdict).toBe('rollback');
    expect(last.sentence).toMatch(/^rolled back: canary error rate [\d.]+% vs baseline [\d.]+% over [\d,]+ requests; the increase is significant at 95%$/);
  });

  it('does not roll back on an early spike that heals, and promotes once the evidence is there', () => {
    const buckets = traffic(3, { rps: 20, share: 0.1, baseRate: 0.002, canaryRate: 0.05, canaryRateAfter: { atS: 20, rate: 0.002 } }, 7200);
    const v = run({ ...POLICY, minRequests: 100 }, buckets, 7200);
    expect(v.some((x) => x.verdict === 'rollback')).toBe(false);
    expect(v.some((x) => x.verdict === 'promote')).toBe(true);
  });

  it('keeps false rollbacks under α on A/A traffic checked every interval for an hour', () => {
    let rollbacks = 0;
    const runs = 200;
    for (let seed = 0; seed < runs; seed++) {
      const buckets = traffic(1000 + seed, { rps: 100, share: seed % 2 ? 0.1 : 0.5, baseRate: 0.01, canaryRate: 0.01 }, 3600);
      // Judge every interval without ever advancing, the worst case for repeated looks.
      for (let at = 30_000; at <= 3_600_000; at += 30_000) {
        if (judge({ policy: POLICY, at, stepIndex: 0, stepStartedAt: 0, buckets }).verdict === 'rollback') {
          rollbacks++;
          break;
        }
      }
    }
    if (process.env.SHOW_AA) console.log(`A/A false rollbacks: ${rollbacks}/${runs}`);
    expect(rollbacks / runs).toBeLessThanOrEqual(0.05);
  });

  it('compares latency quantiles from merged histograms, and pauses a slow canary', () => {
    expect(histogramQuantile({ boundaries: [100, 200], counts: [50, 50, 0] }, 0.5)).toBe(100);
    expect(histogramQuantile({ boundaries: [100, 200], counts: [0, 0, 10] }, 0.5)).toBe(Infinity);
    const buckets = traffic(11, { rps: 100, share: 0.5, baseRate: 0.001, canaryRate: 0.001, median: 80 }, 600)
      .map((b) => (b.track === 'canary' ? { ...b, latency: latencies(rng(b.start), b.requests, 600) } : b));
    const j = judge({ policy: POLICY, at: 600_000, stepIndex: 0, stepStartedAt: 0, buckets });
    expect(j.verdict).toBe('pause');
    expect(j.sentence).toMatch(/canary p95 .* is above the 500 ms bound/);
  });

  it('Wilson\'s bound for zero errors is about the rule of three', () => {
    expect(wilsonUpper(0, 1000, 0.95)).toBeGreaterThan(0.0025);
    expect(wilsonUpper(0, 1000, 0.95)).toBeLessThan(0.0035);
  });

  it('is deterministic', () => {
    const buckets = traffic(5, { rps: 50, share: 0.1, baseRate: 0.01, canaryRate: 0.02 }, 1800);
    expect(JSON.stringify(run(POLICY, buckets, 1800))).toBe(JSON.stringify(run(POLICY, buckets, 1800)));
  });
});
