CREATE TABLE "project_metrics" (
	"tenant_id" text NOT NULL,
	"project_id" text NOT NULL,
	"ts" timestamp with time zone NOT NULL,
	"connections_total" integer NOT NULL,
	"connections_active" integer NOT NULL,
	"connections_idle" integer NOT NULL,
	"connections_idle_in_tx" integer NOT NULL,
	"connections_limit" integer NOT NULL,
	"xact_commit" bigint NOT NULL,
	"xact_rollback" bigint NOT NULL,
	"blks_hit" bigint NOT NULL,
	"blks_read" bigint NOT NULL,
	"deadlocks" bigint NOT NULL,
	"temp_bytes" bigint NOT NULL,
	"size_bytes" bigint NOT NULL,
	"top_statements" jsonb,
	CONSTRAINT "project_metrics_project_id_ts_pk" PRIMARY KEY("project_id","ts")
);
--> statement-breakpoint
ALTER TABLE "alert_rules" DROP CONSTRAINT "alert_rules_channel_check";--> statement-breakpoint
ALTER TABLE "alert_rules" ADD COLUMN "metric" jsonb;--> statement-breakpoint
ALTER TABLE "alert_rules" ADD COLUMN "firing_since" timestamp with time zone;--> statement-breakpoint
ALTER TABLE "projects" ADD COLUMN "next_health_at" timestamp with time zone DEFAULT now();--> statement-breakpoint
ALTER TABLE "projects" ADD COLUMN "next_metrics_at" timestamp with time zone DEFAULT now();--> statement-breakpoint
ALTER TABLE "project_metrics" ADD CONSTRAINT "project_metrics_tenant_id_tenants_id_fk" FOREIGN KEY ("tenant_id") REFERENCES "public"."tenants"("id") ON DELETE no action ON UPDATE no action;--> statement-breakpoint
ALTER TABLE "project_metrics" ADD CONSTRAINT "project_metrics_project_id_projects_id_fk" FOREIGN KEY ("project_id") REFERENCES "public"."projects"("id") ON DELETE no action ON UPDATE no action;--> statement-breakpoint
CREATE INDEX "project_metrics_tenant_project_ts_idx" ON "project_metrics" USING btree ("tenant_id","project_id","ts");--> statement-breakpoint
CREATE INDEX "project_metrics_ts_idx" ON "project_metrics" USING btree ("ts");--> statement-breakpoint
CREATE INDEX "projects_next_health_idx" ON "projects" USING btree ("next_health_at") WHERE "projects"."status" in ('active', 'degraded');--> statement-breakpoint
CREATE INDEX "projects_next_metrics_idx" ON "projects" USING btree ("next_metrics_at") WHERE "projects"."status" in ('active', 'degraded');--> statement-breakpoint
ALTER TABLE "alert_rules" ADD CONSTRAINT "alert_rules_channel_check" CHECK ("alert_rules"."channel_type" in ('slack', 'webhook', 'pagerduty'));