-- Canary rollouts, continued: shadow policies (judged on every interval beside the rollout's own,
-- stored and shown, never acted on) and a `notify` webhook for each decision (Standard Webhooks,
-- sent by a job like alert notifications, with the same address guard and retries), and OTLP
-- metrics ingestion.

ALTER TABLE rollouts ADD COLUMN shadow_policy_ids text[] NOT NULL DEFAULT '{}';
--> statement-breakpoint
-- The URL and signing secret are sealed (functions/lib/crypto.ts); the host is shown.
ALTER TABLE rollouts ADD COLUMN notify_url text;
--> statement-breakpoint
ALTER TABLE rollouts ADD COLUMN notify_host text;
--> statement-breakpoint
ALTER TABLE rollouts ADD COLUMN notify_secret text;
--> statement-breakpoint
-- A channel that keeps failing shows on the rollout, as it does on an alert rule.
ALTER TABLE rollouts ADD COLUMN notify_failures integer NOT NULL DEFAULT 0;
--> statement-breakpoint
ALTER TABLE rollouts ADD COLUMN notify_last_error text;
--> statement-breakpoint
ALTER TABLE rollouts ADD COLUMN notify_last_success_at timestamptz;
--> statement-breakpoint

-- Published rollout rows leave out the sealed columns as well.
DROP TRIGGER rollouts_published ON rollouts;
--> statement-breakpoint
CREATE TRIGGER rollouts_published AFTER INSERT OR UPDATE ON rollouts
  FOR EACH ROW EXECUTE FUNCTION switchyard_resource_published('rollout', 'latency_boundaries', 'flagger_checksum', 'notify_url', 'notify_secret');
--> statement-breakpoint

-- OTLP/HTTP metrics (POST /v1/otlp/v1/metrics, core/canary/otlp.ts): the last point seen of each
-- series (resource and data-point attributes, start time, temporality; `series` is their sha256).
-- A cumulative point counts only its difference from this one; a point not newer than it is a
-- repeat and counts nothing.
CREATE TABLE rollout_otlp_series (
  rollout_id text NOT NULL REFERENCES rollouts (id) ON DELETE CASCADE,
  series text NOT NULL,
  track text NOT NULL,
  last_time_ns numeric(20),
  count bigint NOT NULL DEFAULT 0,
  bucket_counts bigint[],
  PRIMARY KEY (rollout_id, series),
  CONSTRAINT rollout_otlp_series_track_check CHECK (track IN ('baseline', 'canary'))
);
