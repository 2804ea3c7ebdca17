CREATE TABLE "alert_rules" (
	"id" text PRIMARY KEY NOT NULL,
	"tenant_id" text NOT NULL,
	"project_id" text NOT NULL,
	"name" text NOT NULL,
	"filter" jsonb DEFAULT '{}'::jsonb NOT NULL,
	"threshold" integer NOT NULL,
	"window_s" integer NOT NULL,
	"cooldown_s" integer NOT NULL,
	"channel_type" text NOT NULL,
	"channel_url" text NOT NULL,
	"channel_host" text NOT NULL,
	"signing_secret" text NOT NULL,
	"next_eval_at" timestamp with time zone,
	"eval_interval_s" integer DEFAULT 60 NOT NULL,
	"last_fired_at" timestamp with time zone,
	"firings" integer DEFAULT 0 NOT NULL,
	"deleted_at" timestamp with time zone,
	"created_at" timestamp with time zone DEFAULT now() NOT NULL,
	CONSTRAINT "alert_rules_channel_check" CHECK ("alert_rules"."channel_type" in ('slack', 'webhook'))
);
--> statement-breakpoint
CREATE TABLE "schedules" (
	"name" text PRIMARY KEY NOT NULL,
	"next_run_at" timestamp with time zone DEFAULT now() NOT NULL,
	"last_result" jsonb
);
--> statement-breakpoint
ALTER TABLE "log_sources" ADD COLUMN "next_pull_at" timestamp with time zone;--> statement-breakpoint
ALTER TABLE "log_sources" ADD COLUMN "pull_interval_s" integer DEFAULT 60 NOT NULL;--> statement-breakpoint
ALTER TABLE "alert_rules" ADD CONSTRAINT "alert_rules_tenant_id_tenants_id_fk" FOREIGN KEY ("tenant_id") REFERENCES "public"."tenants"("id") ON DELETE no action ON UPDATE no action;--> statement-breakpoint
ALTER TABLE "alert_rules" ADD CONSTRAINT "alert_rules_project_id_projects_id_fk" FOREIGN KEY ("project_id") REFERENCES "public"."projects"("id") ON DELETE no action ON UPDATE no action;--> statement-breakpoint
CREATE INDEX "alert_rules_tenant_idx" ON "alert_rules" USING btree ("tenant_id","id");--> statement-breakpoint
CREATE INDEX "alert_rules_next_eval_idx" ON "alert_rules" USING btree ("next_eval_at") WHERE "alert_rules"."deleted_at" is null;--> statement-breakpoint
CREATE INDEX "log_sources_next_pull_idx" ON "log_sources" USING btree ("next_pull_at") WHERE "log_sources"."deleted_at" is null and "log_sources"."next_pull_at" is not null;