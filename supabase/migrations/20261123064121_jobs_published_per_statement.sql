-- Job transitions are published once per statement instead of once per row (DESIGN.md flow ⑥;
-- the events are the same as 20261122235208_realtime.sql wrote).
--
-- The queue changes jobs in batches: a claim starts several at once and a completion finishes
-- several. As a row trigger, every changed job cost two nested PL/pgSQL calls
-- (switchyard_job_published, then switchyard_publish) around a one-row INSERT; with
-- pg_stat_statements tracking nested statements, that was ~0.07 ms per row and a quarter of the
-- time of the runner's complete-and-claim call. A statement trigger reads the changed rows from
-- its transition tables and writes all their events in one INSERT ... SELECT.
--
-- Transition tables rule out a column list (UPDATE OF status) and a WHEN clause, so the trigger
-- fires on every UPDATE of jobs and keeps only the rows whose status or run_at changed, as the
-- row trigger did. A statement that changes no rows still fires it, and inserts nothing.

-- The topics and the payload of a job event, shared by both triggers.
CREATE OR REPLACE FUNCTION switchyard_job_topics(j jobs) RETURNS text[] LANGUAGE sql STABLE AS $$
  SELECT CASE WHEN j.subject_type IS NULL
              THEN ARRAY['tenant:' || j.tenant_id, 'job:' || j.id]
              ELSE ARRAY['tenant:' || j.tenant_id, 'job:' || j.id, j.subject_type || ':' || j.subject_id] END
$$;
--> statement-breakpoint

CREATE OR REPLACE FUNCTION switchyard_job_payload(j jobs, p_previous_status text) RETURNS jsonb LANGUAGE sql STABLE AS $$
  SELECT jsonb_build_object('id', j.id, 'kind', j.kind, 'status', j.status, 'previous_status', p_previous_status,
                            'subject_type', j.subject_type, 'subject_id', j.subject_id,
                            'attempts', j.attempts, 'steps', j.steps, 'run_at', j.run_at,
                            'last_error', j.last_error, 'updated_at', j.updated_at)
$$;
--> statement-breakpoint

-- On Supabase, each outbox row is also broadcast to its topics' private channels, as
-- switchyard_publish does for a single event. Only called where realtime.send exists.
CREATE OR REPLACE FUNCTION switchyard_broadcast(p_ids bigint[]) RETURNS void LANGUAGE plpgsql AS $$
DECLARE
  r record;
  v_topic text;
BEGIN
  FOR r IN SELECT e.id, e.topics, e.event, e.payload FROM realtime_events e WHERE e.id = ANY (p_ids) ORDER BY e.id LOOP
    FOREACH v_topic IN ARRAY r.topics LOOP
      EXECUTE 'SELECT realtime.send($1, $2, $3, true)' USING r.payload || jsonb_build_object('id', r.id), r.event, v_topic;
    END LOOP;
  END LOOP;
END $$;
--> statement-breakpoint

CREATE OR REPLACE FUNCTION switchyard_jobs_published() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
  v_send text := current_setting('switchyard.realtime_send', true);
  v_ids bigint[];
BEGIN
  IF v_send IS NULL OR v_send = '' THEN
    v_send := CASE WHEN to_regprocedure('realtime.send(jsonb,text,text,boolean)') IS NULL THEN 'off' ELSE 'on' END;
    PERFORM set_config('switchyard.realtime_send', v_send, false);
  END IF;

  -- PL/pgSQL plans a statement when it first runs it, so the INSERT trigger never plans the
  -- branch that reads old_rows (which it doesn't have).
  IF TG_OP = 'INSERT' THEN
    WITH ins AS (
      INSERT INTO realtime_events (tenant_id, topics, event, payload)
      SELECT n.tenant_id, switchyard_job_topics(n), 'job', switchyard_job_payload(n, NULL) FROM new_rows n
      RETURNING id
    )
    SELECT array_agg(ins.id) INTO v_ids FROM ins;
  ELSE
    WITH ins AS (
      INSERT INTO realtime_events (tenant_id, topics, event, payload)
      SELECT n.tenant_id, switchyard_job_topics(n), 'job', switchyard_job_payload(n, o.status)
        FROM new_rows n JOIN old_rows o ON o.id = n.id
       WHERE n.status IS DISTINCT FROM o.status OR n.run_at IS DISTINCT FROM o.run_at
      RETURNING id
    )
    SELECT array_agg(ins.id) INTO v_ids FROM ins;
  END IF;

  IF v_send = 'on' AND v_ids IS NOT NULL THEN
    PERFORM switchyard_broadcast(v_ids);
  END IF;
  RETURN NULL;
END $$;
--> statement-breakpoint

DROP TRIGGER IF EXISTS jobs_published ON jobs;
--> statement-breakpoint
DROP FUNCTION IF EXISTS switchyard_job_published();
--> statement-breakpoint
CREATE TRIGGER jobs_published_insert AFTER INSERT ON jobs
  REFERENCING NEW TABLE AS new_rows
  FOR EACH STATEMENT EXECUTE FUNCTION switchyard_jobs_published();
--> statement-breakpoint
CREATE TRIGGER jobs_published_update AFTER UPDATE ON jobs
  REFERENCING OLD TABLE AS old_rows NEW TABLE AS new_rows
  FOR EACH STATEMENT EXECUTE FUNCTION switchyard_jobs_published();
