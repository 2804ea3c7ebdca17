-- Realtime publishing (DESIGN.md flow ⑥): every job and resource transition is published by a
-- trigger in the same transaction as the change, so an event exists exactly when the change does.
--   * realtime_events: the outbox. SSE servers read it (woken by a NOTIFY sent after commit, or by
--     their poll) and clients resume from it with Last-Event-ID.
--   * realtime.send(...): Supabase Realtime broadcast, only where that function exists.
--
-- Why no pg_notify here: Postgres serialises the commits of every transaction that has called
-- NOTIFY under one lock held through the WAL flush, so a NOTIFY in each status transaction caps
-- the whole system at one commit per fsync. Writers send a payload-free wake-up after commit
-- instead (db/notify.repo.ts), whose own commit doesn't wait for a WAL flush.

CREATE OR REPLACE FUNCTION switchyard_publish(p_tenant text, p_topics text[], p_event text, p_payload jsonb)
RETURNS void LANGUAGE plpgsql AS $$
DECLARE
  v_id bigint;
  v_topic text;
BEGIN
  INSERT INTO realtime_events (tenant_id, topics, event, payload)
  VALUES (p_tenant, p_topics, p_event, p_payload)
  RETURNING id INTO v_id;

  -- On Supabase, broadcast to private channels as well. Looked up at run time so that the same
  -- migration applies to a plain Postgres, where the realtime schema does not exist.
  IF to_regprocedure('realtime.send(jsonb,text,text,boolean)') IS NOT NULL THEN
    FOREACH v_topic IN ARRAY p_topics LOOP
      EXECUTE 'SELECT realtime.send($1, $2, $3, true)'
        USING p_payload || jsonb_build_object('id', v_id), p_event, v_topic;
    END LOOP;
  END IF;
END $$;
--> statement-breakpoint

-- Resource rows (projects, later stores): TG_ARGV[0] is the topic prefix, the rest are columns
-- that must never leave the database in an event (ciphertexts and the like).
CREATE OR REPLACE FUNCTION switchyard_resource_published() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
  v_row jsonb := to_jsonb(NEW);
  i int;
BEGIN
  IF TG_OP = 'UPDATE' AND NEW.status IS NOT DISTINCT FROM OLD.status THEN
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
--> statement-breakpoint

CREATE OR REPLACE FUNCTION switchyard_job_published() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
  v_topics text[];
BEGIN
  IF TG_OP = 'UPDATE' AND NEW.status IS NOT DISTINCT FROM OLD.status AND NEW.run_at IS NOT DISTINCT FROM OLD.run_at THEN
    RETURN NULL;
  END IF;
  v_topics := ARRAY['tenant:' || NEW.tenant_id, 'job:' || NEW.id];
  IF NEW.subject_type IS NOT NULL THEN
    v_topics := v_topics || (NEW.subject_type || ':' || NEW.subject_id);
  END IF;
  PERFORM switchyard_publish(
    NEW.tenant_id, v_topics, 'job',
    jsonb_build_object('id', NEW.id, 'kind', NEW.kind, 'status', NEW.status,
                       'previous_status', CASE WHEN TG_OP = 'UPDATE' THEN OLD.status END,
                       'subject_type', NEW.subject_type, 'subject_id', NEW.subject_id,
                       'attempts', NEW.attempts, 'steps', NEW.steps, 'run_at', NEW.run_at,
                       'last_error', NEW.last_error, 'updated_at', NEW.updated_at));
  RETURN NULL;
END $$;
--> statement-breakpoint

CREATE TRIGGER projects_published AFTER INSERT OR UPDATE ON projects
  FOR EACH ROW EXECUTE FUNCTION switchyard_resource_published('project', 'connection');
--> statement-breakpoint
CREATE TRIGGER jobs_published AFTER INSERT OR UPDATE ON jobs
  FOR EACH ROW EXECUTE FUNCTION switchyard_job_published();
