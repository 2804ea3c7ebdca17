ALTER TABLE "alert_rules" ADD COLUMN "channel_failures" integer DEFAULT 0 NOT NULL;--> statement-breakpoint
ALTER TABLE "alert_rules" ADD COLUMN "channel_last_error" text;--> statement-breakpoint
ALTER TABLE "alert_rules" ADD COLUMN "channel_last_failure_at" timestamp with time zone;--> statement-breakpoint
ALTER TABLE "alert_rules" ADD COLUMN "channel_last_success_at" timestamp with time zone;