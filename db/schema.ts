/**
 * The data model (see ../shared/DESIGN.md, "Data model").
 *
 * Glossary:
 * - tenant: a customer of the platform; every other row belongs to exactly one.
 * - job: a unit of queued work about one subject (e.g. `project:prj_…`); the source of truth
 *   for what has been asked and what has happened. Transports (NOTIFY, QStash) only signal.
 * - job_events: the append-only timeline of a job, shown to clients.
 * - realtime_events: the outbox the realtime trigger writes; SSE resumes from it.
 *
 * drizzle-kit turns this file into SQL in supabase/migrations; triggers and functions that
 * drizzle cannot express live in hand-written migrations next to the generated ones.
 */
import { sql } from 'drizzle-orm';
import {
  bigint,
  bigserial,
  boolean,
  check,
  customType,
  doublePrecision,
  index,
  integer,
  jsonb,
  pgTable,
  primaryKey,
  text,
  timestamp,
  uniqueIndex,
} from 'drizzle-orm/pg-core';

const tstz = (name: string) => timestamp(name, { withTimezone: true, mode: 'string' });
const xid8 = customType<{ data: string }>({ dataType: () => 'xid8' });

export const tenants = pgTable('tenants', {
  id: text('id').primaryKey(),
  name: text('name').notNull(),
  plan: text('plan').notNull().default('free'),
  // The operator tenant runs the platform: its admin keys may create and list tenants.
  isOperator: boolean('is_operator').notNull().default(false),
  // The API version its requests get without an API-Version header (core/api-versions.ts). The
  // app sets it at creation to the current version; the default is the first version, which is
  // what tenants from before versions existed were served.
  apiVersion: text('api_version').notNull().default('2026-06-01'),
  createdAt: tstz('created_at').notNull().defaultNow(),
}, (t) => [
  check('tenants_plan_check', sql`${t.plan} in ('free', 'pro', 'enterprise')`),
  // At most one operator tenant: two processes racing through first start can't both create one.
  uniqueIndex('tenants_one_operator').on(t.isOperator).where(sql`${t.isOperator}`),
]);

export const apiKeys = pgTable('api_keys', {
  id: text('id').primaryKey(),
  tenantId: text('tenant_id').notNull().references(() => tenants.id),
  name: text('name').notNull().default(''),
  role: text('role').notNull(),
  hash: text('hash').notNull(),
  prefix: text('prefix').notNull(),
  createdAt: tstz('created_at').notNull().defaultNow(),
  lastUsedAt: tstz('last_used_at'),
  revokedAt: tstz('revoked_at'),
}, (t) => [
  uniqueIndex('api_keys_hash_key').on(t.hash),
  index('api_keys_tenant_idx').on(t.tenantId, t.id),
  check('api_keys_role_check', sql`${t.role} in ('admin', 'member', 'viewer')`),
]);

export const projects = pgTable('projects', {
  id: text('id').primaryKey(),
  tenantId: text('tenant_id').notNull().references(() => tenants.id),
  name: text('name').notNull(),
  slug: text('slug').notNull(),
  plan: text('plan').notNull(),
  region: text('region').notNull(),
  provider: text('provider').notNull(),
  providerRef: text('provider_ref'),
  status: text('status').notNull(),
  // AES-256-GCM ciphertext of the connection string; never leaves the API except via /credentials.
  connection: text('connection'),
  apiUrl: text('api_url'),
  lastError: text('last_error'),
  // What the provider reports that requests are checked against (a Supabase project's own status,
  // its organization's plan, when it was paused). Never secrets.
  providerDetails: jsonb('provider_details').notNull().default({}),
  // The last health reading: {status, checked_at, services}.
  health: jsonb('health'),
  // When the sweeper next makes this project's health and metrics jobs (while it is live).
  nextHealthAt: tstz('next_health_at').defaultNow(),
  nextMetricsAt: tstz('next_metrics_at').defaultNow(),
  createdAt: tstz('created_at').notNull().defaultNow(),
  updatedAt: tstz('updated_at').notNull().defaultNow(),
}, (t) => [
  // A deleted project keeps its row but frees its slug.
  uniqueIndex('projects_tenant_slug_key').on(t.tenantId, t.slug).where(sql`${t.status} <> 'deleted'`),
  index('projects_tenant_id_idx').on(t.tenantId, t.id),
  // One live project per provider project: an import can't adopt what is already adopted.
  uniqueIndex('projects_provider_ref_live_idx').on(t.provider, t.providerRef).where(sql`${t.providerRef} is not null and ${t.status} <> 'deleted'`),
  index('projects_next_health_idx').on(t.nextHealthAt).where(sql`${t.status} in ('active', 'degraded')`),
  index('projects_next_metrics_idx').on(t.nextMetricsAt).where(sql`${t.status} in ('active', 'degraded')`),
]);

