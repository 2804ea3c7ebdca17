-- Canary rollouts, continued: shadow policies (judged on every interval beside the rollout's own,
-- stored and shown, never acted on) and a `notify` webhook for each decision (Standard Webhooks,
-- sent by a job like alert notifications, with the same address guard and retries).

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
