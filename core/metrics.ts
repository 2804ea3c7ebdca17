/**
 * The metrics Switchyard records, as one catalog, and the port code records them through.
 *
 * Code that sees an event (a request finishing, a job claimed, a webhook verified) calls
 * `metrics.inc` / `observe` / `add` with a name from the catalog; the names and label sets are
 * checked by the compiler, and every label is bounded (route templates, kinds, statuses; never a
 * raw path, a tenant id or an error message). The port is passed in like any other dependency: on
 * Node it is backed by prom-client and scraped at `/metrics` (functions/entry/prometheus.ts);
 * where nothing records (tests of pure logic), `noMetrics` drops everything.
 *
 * Figures that are state rather than events (jobs by status, projects by plan, the pool's
 * connections) are read when scraped, from the database, by collectors the composition root adds;
 * they are in the catalog too, so one list documents everything `/metrics` can show.
 */

/** Seconds. Includes every SLO threshold the rules in infra/prometheus use (0.2 s for the API's p95, 1 s, 5 s for pickup). */
export const LATENCY_BUCKETS = [0.005, 0.01, 0.025, 0.05, 0.1, 0.2, 0.25, 0.5, 1, 2.5, 5, 10, 30];
const SIZE_BUCKETS = [64, 256, 1024, 4096, 16384, 65536, 262144, 1048576];
const STEP_BUCKETS = [0.01, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300];

/** One catalog entry (also what functions/entry/prometheus.ts renders from). */
export interface MetricDef {
  type: 'counter' | 'histogram' | 'gauge';
  help: string;
  labels: readonly string[];
  buckets?: readonly number[];
  /** Read at scrape time by a collector, not recorded by events. */
  collected?: true;
}

