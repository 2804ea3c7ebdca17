CREATE TABLE "audit_log" (
	"id" text PRIMARY KEY NOT NULL,
	"ts" timestamp with time zone DEFAULT now() NOT NULL,
	"tenant_id" text,
	"key_id" text,
	"key_role" text,
	"key_prefix" text,
	"method" text NOT NULL,
	"route" text NOT NULL,
	"resource_id" text,
	"status" integer,
	"request_id" text NOT NULL,
	"client_address" text,
	"user_agent" text,
	"outcome_at" timestamp with time zone
);
--> statement-breakpoint
CREATE INDEX "audit_log_tenant_idx" ON "audit_log" USING btree ("tenant_id","id");--> statement-breakpoint
CREATE INDEX "audit_log_ts_idx" ON "audit_log" USING btree ("ts");--> statement-breakpoint
-- Append-only: the one change allowed is filling in a pending row's outcome, once. Deleting is
-- left to retention (the sweeper), which no API route reaches.
CREATE OR REPLACE FUNCTION audit_log_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  IF OLD.status IS NULL AND NEW.status IS NOT NULL
     AND (to_jsonb(NEW) - 'status' - 'outcome_at' - 'resource_id') = (to_jsonb(OLD) - 'status' - 'outcome_at' - 'resource_id') THEN
    RETURN NEW;
  END IF;
  RAISE EXCEPTION 'the audit log is append-only: only a pending row''s outcome may be set, once' USING ERRCODE = 'insufficient_privilege';
END $$;
--> statement-breakpoint
CREATE TRIGGER audit_log_append_only BEFORE UPDATE ON audit_log FOR EACH ROW EXECUTE FUNCTION audit_log_append_only();
