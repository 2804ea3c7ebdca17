/**
 * Canary policies as code: YAML in, a validated document out, or errors that name the YAML path
 * with its line and column. Parsed with `yaml` (eemeli/yaml: well kept, and it keeps source
 * positions, which a hand-written parser would not), checked with zod (strict: unknown keys are
 * errors). The version of a policy is the sha256 of its normalized document, so a comment or a
 * reordering doesn't make a new version, and a changed threshold does.
 *
 * Used by the API (validating a policy, backtests) and by workers (evaluating rollouts).
 */
import { isMap, isSeq, LineCounter, parseDocument, type Node as YamlNode } from 'yaml';
import { z } from 'zod';

const DURATION = /^(\d+(?:\.\d+)?)(ms|s|m|h)$/;
const UNIT_MS = { ms: 1, s: 1000, m: 60_000, h: 3_600_000 } as const;

export function parseDuration(v: string): number | null {
  const m = DURATION.exec(v.trim());
  return m ? Number(m[1]) * UNIT_MS[m[2] as keyof typeof UNIT_MS] : null;
}

const duration = (what: string, minMs: number, maxMs: number) =>
  z.string().transform((v, ctx) => {
    const ms = parseDuration(v);
    if (ms === null) {
      ctx.addIssue({ code: 'custom', message: `${what} must be a duration such as 30s, 5m or 1h` });
      return z.NEVER;
    }
    if (ms < minMs || ms > maxMs) {
      ctx.addIssue({ code: 'custom', message: `${what} must be between ${minMs / 1000}s and ${maxMs / 3_600_000}h` });
      return z.NEVER;
    }
    return ms;
  });

/** `10%` → 0.1; a bare number is a fraction (0.1). */
const fraction = z.union([z.number(), z.string()]).transform((v, ctx) => {
  const n = typeof v === 'number' ? v : /^\s*(\d+(?:\.\d+)?)\s*%\s*$/.test(v) ? Number(v.replace('%', '')) / 100 : NaN;
  if (!Number.isFinite(n) || n < 0 || n > 10) {
    ctx.addIssue({ code: 'custom', message: 'must be a percentage such as 10% or 0.1%' });
    return z.NEVER;
  }
  return n;
});

/** Latency bounds: `500ms`, `1.5s`. */
const latencyMs = z.union([z.number(), z.string()]).transform((v, ctx) => {
  const ms = typeof v === 'number' ? v : parseDuration(v);
  if (ms === null || !Number.isFinite(ms) || ms <= 0) {
    ctx.addIssue({ code: 'custom', message: 'must be a latency such as 500ms or 1.5s' });
    return z.NEVER;
  }
  return ms;
});

const Metric = z.strictObject({
  name: z.string().regex(/^[a-z][a-z0-9_-]{0,39}$/, 'a short name: lowercase letters, digits, - and _'),
  kind: z.enum(['error_rate', 'latency_quantile', 'throughput']),
  q: z.number().gt(0).lt(1).optional(),
  max: z.union([z.number(), z.string()]).optional(),
  min: z.number().nonnegative().optional(),
  max_increase: fraction.optional(),
  slack: z.union([z.number(), z.string()]).optional(),
  on_breach: z.enum(['rollback', 'pause']).default('rollback'),
}).superRefine((m, ctx) => {
  if (m.kind === 'latency_quantile' && m.q === undefined) ctx.addIssue({ code: 'custom', path: ['q'], message: 'a latency_quantile metric needs q, e.g. 0.95' });
  if (m.kind !== 'latency_quantile' && m.q !== undefined) ctx.addIssue({ code: 'custom', path: ['q'], message: 'q applies to latency_quantile only' });
  if (m.kind === 'throughput') {
    if (m.min === undefined) ctx.addIssue({ code: 'custom', path: ['min'], message: 'a throughput metric needs min (canary requests per second)' });
    if (m.max !== undefined || m.max_increase !== undefined) ctx.addIssue({ code: 'custom', path: ['kind'], message: 'a throughput metric takes min only' });
  } else {
    if (m.min !== undefined) ctx.addIssue({ code: 'custom', path: ['min'], message: 'min applies to throughput only' });
    if ((m.max === undefined) === (m.max_increase === undefined)) {
      ctx.addIssue({ code: 'custom', path: ['max'], message: 'give one bound: max (absolute) or max_increase (relative to the baseline)' });
    }
    if (m.kind === 'error_rate' && m.max !== undefined) {
      const r = fraction.safeParse(m.max);
      if (!r.success || r.data > 1) ctx.addIssue({ code: 'custom', path: ['max'], message: 'an error_rate max is a percentage such as 1%' });
    }
    if (m.kind === 'latency_quantile' && m.max !== undefined && !latencyMs.safeParse(m.max).success) {
      ctx.addIssue({ code: 'custom', path: ['max'], message: 'a latency max is a duration such as 500ms' });
    }
    if (m.slack !== undefined) {
      const ok = m.kind === 'error_rate' ? fraction.safeParse(m.slack).success : latencyMs.safeParse(m.slack).success;
      if (!ok) ctx.addIssue({ code: 'custom', path: ['slack'], message: m.kind === 'error_rate' ? 'an error-rate slack is a percentage such as 0.1%' : 'a latency slack is a duration such as 20ms' });
    }
  }
});

