CREATE TABLE "rate_limits" (
	"tenant_id" text NOT NULL,
	"bucket" text NOT NULL,
	"tokens" double precision NOT NULL,
	"updated_at" timestamp with time zone DEFAULT now() NOT NULL,
	CONSTRAINT "rate_limits_tenant_id_bucket_pk" PRIMARY KEY("tenant_id","bucket")
);
--> statement-breakpoint
CREATE TABLE "stores" (
	"id" text PRIMARY KEY NOT NULL,
	"tenant_id" text NOT NULL,
	"name" text NOT NULL,
	"engine" text NOT NULL,
	"plan" text NOT NULL,
	"runtime" text NOT NULL,
	"status" text NOT NULL,
	"provider_ref" text,
	"urls" jsonb DEFAULT '{}'::jsonb NOT NULL,
	"runtime_details" jsonb DEFAULT '{}'::jsonb NOT NULL,
	"initial_credentials" text,
	"credentials_revealed_at" timestamp with time zone,
	"last_error" text,
	"created_at" timestamp with time zone DEFAULT now() NOT NULL,
	"updated_at" timestamp with time zone DEFAULT now() NOT NULL,
	CONSTRAINT "stores_engine_check" CHECK ("stores"."engine" in ('woocommerce', 'medusa')),
	CONSTRAINT "stores_runtime_check" CHECK ("stores"."runtime" in ('postgres', 'kubernetes')),
	CONSTRAINT "stores_status_check" CHECK ("stores"."status" in ('provisioning', 'ready', 'failed', 'deleting', 'deleted'))
);
--> statement-breakpoint
ALTER TABLE "stores" ADD CONSTRAINT "stores_tenant_id_tenants_id_fk" FOREIGN KEY ("tenant_id") REFERENCES "public"."tenants"("id") ON DELETE no action ON UPDATE no action;--> statement-breakpoint
CREATE UNIQUE INDEX "stores_tenant_name_key" ON "stores" USING btree ("tenant_id","name") WHERE "stores"."status" <> 'deleted';--> statement-breakpoint
CREATE INDEX "stores_tenant_id_idx" ON "stores" USING btree ("tenant_id","id");