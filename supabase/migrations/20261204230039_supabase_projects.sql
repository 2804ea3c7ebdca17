ALTER TABLE "projects" ADD COLUMN "provider_details" jsonb DEFAULT '{}'::jsonb NOT NULL;--> statement-breakpoint
ALTER TABLE "projects" ADD COLUMN "health" jsonb;--> statement-breakpoint
-- A project's health changing (its `status`) is published like a status change, so clients see a
-- project turn unhealthy without polling. Other tables have no `health`, and publish as before.
CREATE OR REPLACE FUNCTION switchyard_resource_published() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
  v_row jsonb := to_jsonb(NEW);
  i int;
BEGIN
  IF TG_OP = 'UPDATE' AND NEW.status IS NOT DISTINCT FROM OLD.status
     AND v_row->'health'->>'status' IS NOT DISTINCT FROM to_jsonb(OLD)->'health'->>'status' THEN
    RETURN NULL;
  END IF;
  FOR i IN 1 .. TG_NARGS - 1 LOOP
    v_row := v_row - TG_ARGV[i];
  END LOOP;
  PERFORM switchyard_publish(
    NEW.tenant_id,
    ARRAY['tenant:' || NEW.tenant_id, TG_ARGV[0] || ':' || NEW.id],
    'status',
    jsonb_build_object('type', TG_ARGV[0],
                       'previous_status', CASE WHEN TG_OP = 'UPDATE' THEN OLD.status END,
                       'resource', v_row));
  RETURN NULL;
END $$;
