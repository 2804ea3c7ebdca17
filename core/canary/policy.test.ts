import { describe, expect, it } from 'vitest';
import { parsePolicy } from './policy.ts';

const EXAMPLE = `interval: 30s          # how often the rollout is judged
window: 5m             # sliding window each judgement looks at
confidence: 0.95       # 1 - the false-rollback rate the tests must hold under continuous checking
min_requests: 500      # evidence needed on each track before any promote
on_no_data: pause      # or wait; never promote
steps:                 # traffic weights for the canary, each held at least this long
  - {weight: 10, min_duration: 2m}
  - {weight: 50, min_duration: 5m}
  - {weight: 100}
metrics:
  - {name: errors, kind: error_rate, max_increase: 10%, slack: 0.1%, on_breach: rollback}
  - {name: p95, kind: latency_quantile, q: 0.95, max: 500ms, on_breach: pause}
`;

describe('canary policies', () => {
  it('accepts the documented policy as written', () => {
    const r = parsePolicy(EXAMPLE);
    expect(r.ok).toBe(true);
    if (!r.ok) return;
    expect(r.policy).toMatchObject({
      intervalMs: 30_000, windowMs: 300_000, confidence: 0.95, minRequests: 500, minEvents: 0, onNoData: 'pause',
      steps: [{ weight: 10, minDurationMs: 120_000 }, { weight: 50, minDurationMs: 300_000 }, { weight: 100, minDurationMs: 0 }],
    });
    expect(r.policy.metrics[0]).toEqual({ name: 'errors', kind: 'error_rate', maxIncrease: 0.1, slack: 0.001, onBreach: 'rollback' });
    expect(r.policy.metrics[1]).toEqual({ name: 'p95', kind: 'latency_quantile', q: 0.95, max: 500, slack: 0, onBreach: 'pause' });
  });

  it('gives one version to documents that differ only in comments, order and spelling', () => {
    const a = parsePolicy(EXAMPLE);
    const b = parsePolicy(EXAMPLE.replace(/#.*$/gm, '').replace('interval: 30s', 'interval: 30000ms'));
    const c = parsePolicy(EXAMPLE.replace('max: 500ms', 'max: 400ms'));
    expect(a.ok && b.ok && c.ok).toBe(true);
    if (a.ok && b.ok && c.ok) {
      expect(b.normalized).toBe(a.normalized);
      expect(c.normalized).not.toBe(a.normalized);
    }
  });

  it('refuses on_no_data: promote, naming the field and where it is', () => {
    const r = parsePolicy(EXAMPLE.replace('on_no_data: pause ', 'on_no_data: promote'));
    expect(r.ok).toBe(false);
    if (r.ok) return;
    expect(r.errors).toEqual([{ field: 'on_no_data', message: expect.stringContaining('never be promote'), line: 5, column: 13 }]);
  });

  it('locates unknown keys, bad values and YAML syntax errors', () => {
    const r = parsePolicy(EXAMPLE.replace('  - {name: p95,', '  - {nmae: x, name: p95,').replace('weight: 50', 'weight: 5'));
    expect(r.ok).toBe(false);
    if (r.ok) return;
    const fields = r.errors.map((e) => `${e.field}@${e.line}`);
    expect(fields).toContain('metrics[1]@12');
    expect(r.errors.find((e) => e.field === 'metrics[1]')?.message).toMatch(/nmae/);
    expect(fields).toContain('steps[1].weight@8');
    const syntax = parsePolicy('interval: 30s\nsteps: [\n');
    expect(syntax.ok).toBe(false);
    if (!syntax.ok) expect(syntax.errors[0]).toMatchObject({ field: '(yaml)', line: expect.any(Number), column: expect.any(Number) });
    const dup = parsePolicy('interval: 30s\ninterval: 1m\n');
    expect(dup.ok).toBe(false);
  });

  it('allows a 1s interval so tests run fast, and nothing shorter', () => {
    expect(parsePolicy(EXAMPLE.replace('interval: 30s', 'interval: 1s')).ok).toBe(true);
    const r = parsePolicy(EXAMPLE.replace('interval: 30s', 'interval: 500ms'));
    expect(r.ok).toBe(false);
  });
});