export const stores = pgTable('stores', {
  id: text('id').primaryKey(),
  tenantId: text('tenant_id').notNull().references(() => tenants.id),
  name: text('name').notNull(),
  engine: text('engine').notNull(),
  plan: text('plan').notNull(),
  runtime: text('runtime').notNull(),
  status: text('status').notNull(),
  providerRef: text('provider_ref'),
  // { storefront, admin }: where the store answers once it is ready.
  urls: jsonb('urls').notNull().default({}),
  // Runtime facts a client may show (database name, namespace, …); never secrets.
  runtimeDetails: jsonb('runtime_details').notNull().default({}),
  // AES-256-GCM ciphertext of the first admin credentials, cleared when they are revealed once.
  initialCredentials: text('initial_credentials'),
  credentialsRevealedAt: tstz('credentials_revealed_at'),
  lastError: text('last_error'),
  createdAt: tstz('created_at').notNull().defaultNow(),
  updatedAt: tstz('updated_at').notNull().defaultNow(),
}, (t) => [
  check('stores_engine_check', sql`${t.engine} in ('woocommerce', 'medusa')`),
  check('stores_runtime_check', sql`${t.runtime} in ('postgres', 'kubernetes')`),
  check('stores_status_check', sql`${t.status} in ('provisioning', 'ready', 'failed', 'deleting', 'deleted')`),
  uniqueIndex('stores_tenant_name_key').on(t.tenantId, t.name).where(sql`${t.status} <> 'deleted'`),
  index('stores_tenant_id_idx').on(t.tenantId, t.id),
]);

/**
 * Where a project's logs come from: a Supabase project, Render services or a Sentry project.
 * Credentials (the provider's API token for pulls, the secret it signs webhooks with) are sealed
 * with AES-256-GCM; responses only ever say which are set. `cursor` is the pull high-water mark,
 * advanced in the same transaction as the events it covers.
 */
export const logSources = pgTable('log_sources', {
  id: text('id').primaryKey(),
  tenantId: text('tenant_id').notNull().references(() => tenants.id),
  projectId: text('project_id').notNull().references(() => projects.id),
  provider: text('provider').notNull(),
  config: jsonb('config').notNull().default({}),
  credentials: text('credentials'),
  hasApiKey: boolean('has_api_key').notNull().default(false),
  hasWebhookSecret: boolean('has_webhook_secret').notNull().default(false),
  // The pull's high-water mark (provider-specific), advanced in the same transaction as the events it covers.
  cursor: jsonb('cursor').notNull().default({}),
  lastPulledAt: tstz('last_pulled_at'),
  // Scheduled pulls: the sweeper enqueues one when this is due (null: never, e.g. no API key).
  nextPullAt: tstz('next_pull_at'),
  pullIntervalS: integer('pull_interval_s').notNull().default(60),
  lastError: text('last_error'),
  deletedAt: tstz('deleted_at'),
  createdAt: tstz('created_at').notNull().defaultNow(),
  updatedAt: tstz('updated_at').notNull().defaultNow(),
}, (t) => [
  check('log_sources_provider_check', sql`${t.provider} in ('supabase', 'render', 'sentry')`),
  index('log_sources_tenant_project_idx').on(t.tenantId, t.projectId, t.id),
  index('log_sources_next_pull_idx').on(t.nextPullAt).where(sql`${t.deletedAt} is null and ${t.nextPullAt} is not null`),
]);