const PolicyShape = z.strictObject({
  interval: duration('interval', 1000, 3_600_000).default(30_000),
  window: duration('window', 1000, 24 * 3_600_000).default(300_000),
  confidence: z.number().gt(0.5).lt(1).default(0.95),
  min_requests: z.number().int().nonnegative().default(500),
  min_events: z.number().int().nonnegative().default(0),
  on_no_data: z.string().default('pause').pipe(z.string().refine((v) => v !== 'promote', 'on_no_data may never be promote: no data is not evidence').pipe(z.enum(['pause', 'wait']))),
  steps: z.array(z.strictObject({
    weight: z.number().int().min(1).max(100),
    min_duration: duration('min_duration', 0, 7 * 24 * 3_600_000).optional(),
  })).min(1).max(20),
  metrics: z.array(Metric).min(1).max(10),
}).superRefine((p, ctx) => {
  if (p.window < p.interval) ctx.addIssue({ code: 'custom', path: ['window'], message: 'the window must be at least one interval long' });
  for (let i = 1; i < p.steps.length; i++) {
    if (p.steps[i]!.weight <= p.steps[i - 1]!.weight) ctx.addIssue({ code: 'custom', path: ['steps', i, 'weight'], message: 'weights must increase from step to step' });
  }
  if (p.steps.at(-1)!.weight !== 100) ctx.addIssue({ code: 'custom', path: ['steps', p.steps.length - 1, 'weight'], message: 'the last step must send the canary 100% of the traffic' });
  const names = new Set<string>();
  p.metrics.forEach((m, i) => {
    if (names.has(m.name)) ctx.addIssue({ code: 'custom', path: ['metrics', i, 'name'], message: `the metric name ${m.name} is used twice` });
    names.add(m.name);
  });
});

export interface MetricSpec {
  name: string;
  kind: 'error_rate' | 'latency_quantile' | 'throughput';
  q?: number;
  /** error_rate: a fraction; latency: ms; throughput: requests per second (min). */
  max?: number;
  min?: number;
  maxIncrease?: number;
  slack: number;
  onBreach: 'rollback' | 'pause';
}

export interface Policy {
  intervalMs: number;
  windowMs: number;
  confidence: number;
  minRequests: number;
  minEvents: number;
  onNoData: 'pause' | 'wait';
  steps: { weight: number; minDurationMs: number }[];
  metrics: MetricSpec[];
}

export interface PolicyError {
  field: string;
  message: string;
  line?: number;
  column?: number;
}

export type ParsedPolicy = { ok: true; policy: Policy; normalized: string } | { ok: false; errors: PolicyError[] };

/** Parses and validates a policy; errors carry the YAML path and the line and column it is at. */
export function parsePolicy(yaml: string): ParsedPolicy {
  const lines = new LineCounter();
  const doc = parseDocument(yaml, { lineCounter: lines, prettyErrors: false, uniqueKeys: true });
  if (doc.errors.length > 0) {
    return {
      ok: false,
      errors: doc.errors.map((e) => {
        const at = lines.linePos(e.pos[0]);
        return { field: '(yaml)', message: e.message.split('\n')[0]!, line: at.line, column: at.col };
      }),
    };
  }
  const value = doc.toJS({ maxAliasCount: 50 }) as unknown;
  const parsed = PolicyShape.safeParse(value ?? {});
  if (!parsed.success) {
    return {
      ok: false,
      errors: parsed.error.issues.map((i) => {
        const path = i.path.map((p) => (typeof p === 'number' ? p : String(p)));
        const node = nodeAt(doc.contents as YamlNode | null, path);
        const pos = node?.range ? lines.linePos(node.range[0]) : undefined;
        const field = path.reduce<string>((s, p) => (typeof p === 'number' ? `${s}[${p}]` : s ? `${s}.${p}` : p), '') || '(document)';
        return { field, message: i.message, ...(pos ? { line: pos.line, column: pos.col } : {}) };
      }),
    };
  }
  const p = parsed.data;
  const policy: Policy = {
    intervalMs: p.interval,
    windowMs: p.window,
    confidence: p.confidence,
    minRequests: p.min_requests,
    minEvents: p.min_events,
    onNoData: p.on_no_data,
    steps: p.steps.map((s) => ({ weight: s.weight, minDurationMs: s.min_duration ?? 0 })),
    metrics: p.metrics.map((m) => ({
      name: m.name,
      kind: m.kind,
      ...(m.q !== undefined ? { q: m.q } : {}),
      ...(m.max !== undefined ? { max: m.kind === 'error_rate' ? fraction.parse(m.max) : latencyMs.parse(m.max) } : {}),
      ...(m.min !== undefined ? { min: m.min } : {}),
      ...(m.max_increase !== undefined ? { maxIncrease: m.max_increase } : {}),
      slack: m.slack === undefined ? 0 : m.kind === 'error_rate' ? fraction.parse(m.slack) : latencyMs.parse(m.slack),
      onBreach: m.on_breach,
    })),
  };
  return { ok: true, policy, normalized: canonical(policy) };
}

/** The node at a zod path, or the nearest ancestor that exists (a missing key points at its parent). */
function nodeAt(root: YamlNode | null, path: (string | number)[]): YamlNode | null {
  let node: YamlNode | null = root;
  for (const key of path) {
    if (isMap(node)) {
      const pair = node.items.find((it) => (it.key as { value?: unknown } | null)?.value === key);
      if (!pair) return node;
      node = (pair.value as YamlNode | null) ?? (pair.key as YamlNode);
    } else if (isSeq(node) && typeof key === 'number') {
      const next = node.items[key] as YamlNode | undefined;
      if (!next) return node;
      node = next;
    } else {
      return node;
    }
  }
  return node;
}

/** JSON with sorted keys: the policy's identity, whatever its YAML looked like. */
function canonical(v: unknown): string {
  if (Array.isArray(v)) return `[${v.map(canonical).join(',')}]`;
  if (v && typeof v === 'object') {
    return `{${Object.keys(v).sort().map((k) => `${JSON.stringify(k)}:${canonical((v as Record<string, unknown>)[k])}`).join(',')}}`;
  }
  return JSON.stringify(v);
}