export const METRICS = {
  // HTTP (functions/middleware/metrics.ts)
  http_request_duration_seconds: { type: 'histogram', help: 'API request duration, from the first middleware to the response, by route template', labels: ['method', 'route', 'status_code'], buckets: LATENCY_BUCKETS },
  http_requests_total: { type: 'counter', help: 'API requests answered, by route template and status', labels: ['method', 'route', 'status_code'] },
  http_request_size_bytes: { type: 'histogram', help: 'Declared request body sizes (Content-Length)', labels: ['method', 'route'], buckets: SIZE_BUCKETS },
  http_response_size_bytes: { type: 'histogram', help: 'Response sizes: bytes on the wire, headers included (Node), or Content-Length where a runtime has it', labels: ['method', 'route'], buckets: SIZE_BUCKETS },
  http_requests_in_flight: { type: 'gauge', help: 'API requests being handled now', labels: [] },
  http_requests_shed_total: { type: 'counter', help: 'Requests refused with 503 by load shedding (SWITCHYARD_MAX_INFLIGHT)', labels: [] },

  // Database (db/client.ts; db/metrics.repo.ts at scrape)
  db_query_duration_seconds: { type: 'histogram', help: 'Query duration from issue to result (pool wait included), by SQL command; whole transactions as operation="transaction"', labels: ['operation'], buckets: LATENCY_BUCKETS },
  db_query_errors_total: { type: 'counter', help: 'Failed queries by SQLSTATE class (the first two characters; "connection" when no SQLSTATE)', labels: ['sqlstate_class'] },
  db_queries_in_flight: { type: 'gauge', help: 'Queries issued by this process and not yet answered', labels: [] },
  db_pool_waiting: { type: 'gauge', help: 'Queries and transactions beyond the pool size (queued, or pipelined behind another on its connection)', labels: [] },
  db_pool_size: { type: 'gauge', help: 'The pool\'s maximum connections (DATABASE_POOL_MAX)', labels: [], collected: true },
  db_pool_connections: { type: 'gauge', help: 'This process\'s open connections as Postgres sees them (pg_stat_activity), by state: active, idle, idle_in_transaction; the pool\'s and its LISTEN connections', labels: ['state'], collected: true },

  // Queue (workers/)
  jobs: { type: 'gauge', help: 'Jobs by kind and status', labels: ['kind', 'status'], collected: true },
  jobs_oldest_due_age_seconds: { type: 'gauge', help: 'Age of the oldest job that is due and not yet claimed, by kind (0 when none)', labels: ['kind'], collected: true },
  job_pickup_latency_seconds: { type: 'histogram', help: 'From a job being due to a worker claiming it', labels: ['kind'], buckets: LATENCY_BUCKETS },
  job_step_duration_seconds: { type: 'histogram', help: 'One step of a job, claim to recorded outcome, by kind and outcome (done, continue, retry, dead, lost: its lease went to another worker)', labels: ['kind', 'outcome'], buckets: STEP_BUCKETS },
  job_retries_total: { type: 'counter', help: 'Failed steps that will be retried, by kind', labels: ['kind'] },
  jobs_dead_total: { type: 'counter', help: 'Jobs that failed their last attempt, by kind', labels: ['kind'] },
  job_lease_expiries_recovered_total: { type: 'counter', help: 'Jobs whose worker lost its lease (crashed or froze) that the sweeper made due again', labels: [] },
  jobs_enqueued_total: { type: 'counter', help: 'Jobs handed to the queue transport, by transport', labels: ['queue'] },

  // Realtime (functions/lib/realtime-hub.ts, routes/events)
  sse_subscribers: { type: 'gauge', help: 'Open Server-Sent Events streams', labels: [] },
  realtime_events_published_total: { type: 'counter', help: 'Events (status, job, log, decision) the realtime hub read from the outbox for its subscribers (read only while this process has any)', labels: ['event'] },
  realtime_publish_lag_seconds: { type: 'histogram', help: 'From the event\'s commit to its delivery to a subscriber\'s stream', labels: [], buckets: LATENCY_BUCKETS },

  // Monitoring (routes/logs, workers/tasks/logs.ts, alerts.ts)
  webhook_deliveries_total: { type: 'counter', help: 'Provider webhook deliveries by verdict: accepted, duplicate, bad_signature (stale timestamps included), invalid_body, unknown_source', labels: ['provider', 'verdict'] },
  log_events_pulled_total: { type: 'counter', help: 'Events stored by scheduled pulls, by provider', labels: ['provider'] },
  log_ingest_lag_seconds: { type: 'histogram', help: 'From an event\'s own timestamp to it being stored', labels: ['provider', 'via'], buckets: [1, 5, 15, 30, 60, 120, 300, 900, 3600] },
  alerts_fired_total: { type: 'counter', help: 'Alert rules that fired', labels: [] },
  alert_notifications_total: { type: 'counter', help: 'Alert notification attempts by outcome: delivered, failed (an abandoned one is jobs_dead_total{kind="alerts.notify"})', labels: ['outcome'] },

  // Circuit breakers (core/breakers.ts): a group is a dependency (kubernetes, qstash, render-api…) or `webhook` (one breaker per host)
  circuit_breakers_open: { type: 'gauge', help: 'Breakers not closed (open or half-open) by group: 0 or 1 for a dependency, the hosts for webhooks', labels: ['group'] },
  circuit_breaker_transitions_total: { type: 'counter', help: 'Breaker transitions by group and the state entered (open, half_open, closed)', labels: ['group', 'to'] },

  // Rate limits (functions/middleware/rate-limit.ts)
  rate_limit_decisions_total: { type: 'counter', help: 'Rate-limit decisions by the policy that decided (the plan, or the stricter class that refused) and outcome: allowed, limited, failed_open, failed_closed (the backend did not answer)', labels: ['policy', 'decision'] },

  // Audit log (functions/middleware/audit.ts)
  audit_write_failures_total: { type: 'counter', help: 'Audit records that could not be written after the answer was known: outcome (a pending row left without its status) or refusal (a request refused before its handler went unrecorded)', labels: ['stage'] },

  // Platform (db/metrics.repo.ts at scrape)
  tenants: { type: 'gauge', help: 'Tenants by plan', labels: ['plan'], collected: true },
  projects: { type: 'gauge', help: 'Projects by status, plan and region', labels: ['status', 'plan', 'region'], collected: true },
  stores: { type: 'gauge', help: 'Stores by status, engine and runtime', labels: ['status', 'engine', 'runtime'], collected: true },
} as const satisfies Record<string, MetricDef>;

export type MetricName = keyof typeof METRICS;
type OfType<T extends MetricDef['type']> = { [K in MetricName]: (typeof METRICS)[K]['type'] extends T ? K : never }[MetricName];
type Recorded<T extends MetricDef['type']> = Exclude<OfType<T>, { [K in MetricName]: (typeof METRICS)[K] extends { collected: true } ? K : never }[MetricName]>;
export type CounterName = Recorded<'counter'>;
export type HistogramName = Recorded<'histogram'>;
export type GaugeName = Recorded<'gauge'>;
export type CollectedName = { [K in MetricName]: (typeof METRICS)[K] extends { collected: true } ? K : never }[MetricName];

/** The label names a metric takes, as an object type (`{}` for none). */
export type LabelsOf<N extends MetricName> = { [L in (typeof METRICS)[N]['labels'][number]]: string };

export interface Metrics {
  inc<N extends CounterName>(name: N, labels: LabelsOf<N>, by?: number): void;
  observe<N extends HistogramName>(name: N, labels: LabelsOf<N>, value: number): void;
  /** Moves an up-down gauge (in-flight requests, subscribers) by `delta`. */
  add<N extends GaugeName>(name: N, labels: LabelsOf<N>, delta: number): void;
  set<N extends GaugeName>(name: N, labels: LabelsOf<N>, value: number): void;
}

export const noMetrics: Metrics = { inc() {}, observe() {}, add() {}, set() {} };

/** A scrape-time reading of one collected metric. */
export type Sample = { [N in CollectedName]: { name: N; labels: LabelsOf<N>; value: number } }[CollectedName];