/**
 * Alert rules: every `eval_interval_s` a job counts the project's events matching `filter` over
 * the last `window_s`; at `threshold` or more it fires (once per `cooldown_s`): an `alert` event,
 * a realtime `log` event and one signed notification to the channel.
 */
export const alertRules = pgTable('alert_rules', {
  id: text('id').primaryKey(),
  tenantId: text('tenant_id').notNull().references(() => tenants.id),
  projectId: text('project_id').notNull().references(() => projects.id),
  name: text('name').notNull(),
  filter: jsonb('filter').notNull().default({}),
  // An event-count rule's threshold (null on a metric rule, whose threshold is in `metric`).
  threshold: integer('threshold'),
  windowS: integer('window_s').notNull(),
  cooldownS: integer('cooldown_s').notNull(),
  channelType: text('channel_type').notNull(),
  // The URL may embed a token (Slack's incoming webhooks do): sealed, shown back only as its host.
  channelUrl: text('channel_url').notNull(),
  channelHost: text('channel_host').notNull(),
  // The Standard Webhooks signing secret (sealed); returned once, at create.
  signingSecret: text('signing_secret').notNull(),
  nextEvalAt: tstz('next_eval_at'),
  evalIntervalS: integer('eval_interval_s').notNull().default(60),
  lastFiredAt: tstz('last_fired_at'),
  firings: integer('firings').notNull().default(0),
  // The channel's health, from its notifications: a broken channel shows on the rule.
  channelFailures: integer('channel_failures').notNull().default(0),
  channelLastError: text('channel_last_error'),
  channelLastFailureAt: tstz('channel_last_failure_at'),
  channelLastSuccessAt: tstz('channel_last_success_at'),
  // A rule on a database metric instead of an event count: {name, above} or {name, below}.
  metric: jsonb('metric'),
  // Set while the rule's condition holds (from its firing); cleared, with a resolve, when it stops.
  firingSince: tstz('firing_since'),
  deletedAt: tstz('deleted_at'),
  createdAt: tstz('created_at').notNull().defaultNow(),
}, (t) => [
  check('alert_rules_channel_check', sql`${t.channelType} in ('slack', 'webhook', 'pagerduty')`),
  check('alert_rules_kind_check', sql`(${t.threshold} is null) <> (${t.metric} is null)`),
  index('alert_rules_tenant_idx').on(t.tenantId, t.id),
  index('alert_rules_next_eval_idx').on(t.nextEvalAt).where(sql`${t.deletedAt} is null`),
]);

/** System-wide periodic chores (retention): run by whichever sweeper finds one due, at most once per interval. */
export const schedules = pgTable('schedules', {
  name: text('name').primaryKey(),
  nextRunAt: tstz('next_run_at').notNull().defaultNow(),
  lastResult: jsonb('last_result'),
});

/**
 * Every verified webhook delivery, raw, exactly as it arrived: normalized by a worker, and
 * replayable. A provider's redelivery (same delivery id) is accepted once.
 */
export const webhookDeliveries = pgTable('webhook_deliveries', {
  id: text('id').primaryKey(),
  tenantId: text('tenant_id').notNull().references(() => tenants.id),
  sourceId: text('source_id').notNull().references(() => logSources.id),
  provider: text('provider').notNull(),
  deliveryId: text('delivery_id').notNull(),
  resource: text('resource'),
  headers: jsonb('headers').notNull().default({}),
  body: text('body').notNull(),
  receivedAt: tstz('received_at').notNull().defaultNow(),
  processedAt: tstz('processed_at'),
  eventCount: integer('event_count'),
}, (t) => [
  uniqueIndex('webhook_deliveries_source_delivery_key').on(t.sourceId, t.deliveryId),
  index('webhook_deliveries_tenant_source_idx').on(t.tenantId, t.sourceId, t.id),
]);

