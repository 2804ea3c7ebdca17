/**
 * Writes infra/prometheus/rules.yml: recording rules for Switchyard's SLIs over every window the
 * multi-window, multi-burn-rate method needs, the page and ticket alerts for each objective, and
 * the operational alerts. `npx tsx infra/prometheus/generate.ts` after changing an SLO here;
 * test/prometheus-rules.test.ts fails when the committed file and this script disagree, and runs
 * `promtool check rules` and `promtool test rules` (infra/prometheus/rules.test.yml) on it.
 *
 * Burn rates for a 30-day objective (Google SRE Workbook, "Alerting on SLOs", and Sloth's
 * google-30d windows): page when 2% of the budget burns in 1 h (rate 14.4, checked over 1 h and
 * 5 m) or 5% in 6 h (6, over 6 h and 30 m); ticket when 10% burns in 1 d (3, over 1 d and 2 h) or
 * 10% in 3 d (1, over 3 d and 6 h). The short window makes an alert resolve soon after the burn
 * stops.
 */
import { writeFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { stringify } from 'yaml';

export const WINDOWS = ['5m', '30m', '1h', '2h', '6h', '1d', '3d'] as const;
type Window = (typeof WINDOWS)[number];

interface Slo {
  name: string;
  objective: number;
  description: string;
  /** The error ratio over a window, as PromQL. */
  errorRatio: (w: Window) => string;
}

/** Streams (SSE) stay open for minutes: they are not requests with a latency. */
const API = 'route!~"/metrics|/healthz|/readyz|/v1/events"';

export const SLOS: Slo[] = [
  {
    name: 'api-availability', objective: 0.999,
    description: 'API requests answered without a server error (5xx)',
    // `or vector(0)`: with no 5xx series yet, the sum is empty and so would be the ratio.
    errorRatio: (w) => `(sum(rate(http_requests_total{${API},status_code=~"5.."}[${w}])) or vector(0)) / sum(rate(http_requests_total{${API}}[${w}]))`,
  },
  {
    name: 'api-latency', objective: 0.999,
    description: 'API requests answered within 200 ms',
    errorRatio: (w) => `1 - (sum(rate(http_request_duration_seconds_bucket{${API},le="0.2"}[${w}])) / sum(rate(http_request_duration_seconds_count{${API}}[${w}])))`,
  },
  {
    name: 'job-pickup', objective: 0.999,
    description: 'Jobs claimed within 5 s of being due',
    errorRatio: (w) => `1 - (sum(rate(job_pickup_latency_seconds_bucket{le="5"}[${w}])) / sum(rate(job_pickup_latency_seconds_count[${w}])))`,
  },
  {
    name: 'job-success', objective: 0.999,
    description: 'Job steps that succeed (a retry, a dead job or a lost lease counts against it)',
    errorRatio: (w) => `(sum(rate(job_step_duration_seconds_count{outcome=~"retry|dead|lost"}[${w}])) or vector(0)) / sum(rate(job_step_duration_seconds_count[${w}]))`,
  },
];

const record = (w: Window) => `slo:sli_error:ratio_rate${w}`;

/** [long window, short window, burn rate, severity, how much budget that burns]. */
export const BURNS: Array<[Window, Window, number, 'page' | 'ticket', string]> = [
  ['1h', '5m', 14.4, 'page', '2% of the 30-day budget in 1 h'],
  ['6h', '30m', 6, 'page', '5% of the 30-day budget in 6 h'],
  ['1d', '2h', 3, 'ticket', '10% of the 30-day budget in 1 d'],
  ['3d', '6h', 1, 'ticket', '10% of the 30-day budget in 3 d'],
];

export function rules() {
  const recording = SLOS.map((slo) => ({
    name: `switchyard-slo-${slo.name}-sli`,
    rules: WINDOWS.map((w) => ({ record: record(w), expr: slo.errorRatio(w), labels: { slo: slo.name } })),
  }));
  const alerts = SLOS.map((slo) => {
    const budget = Number((1 - slo.objective).toFixed(6));
    const burning = (severity: 'page' | 'ticket') => BURNS.filter((b) => b[3] === severity)
      .map(([long, short, rate]) => `(${record(long)}{slo="${slo.name}"} > (${rate} * ${budget}) and ${record(short)}{slo="${slo.name}"} > (${rate} * ${budget}))`)
      .join('\nor\n');
    const title = slo.name.split('-').map((p) => p[0]!.toUpperCase() + p.slice(1)).join('');
    return {
      name: `switchyard-slo-${slo.name}-alerts`,
      rules: (['page', 'ticket'] as const).map((severity) => ({
        alert: `${title}BudgetBurn${severity === 'page' ? 'Fast' : 'Slow'}`,
        expr: burning(severity),
        labels: { severity, slo: slo.name },
        annotations: {
          summary: `${slo.description}: the error budget of a ${slo.objective * 100}% objective is burning too fast`,
          description: `${BURNS.filter((b) => b[3] === severity).map((b) => b[4]).join(', or ')}. Current 1 h error ratio: {{ with query "${record('1h')}{slo=\\"${slo.name}\\"}" }}{{ . | first | value | humanizePercentage }}{{ end }}.`,
        },
      })),
    };
  });
  const operational = {
    name: 'switchyard-operations',
    rules: [
      {
        alert: 'JobQueueAgeGrowing', expr: 'max by (kind) (jobs_oldest_due_age_seconds) > 300', for: '5m',
        labels: { severity: 'page' },
        annotations: { summary: 'Jobs of kind {{ $labels.kind }} have waited over 5 minutes past due', description: 'No worker is taking them: check the runner (or QStash deliveries) and the database.' },
      },
      {
        alert: 'JobsDead', expr: 'sum by (kind) (increase(jobs_dead_total[15m])) > 0',
        labels: { severity: 'ticket' },
        annotations: { summary: '{{ $value | humanize }} jobs of kind {{ $labels.kind }} failed their last attempt in 15 minutes', description: 'GET /v1/jobs?status=dead shows them with their last error.' },
      },
      {
        alert: 'CircuitBreakerOpen', expr: 'max by (group) (circuit_breakers_open) > 0', for: '5m',
        labels: { severity: 'ticket' },
        annotations: { summary: 'The {{ $labels.group }} circuit breaker has been open for 5 minutes', description: 'Calls to it fail fast and the jobs that need it wait. /readyz shows since when; the log says which dependency.' },
      },
      {
        alert: 'DatabasePoolSaturated', expr: 'max_over_time(db_pool_waiting[5m]) > 0 and min_over_time(db_pool_waiting[5m]) > 0', for: '10m',
        labels: { severity: 'ticket' },
        annotations: { summary: 'Queries have waited for a pool connection for 10 minutes on {{ $labels.instance }}', description: 'Raise DATABASE_POOL_MAX, or find the slow queries in db_query_duration_seconds.' },
      },
    ],
  };
  return { groups: [...recording, ...alerts, operational] };
}

export function rulesYaml(): string {
  return `# Generated by infra/prometheus/generate.ts: edit that, then run \`npx tsx infra/prometheus/generate.ts\`.\n${stringify(rules(), { lineWidth: 0 })}`;
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  writeFileSync(new URL('./rules.yml', import.meta.url), rulesYaml());
  console.log('wrote infra/prometheus/rules.yml');
}
