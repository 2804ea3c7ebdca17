-- Supabase Realtime as a transport of its own (DESIGN.md flow ⑥, issue "Supabase Realtime end to
-- end"): what the publisher may do, what a client may read, and no broadcast lost in silence.
--
-- realtime.send runs with its caller's rights and turns every failure into a WARNING: a missing
-- day partition, an RLS policy refusing the insert, a role without the grant. Each of those
-- would drop a status change without a trace. So:
--   * the broadcast goes through switchyard_realtime_send, owned by service_role where we may
--     give it away (BYPASSRLS and the grants Supabase gives it: RLS and grants can't refuse it);
--   * it then counts the rows it wrote; one missing is recorded in realtime_send_failures, with
--     the likeliest reason, and raised as a WARNING. The runner reports new failures in its log.
-- Where the realtime schema doesn't exist (plain Postgres), nothing here broadcasts and no
-- policy is made; the outbox (realtime_events) serves SSE either way.

CREATE TABLE IF NOT EXISTS realtime_send_failures (
  id bigserial PRIMARY KEY,
  created_at timestamptz NOT NULL DEFAULT now(),
  tenant_id text NOT NULL,
  event_id bigint NOT NULL,
  event text NOT NULL,
  topics text[] NOT NULL,
  sent integer NOT NULL,
  reason text NOT NULL,
  -- Set by the sweeper that logged it (db/realtime.repo.ts takeDroppedBroadcasts).
  reported_at timestamptz
);
--> statement-breakpoint
CREATE INDEX IF NOT EXISTS realtime_send_failures_unreported_idx ON realtime_send_failures (id) WHERE reported_at IS NULL;
--> statement-breakpoint

-- Broadcasts one event to each of its topics' private channels; returns how many rows reached
-- realtime.messages (the rows this transaction wrote for this event, found by their payload's
-- event_id at this transaction's inserted_at). Dynamic SQL, so it compiles without the schema.
CREATE OR REPLACE FUNCTION switchyard_realtime_send(p_topics text[], p_event text, p_payload jsonb)
RETURNS integer LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog AS $$
DECLARE
  v_topic text;
  v_sent integer;
BEGIN
  FOREACH v_topic IN ARRAY p_topics LOOP
    EXECUTE 'SELECT realtime.send($1, $2, $3, true)' USING p_payload, p_event, v_topic;
  END LOOP;
  -- inserted_at defaults to now() as a timestamp in the session's zone; the same expression here.
  EXECUTE 'SELECT count(*)::int FROM realtime.messages
            WHERE extension = ''broadcast'' AND private IS TRUE AND inserted_at = now()::timestamp
              AND topic = ANY ($1) AND event = $2 AND payload ->> ''event_id'' = $3'
    INTO v_sent USING p_topics, p_event, p_payload ->> 'event_id';
  RETURN v_sent;
END $$;
--> statement-breakpoint
REVOKE ALL ON FUNCTION switchyard_realtime_send(text[], text, jsonb) FROM PUBLIC;
--> statement-breakpoint

-- Why a broadcast may have been dropped, for the failure record (the WARNING realtime.send raised
-- went to the server log). Catalog lookups only, so any role that publishes may run it.
CREATE OR REPLACE FUNCTION switchyard_realtime_drop_reason() RETURNS text LANGUAGE plpgsql STABLE SET search_path = pg_catalog AS $$
DECLARE
  v_owner text;
BEGIN
  SELECT r.rolname INTO v_owner FROM pg_proc p JOIN pg_roles r ON r.oid = p.proowner
   WHERE p.oid = 'public.switchyard_realtime_send(text[],text,jsonb)'::regprocedure;
  IF NOT EXISTS (
    SELECT 1 FROM pg_inherits i
      JOIN pg_class part ON part.oid = i.inhrelid
      JOIN pg_class parent ON parent.oid = i.inhparent
      JOIN pg_namespace n ON n.oid = parent.relnamespace
     WHERE n.nspname = 'realtime' AND parent.relname = 'messages'
       AND part.relname = 'messages_' || to_char(now() AT TIME ZONE 'utc', 'YYYY_MM_DD')) THEN
    RETURN 'no realtime.messages partition for today (Realtime creates them when a client connects)';
  ELSIF NOT has_table_privilege(v_owner, 'realtime.messages', 'INSERT') OR NOT has_table_privilege(v_owner, 'realtime.messages', 'SELECT') THEN
    RETURN format('role %s may not insert into or select from realtime.messages', v_owner);
  ELSIF NOT (SELECT rolbypassrls OR rolsuper FROM pg_roles WHERE rolname = v_owner) THEN
    RETURN format('role %s is subject to row-level security on realtime.messages', v_owner);
  END IF;
  RETURN 'realtime.send raised a warning (see the database log)';
END $$;
--> statement-breakpoint

-- 'on' where Supabase's realtime.send exists. A catalog lookup (to_regprocedure would need USAGE
-- on the schema from whatever role publishes), kept for the session by the callers.
CREATE OR REPLACE FUNCTION switchyard_realtime_mode() RETURNS text LANGUAGE sql STABLE SET search_path = pg_catalog AS $$
  SELECT CASE WHEN EXISTS (SELECT 1 FROM pg_proc p JOIN pg_namespace n ON n.oid = p.pronamespace
                            WHERE n.nspname = 'realtime' AND p.proname = 'send') THEN 'on' ELSE 'off' END
$$;
--> statement-breakpoint

CREATE OR REPLACE FUNCTION switchyard_realtime_broadcast(p_tenant text, p_event_id bigint, p_topics text[], p_event text, p_payload jsonb)
RETURNS void LANGUAGE plpgsql AS $$
DECLARE
  v_sent integer;
  v_reason text;
BEGIN
  -- The same fields as the SSE data (db/realtime.repo.ts, events.handlers.ts): the payload, its
  -- topics, and the outbox id as event_id.
  v_sent := switchyard_realtime_send(p_topics, p_event, p_payload || jsonb_build_object('topics', to_jsonb(p_topics), 'event_id', p_event_id::text));
  IF v_sent < cardinality(p_topics) THEN
    v_reason := switchyard_realtime_drop_reason();
    INSERT INTO realtime_send_failures (tenant_id, event_id, event, topics, sent, reason)
    VALUES (p_tenant, p_event_id, p_event, p_topics, v_sent, v_reason);
    RAISE WARNING 'switchyard: % of % realtime broadcasts of event % were dropped: %', cardinality(p_topics) - v_sent, cardinality(p_topics), p_event_id, v_reason;
  END IF;
END $$;
--> statement-breakpoint

CREATE OR REPLACE FUNCTION switchyard_publish(p_tenant text, p_topics text[], p_event text, p_payload jsonb)
RETURNS void LANGUAGE plpgsql AS $$
DECLARE
  v_send text := current_setting('switchyard.realtime_send', true);
  v_id bigint;
BEGIN
  IF v_send IS NULL OR v_send = '' THEN
    v_send := switchyard_realtime_mode();
    PERFORM set_config('switchyard.realtime_send', v_send, false);
  END IF;
  INSERT INTO realtime_events (tenant_id, topics, event, payload)
  VALUES (p_tenant, p_topics, p_event, p_payload)
  RETURNING id INTO v_id;
  IF v_send = 'on' THEN
    PERFORM switchyard_realtime_broadcast(p_tenant, v_id, p_topics, p_event, p_payload);
  END IF;
END $$;
--> statement-breakpoint

CREATE OR REPLACE FUNCTION switchyard_broadcast(p_ids bigint[]) RETURNS void LANGUAGE plpgsql AS $$
DECLARE
  r record;
BEGIN
  FOR r IN SELECT e.id, e.tenant_id, e.topics, e.event, e.payload FROM realtime_events e WHERE e.id = ANY (p_ids) ORDER BY e.id LOOP
    PERFORM switchyard_realtime_broadcast(r.tenant_id, r.id, r.topics, r.event, r.payload);
  END LOOP;
END $$;
--> statement-breakpoint

-- The jobs trigger of 20261123064121, with the catalog lookup above.
CREATE OR REPLACE FUNCTION switchyard_jobs_published() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
  v_send text := current_setting('switchyard.realtime_send', true);
  v_ids bigint[];
BEGIN
  IF v_send IS NULL OR v_send = '' THEN
    v_send := switchyard_realtime_mode();
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

-- May a JWT with these claims read this topic? Its tenant (app_metadata.tenant_id) must own the
-- topic's resource, and the API key it was minted for (sub) must belong to that tenant and not
-- be revoked. Unknown, malformed and other tenants' topics: no. Runs with its owner's rights,
-- since policies run as `authenticated`, which has no access to our tables.
CREATE OR REPLACE FUNCTION switchyard_realtime_may_read(p_topic text, p_claims jsonb)
RETURNS boolean LANGUAGE plpgsql STABLE SECURITY DEFINER SET search_path = pg_catalog, public AS $$
DECLARE
  v_tenant text := p_claims -> 'app_metadata' ->> 'tenant_id';
  v_key text := p_claims ->> 'sub';
  v_kind text := split_part(p_topic, ':', 1);
  v_id text := split_part(p_topic, ':', 2);
BEGIN
  IF v_tenant IS NULL OR v_key IS NULL OR p_topic IS NULL
     OR p_topic !~ '^(tenant|project|store|job):[a-z]{3}_[0-9a-z]{26}$' THEN
    RETURN false;
  END IF;
  IF NOT EXISTS (SELECT 1 FROM api_keys WHERE id = v_key AND tenant_id = v_tenant AND revoked_at IS NULL) THEN
    RETURN false;
  END IF;
  RETURN CASE v_kind
    WHEN 'tenant' THEN v_id = v_tenant
    WHEN 'project' THEN EXISTS (SELECT 1 FROM projects WHERE id = v_id AND tenant_id = v_tenant)
    WHEN 'store' THEN EXISTS (SELECT 1 FROM stores WHERE id = v_id AND tenant_id = v_tenant)
    WHEN 'job' THEN EXISTS (SELECT 1 FROM jobs WHERE id = v_id AND tenant_id = v_tenant)
    ELSE false
  END;
END $$;
--> statement-breakpoint
REVOKE ALL ON FUNCTION switchyard_realtime_may_read(text, jsonb) FROM PUBLIC;
--> statement-breakpoint

-- Topic names we publish on; nobody else may write them, and only their tenant may read them.
CREATE OR REPLACE FUNCTION switchyard_is_topic(p_topic text) RETURNS boolean LANGUAGE sql IMMUTABLE AS $$
  SELECT p_topic ~ '^(tenant|project|store|job):'
$$;
--> statement-breakpoint

DO $$
BEGIN
  IF to_regclass('realtime.messages') IS NULL OR to_regprocedure('auth.jwt()') IS NULL THEN
    RETURN; -- not a Supabase database
  END IF;

  -- The publisher runs as service_role when we may hand the function to it.
  BEGIN
    ALTER FUNCTION switchyard_realtime_send(text[], text, jsonb) OWNER TO service_role;
  EXCEPTION WHEN insufficient_privilege OR undefined_object THEN
    RAISE WARNING 'switchyard: % can''t hand the publisher to service_role (%); broadcasts run with its own rights and are checked after each send', current_user, SQLERRM;
  END;
  EXECUTE format('GRANT EXECUTE ON FUNCTION switchyard_realtime_send(text[], text, jsonb) TO %I', current_user);
  GRANT EXECUTE ON FUNCTION switchyard_realtime_may_read(text, jsonb) TO anon, authenticated;
  GRANT EXECUTE ON FUNCTION switchyard_is_topic(text) TO anon, authenticated;

  DROP POLICY IF EXISTS "switchyard: a tenant reads its topics" ON realtime.messages;
  CREATE POLICY "switchyard: a tenant reads its topics" ON realtime.messages
    AS PERMISSIVE FOR SELECT TO authenticated
    USING (extension = 'broadcast' AND public.switchyard_realtime_may_read(realtime.topic(), auth.jwt()));

  -- Restrictive: whatever else a project allows on realtime.messages, our topics stay ours.
  DROP POLICY IF EXISTS "switchyard: only its tenant reads our topics" ON realtime.messages;
  CREATE POLICY "switchyard: only its tenant reads our topics" ON realtime.messages
    AS RESTRICTIVE FOR SELECT TO anon, authenticated
    USING (NOT public.switchyard_is_topic(topic)
           OR (extension = 'broadcast' AND public.switchyard_realtime_may_read(topic, auth.jwt())));
  DROP POLICY IF EXISTS "switchyard: nobody else writes our topics" ON realtime.messages;
  CREATE POLICY "switchyard: nobody else writes our topics" ON realtime.messages
    AS RESTRICTIVE FOR INSERT TO anon, authenticated
    WITH CHECK (NOT public.switchyard_is_topic(topic));
  DROP POLICY IF EXISTS "switchyard: nobody else rewrites our topics" ON realtime.messages;
  CREATE POLICY "switchyard: nobody else rewrites our topics" ON realtime.messages
    AS RESTRICTIVE FOR UPDATE TO anon, authenticated
    USING (NOT public.switchyard_is_topic(topic)) WITH CHECK (NOT public.switchyard_is_topic(topic));
END $$;
