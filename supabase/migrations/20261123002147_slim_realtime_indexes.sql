DROP INDEX "realtime_events_tenant_idx";--> statement-breakpoint
DROP INDEX "realtime_events_created_idx";--> statement-breakpoint
CREATE INDEX "realtime_events_created_brin" ON "realtime_events" USING brin ("created_at");