/** Token buckets for per-tenant rate limits (the local default; Upstash Redis in production). */
export const rateLimits = pgTable('rate_limits', {
  tenantId: text('tenant_id').notNull(),
  bucket: text('bucket').notNull(),
  tokens: doublePrecision('tokens').notNull(),
  updatedAt: tstz('updated_at').notNull().defaultNow(),
}, (t) => [primaryKey({ columns: [t.tenantId, t.bucket] })]);

export const jobs = pgTable('jobs', {
  id: text('id').primaryKey(),
  tenantId: text('tenant_id').notNull().references(() => tenants.id),
  kind: text('kind').notNull(),
  subjectType: text('subject_type'),
  subjectId: text('subject_id'),
  payload: jsonb('payload').notNull().default({}),
  // Checkpoint carried from one step to the next (continueAfter).
  state: jsonb('state'),
  result: jsonb('result'),
  status: text('status').notNull().default('queued'),
  // Claims of the current step; a continuation starts the count again.
  attempts: integer('attempts').notNull().default(0),
  maxAttempts: integer('max_attempts').notNull().default(5),
  // Steps completed by continuation.
  steps: integer('steps').notNull().default(0),
  runAt: tstz('run_at').notNull().defaultNow(),
  leaseExpiresAt: tstz('lease_expires_at'),
  lockedBy: text('locked_by'),
  concurrencyKey: text('concurrency_key'),
  dispatchedAt: tstz('dispatched_at'),
  dispatchId: text('dispatch_id'),
  lastError: text('last_error'),
  deadlineAt: tstz('deadline_at'),
  // The W3C traceparent of the request (or job) that made it: its steps continue that trace.
  traceparent: text('traceparent'),
  createdAt: tstz('created_at').notNull().defaultNow(),
  updatedAt: tstz('updated_at').notNull().defaultNow(),
  finishedAt: tstz('finished_at'),
}, (t) => [
  check('jobs_status_check', sql`${t.status} in ('queued', 'running', 'succeeded', 'dead', 'canceled')`),
  // The local runner's round-robin scan: due queued jobs by tenant, oldest first.
  index('jobs_queued_idx').on(t.tenantId, t.runAt, t.id).where(sql`${t.status} = 'queued'`),
  // Lease sweeps.
  index('jobs_running_lease_idx').on(t.leaseExpiresAt).where(sql`${t.status} = 'running'`),
  // At most one running job per concurrency key, enforced by the database itself.
  uniqueIndex('jobs_one_running_per_key').on(t.concurrencyKey).where(sql`${t.status} = 'running' and ${t.concurrencyKey} is not null`),
  index('jobs_subject_idx').on(t.tenantId, t.subjectType, t.subjectId, t.id),
  index('jobs_tenant_id_idx').on(t.tenantId, t.id),
]);

export const jobEvents = pgTable('job_events', {
  id: bigserial('id', { mode: 'number' }).primaryKey(),
  jobId: text('job_id').notNull().references(() => jobs.id, { onDelete: 'cascade' }),
  tenantId: text('tenant_id').notNull(),
  type: text('type').notNull(),
  data: jsonb('data').notNull().default({}),
  createdAt: tstz('created_at').notNull().defaultNow(),
}, (t) => [index('job_events_job_idx').on(t.jobId, t.id)]);

export const idempotencyKeys = pgTable('idempotency_keys', {
  tenantId: text('tenant_id').notNull(),
  key: text('key').notNull(),
  fingerprint: text('fingerprint').notNull(),
  responseStatus: integer('response_status').notNull(),
  responseHeaders: jsonb('response_headers').notNull().default({}),
  responseBody: jsonb('response_body').notNull(),
  createdAt: tstz('created_at').notNull().defaultNow(),
}, (t) => [primaryKey({ columns: [t.tenantId, t.key] }), index('idempotency_keys_created_idx').on(t.createdAt)]);

/**
 * The realtime outbox. `tx` and `tx_horizon` let a resuming SSE client receive every event that
 * committed after the one it last saw, even when ids were handed out in a different order than
 * transactions committed (see db/realtime.repo.ts).
 */
