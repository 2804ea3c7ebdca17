/**
 * Writes the Grafana dashboards in infra/grafana/*.json, built with Grafana's own Foundation SDK
 * (@grafana/grafana-foundation-sdk: typed builders generated from Grafana's dashboard schema, so
 * a dashboard that doesn't match the schema doesn't compile). Provision them as files (Grafana's
 * `dashboards` provisioning) with a Prometheus data source; each asks which one with a
 * `datasource` variable.
 *
 * `npx tsx infra/grafana/generate.ts` after a change here; test/grafana.test.ts fails when the
 * committed JSON and this script disagree, checks every panel's PromQL with promtool, and that
 * every metric a panel names is one Switchyard exports (or a recording rule of infra/prometheus).
 */
import { writeFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { DashboardBuilder, DatasourceVariableBuilder, RowBuilder, type Dashboard } from '@grafana/grafana-foundation-sdk/dashboard';
import { DataqueryBuilder } from '@grafana/grafana-foundation-sdk/prometheus';
import { PanelBuilder as TimeseriesPanel } from '@grafana/grafana-foundation-sdk/timeseries';
import { PanelBuilder as StatPanel } from '@grafana/grafana-foundation-sdk/stat';
import { StackingConfigBuilder, StackingMode } from '@grafana/grafana-foundation-sdk/common';

const DS = { type: 'prometheus', uid: '${datasource}' };
const q = (expr: string, legend = '') => new DataqueryBuilder().expr(expr).legendFormat(legend).datasource(DS);
const series = (title: string, unit: string, queries: Array<[string, string?]>, opts: { stacked?: boolean; w?: number; description?: string } = {}) => {
  const p = new TimeseriesPanel().title(title).unit(unit).datasource(DS).height(8).span(opts.w ?? 12);
  if (opts.description) p.description(opts.description);
  if (opts.stacked) p.stacking(new StackingConfigBuilder().mode(StackingMode.Normal)).fillOpacity(30);
  for (const [expr, legend] of queries) p.withTarget(q(expr, legend));
  return p;
};
const stat = (title: string, unit: string, expr: string, w = 6, description?: string) => {
  const p = new StatPanel().title(title).unit(unit).datasource(DS).height(4).span(w).withTarget(q(expr));
  if (description) p.description(description);
  return p;
};

function dashboard(uid: string, title: string, description: string) {
  return new DashboardBuilder(title).uid(uid).description(description).tags(['switchyard']).refresh('30s')
    .time({ from: 'now-6h', to: 'now' }).timezone('browser')
    .withVariable(new DatasourceVariableBuilder('datasource').label('Prometheus').type('prometheus'));
}

const API = 'route!~"/metrics|/healthz|/readyz|/v1/events"';
const R = '$__rate_interval';

export function dashboards(): Record<string, Dashboard> {
  const platform = dashboard('switchyard-platform', 'Switchyard / Platform', 'Tenants, projects and stores: what the control plane manages.')
    .withRow(new RowBuilder('Inventory'))
    .withPanel(stat('Tenants', 'short', 'sum(tenants)'))
    .withPanel(stat('Projects (not deleted)', 'short', 'sum(projects)'))
    .withPanel(stat('Stores (not deleted)', 'short', 'sum(stores)'))
    .withPanel(stat('Jobs queued', 'short', 'sum(jobs{status="queued"})'))
    .withPanel(series('Tenants by plan', 'short', [['sum by (plan) (tenants)', '{{plan}}']], { stacked: true, w: 8 }))
    .withPanel(series('Projects by status', 'short', [['sum by (status) (projects)', '{{status}}']], { stacked: true, w: 8 }))
    .withPanel(series('Projects by plan and region', 'short', [['sum by (plan, region) (projects)', '{{plan}} · {{region}}']], { stacked: true, w: 8 }))
    .withPanel(series('Stores by status', 'short', [['sum by (status) (stores)', '{{status}}']], { stacked: true, w: 8 }))
    .withPanel(series('Stores by engine and runtime', 'short', [['sum by (engine, runtime) (stores)', '{{engine}} on {{runtime}}']], { stacked: true, w: 8 }));

  const api = dashboard('switchyard-api', 'Switchyard / API', 'Request rate, errors and latency by route template.')
    .withRow(new RowBuilder('Traffic'))
    .withPanel(series('Requests by status', 'reqps', [[`sum by (status_code) (rate(http_requests_total{${API}}[${R}]))`, '{{status_code}}']], { stacked: true }))
    .withPanel(series('Server errors (5xx) share', 'percentunit', [[`sum(rate(http_requests_total{${API},status_code=~"5.."}[${R}])) / sum(rate(http_requests_total{${API}}[${R}]))`, '5xx']]))
    .withPanel(series('Requests by route', 'reqps', [[`sum by (method, route) (rate(http_requests_total{${API}}[${R}]))`, '{{method}} {{route}}']]))
    .withPanel(series('Shed (503, at capacity) and in flight', 'short', [
      [`sum(rate(http_requests_shed_total[${R}]))`, 'shed / s'], ['sum(http_requests_in_flight)', 'in flight'],
    ]))
    .withRow(new RowBuilder('Latency'))
    .withPanel(series('p50 / p95 / p99', 's', ([0.5, 0.95, 0.99] as const).map((x) => [`histogram_quantile(${x}, sum by (le) (rate(http_request_duration_seconds_bucket{${API}}[${R}])))`, `p${x * 100}`] as [string, string]), { w: 24 }))
    .withPanel(series('p95 by route', 's', [[`histogram_quantile(0.95, sum by (le, method, route) (rate(http_request_duration_seconds_bucket{${API}}[${R}])))`, '{{method}} {{route}}']], { w: 24 }))
    .withRow(new RowBuilder('Database'))
    .withPanel(series('Query p95 by command', 's', [[`histogram_quantile(0.95, sum by (le, operation) (rate(db_query_duration_seconds_bucket[${R}])))`, '{{operation}}']]))
    .withPanel(series('Query errors by SQLSTATE class', 'short', [[`sum by (sqlstate_class) (rate(db_query_errors_total[${R}]))`, '{{sqlstate_class}}']]))
    .withPanel(series('Pool connections', 'short', [
      ['sum by (state) (db_pool_connections)', '{{state}}'], ['sum(db_pool_size)', 'size'], ['sum(db_pool_waiting)', 'beyond the pool'],
    ]));

  const slo = dashboard('switchyard-slo', 'Switchyard / SLOs', 'Error budgets and burn rates of the 99.9% objectives in infra/prometheus/rules.yml.')
    .withRow(new RowBuilder('Budget left over 30 days'));
  const slos = ['api-availability', 'api-latency', 'job-pickup', 'job-success'];
  for (const name of slos) {
    slo.withPanel(stat(name, 'percentunit', `clamp_min(1 - (avg_over_time(slo:sli_error:ratio_rate1h{slo="${name}"}[30d]) / 0.001), 0)`, 6,
      'Share of the 30-day error budget not yet spent (from the hourly error ratio).'));
  }
  slo.withRow(new RowBuilder('Burn rates (1 = spending the budget exactly over 30 days)'));
  for (const name of slos) {
    slo.withPanel(series(`${name}: burn rate`, 'short', (['5m', '1h', '6h', '1d'] as const).map((w) => [`slo:sli_error:ratio_rate${w}{slo="${name}"} / 0.001`, w] as [string, string]), {
      description: 'Pages at 14.4 (1 h with 5 m) or 6 (6 h with 30 m); tickets at 3 (1 d with 2 h) or 1 (3 d with 6 h).',
    }));
  }

  const queue = dashboard('switchyard-queue', 'Switchyard / Queue', 'The jobs table as a queue: depth, age, throughput, pickup and failures.')
    .withRow(new RowBuilder('Depth and age'))
    .withPanel(series('Jobs queued and running by kind', 'short', [['sum by (kind, status) (jobs)', '{{kind}} {{status}}']], { stacked: true }))
    .withPanel(series('Oldest due job by kind', 's', [['max by (kind) (jobs_oldest_due_age_seconds)', '{{kind}}']]))
    .withRow(new RowBuilder('Throughput'))
    .withPanel(series('Steps by outcome', 'ops', [[`sum by (outcome) (rate(job_step_duration_seconds_count[${R}]))`, '{{outcome}}']], { stacked: true }))
    .withPanel(series('Enqueued by transport', 'ops', [[`sum by (queue) (rate(jobs_enqueued_total[${R}]))`, '{{queue}}']]))
    .withPanel(series('Pickup latency p95 (due → claimed)', 's', [[`histogram_quantile(0.95, sum by (le, kind) (rate(job_pickup_latency_seconds_bucket[${R}])))`, '{{kind}}']]))
    .withPanel(series('Step duration p95 by kind', 's', [[`histogram_quantile(0.95, sum by (le, kind) (rate(job_step_duration_seconds_bucket[${R}])))`, '{{kind}}']]))
    .withRow(new RowBuilder('Failures'))
    .withPanel(series('Retries and dead jobs by kind', 'short', [
      [`sum by (kind) (increase(job_retries_total[${R}]))`, 'retries {{kind}}'], [`sum by (kind) (increase(jobs_dead_total[${R}]))`, 'dead {{kind}}'],
    ]))
    .withPanel(series('Leases recovered (a worker died or froze)', 'short', [[`sum(increase(job_lease_expiries_recovered_total[${R}]))`, 'recovered']]))
    .withRow(new RowBuilder('Dependencies'))
    .withPanel(series('Circuit breakers not closed, by dependency', 'short', [['max by (group) (circuit_breakers_open)', '{{group}}']]))
    .withPanel(series('Breaker transitions', 'short', [[`sum by (group, to) (increase(circuit_breaker_transitions_total[${R}]))`, '{{group}} → {{to}}']]));

  const monitoring = dashboard('switchyard-monitoring', 'Switchyard / Monitoring ingest', 'Webhooks and pulls from Supabase, Render and Sentry into the events store, realtime and alerts.')
    .withRow(new RowBuilder('Ingest'))
    .withPanel(series('Webhook deliveries by verdict', 'short', [[`sum by (provider, verdict) (increase(webhook_deliveries_total[${R}]))`, '{{provider}} {{verdict}}']], { stacked: true }))
    .withPanel(series('Events pulled by provider', 'short', [[`sum by (provider) (increase(log_events_pulled_total[${R}]))`, '{{provider}}']], { stacked: true }))
    .withPanel(series('Ingest lag p95 (event time → stored)', 's', [[`histogram_quantile(0.95, sum by (le, provider, via) (rate(log_ingest_lag_seconds_bucket[${R}])))`, '{{provider}} by {{via}}']], { w: 24 }))
    .withRow(new RowBuilder('Alerts and realtime'))
    .withPanel(series('Alerts fired and notifications', 'short', [
      [`sum(increase(alerts_fired_total[${R}]))`, 'fired'], [`sum by (outcome) (increase(alert_notifications_total[${R}]))`, 'notification {{outcome}}'],
    ]))
    .withPanel(series('SSE subscribers and publish → send p95', 'short', [
      ['sum(sse_subscribers)', 'subscribers'], [`histogram_quantile(0.95, sum by (le) (rate(realtime_publish_lag_seconds_bucket[${R}])))`, 'lag p95 (s)'],
    ]));

  return {
    'platform.json': platform.build(),
    'api.json': api.build(),
    'slo.json': slo.build(),
    'queue.json': queue.build(),
    'monitoring.json': monitoring.build(),
  };
}

export const json = (d: Dashboard) => `${JSON.stringify(d, null, 2)}\n`;

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  for (const [file, d] of Object.entries(dashboards())) writeFileSync(new URL(`./${file}`, import.meta.url), json(d));
  console.log(`wrote ${Object.keys(dashboards()).map((f) => `infra/grafana/${f}`).join(', ')}`);
}
