-- The event store: one normalized row per log line, error, deploy or alert, from every source.
-- Partitioned by day (retention drops whole partitions); partitions are made on demand by
-- switchyard_events_partition(), which ingestion calls for the (UTC) days it is about to write.
-- Written by hand: drizzle-kit can't express partitioned tables. Queried with SQL in db/events.repo.ts.
CREATE EXTENSION IF NOT EXISTS pg_trgm;
--> statement-breakpoint
CREATE TABLE events (
  id bigint GENERATED ALWAYS AS IDENTITY,
  ts timestamptz NOT NULL,
  tenant_id text NOT NULL,
  project_id text NOT NULL,
  source_id text NOT NULL,
  provider text NOT NULL,
  service text,
  environment text,
  level text NOT NULL,
  kind text NOT NULL,
  message text NOT NULL,
  fingerprint text,
  attrs jsonb NOT NULL DEFAULT '{}'::jsonb,
  source_event_id text NOT NULL,
  ingested_at timestamptz NOT NULL DEFAULT now(),
  CONSTRAINT events_kind_check CHECK (kind IN ('log', 'error', 'deploy', 'alert')),
  CONSTRAINT events_level_check CHECK (level IN ('debug', 'info', 'warn', 'error', 'fatal')),
  CONSTRAINT events_provider_check CHECK (provider IN ('supabase', 'render', 'sentry', 'switchyard')),
  PRIMARY KEY (ts, id),
  -- One row per source event (the partition key has to be part of any unique key).
  CONSTRAINT events_source_event_key UNIQUE (source_id, source_event_id, ts)
) PARTITION BY RANGE (ts);
--> statement-breakpoint
-- Every query is by tenant and project, newest first (keyset on ts, id).
CREATE INDEX events_tenant_project_ts_idx ON events (tenant_id, project_id, ts DESC, id DESC);
--> statement-breakpoint
-- `q`: substring search on the message.
CREATE INDEX events_message_trgm_idx ON events USING gin (message gin_trgm_ops);
--> statement-breakpoint
CREATE OR REPLACE FUNCTION switchyard_events_partition(p_day date) RETURNS text LANGUAGE plpgsql AS $$
DECLARE
  v_name text := 'events_p' || to_char(p_day, 'YYYYMMDD');
BEGIN
  IF to_regclass(v_name) IS NOT NULL THEN
    RETURN v_name;
  END IF;
  -- Two ingesters creating the same day's partition: one waits for the other.
  PERFORM pg_advisory_xact_lock(hashtext('switchyard_events_partition'), (p_day - date '2000-01-01'));
  IF to_regclass(v_name) IS NULL THEN
    EXECUTE format('CREATE TABLE %I PARTITION OF events FOR VALUES FROM (%L) TO (%L)',
                   v_name, p_day::timestamp AT TIME ZONE 'UTC', (p_day + 1)::timestamp AT TIME ZONE 'UTC');
  END IF;
  RETURN v_name;
END $$;