export const realtimeEvents = pgTable('realtime_events', {
  id: bigserial('id', { mode: 'number' }).primaryKey(),
  tenantId: text('tenant_id').notNull(),
  topics: text('topics').array().notNull(),
  event: text('event').notNull(),
  payload: jsonb('payload').notNull(),
  tx: xid8('tx').notNull().default(sql`pg_current_xact_id()`),
  txHorizon: xid8('tx_horizon').notNull().default(sql`pg_snapshot_xmin(pg_current_snapshot())`),
  createdAt: tstz('created_at').notNull().defaultNow(),
}, (t) => [
  // Readers scan by id (resume: ids after the client's last) or by tx (the hub's horizon); each
  // extra index is paid on every status change, so there are no others. Retention prunes by
  // created_at, which BRIN summarises almost for free on an append-only table.
  index('realtime_events_tx_idx').on(t.tx),
  index('realtime_events_created_brin').using('brin', t.createdAt),
]);

/**
 * The audit log: one row per mutating /v1 request, refused ones included. A request that reaches
 * its handler gets its row first, with no status, committed before the handler can change
 * anything; the outcome is filled in afterwards (outcome_at). So every committed change has its
 * record, and a row left without a status is a request whose process died before it answered.
 * Rows refused earlier (401, 429, a bad version, an oversize body) are written once, complete.
 * A trigger allows nothing but that one update; retention deletes by plan. Never bodies, secrets
 * or tokens: the key is named by id, role and prefix.
 */
export const auditLog = pgTable('audit_log', {
  id: text('id').primaryKey(),
  ts: tstz('ts').notNull().defaultNow(),
  // Null for a request refused before it could be tied to a tenant (a 401).
  tenantId: text('tenant_id'),
  keyId: text('key_id'),
  keyRole: text('key_role'),
  keyPrefix: text('key_prefix'),
  method: text('method').notNull(),
  route: text('route').notNull(),
  resourceId: text('resource_id'),
  status: integer('status'),
  requestId: text('request_id').notNull(),
  clientAddress: text('client_address'),
  userAgent: text('user_agent'),
  outcomeAt: tstz('outcome_at'),
}, (t) => [
  index('audit_log_tenant_idx').on(t.tenantId, t.id),
  index('audit_log_ts_idx').on(t.ts),
]);

/**
 * Samples of projects' database statistics (workers/tasks/project-watch.ts), counters as read;
 * rates are deltas taken at read time (db/project-metrics.repo.ts says why this is not `events`).
 */
export const projectMetrics = pgTable('project_metrics', {
  tenantId: text('tenant_id').notNull().references(() => tenants.id),
  projectId: text('project_id').notNull().references(() => projects.id),
  ts: tstz('ts').notNull(),
  connectionsTotal: integer('connections_total').notNull(),
  connectionsActive: integer('connections_active').notNull(),
  connectionsIdle: integer('connections_idle').notNull(),
  connectionsIdleInTx: integer('connections_idle_in_tx').notNull(),
  connectionsLimit: integer('connections_limit').notNull(),
  xactCommit: bigint('xact_commit', { mode: 'number' }).notNull(),
  xactRollback: bigint('xact_rollback', { mode: 'number' }).notNull(),
  blksHit: bigint('blks_hit', { mode: 'number' }).notNull(),
  blksRead: bigint('blks_read', { mode: 'number' }).notNull(),
  deadlocks: bigint('deadlocks', { mode: 'number' }).notNull(),
  tempBytes: bigint('temp_bytes', { mode: 'number' }).notNull(),
  sizeBytes: bigint('size_bytes', { mode: 'number' }).notNull(),
  // Normalized statement text only (pg_stat_statements'), never parameters; null without the extension.
  topStatements: jsonb('top_statements'),
}, (t) => [
  primaryKey({ columns: [t.projectId, t.ts] }),
  index('project_metrics_tenant_project_ts_idx').on(t.tenantId, t.projectId, t.ts),
  index('project_metrics_ts_idx').on(t.ts),
]);
