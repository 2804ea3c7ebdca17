-- Canary rollouts (issue "Canary decisions"): one more resource on the same flow. A route writes
-- the rollout and its `rollout.evaluate` job; the job judges it every interval and writes one
-- decision per window in its outcome transaction; triggers publish both.

CREATE TABLE canary_policies (
  id text PRIMARY KEY,
  tenant_id text NOT NULL REFERENCES tenants (id),
  name text NOT NULL,
  version integer NOT NULL,
  -- sha256 of the normalized document (core/canary/policy.ts): the same policy, the same hash.
  hash text NOT NULL,
  yaml text NOT NULL,
  document jsonb NOT NULL,
  created_at timestamptz NOT NULL DEFAULT now(),
  UNIQUE (tenant_id, name, version),
  UNIQUE (tenant_id, name, hash)
);
--> statement-breakpoint

CREATE TABLE rollouts (
  id text PRIMARY KEY,
  tenant_id text NOT NULL REFERENCES tenants (id),
  project_id text NOT NULL REFERENCES projects (id),
  service text NOT NULL,
  baseline_version text NOT NULL,
  canary_version text NOT NULL,
  policy_id text NOT NULL REFERENCES canary_policies (id),
  status text NOT NULL DEFAULT 'pending',
  step_index integer NOT NULL DEFAULT 0,
  weight integer NOT NULL,
  step_started_at timestamptz,
  -- When the first step began (backtests replay from here).
  started_at timestamptz,
  -- Fixed by the first latency point: every histogram of a rollout merges with every other.
  latency_boundaries double precision[],
  -- Flagger's revision checksum, fixed by its first webhook call: a call for another revision is refused.
  flagger_checksum text,
  last_error text,
  created_at timestamptz NOT NULL DEFAULT now(),
  updated_at timestamptz NOT NULL DEFAULT now(),
  CONSTRAINT rollouts_status_check CHECK (status IN ('pending', 'running', 'paused', 'promoted', 'rolled_back', 'aborted'))
);
--> statement-breakpoint
CREATE INDEX rollouts_tenant_idx ON rollouts (tenant_id, id);
--> statement-breakpoint
-- OTLP and telemetry find a live rollout by its service and versions.
CREATE INDEX rollouts_live_service_idx ON rollouts (tenant_id, service) WHERE status IN ('pending', 'running', 'paused');
--> statement-breakpoint

-- Telemetry as sent: one point per rollout, track and timestamp (a repeat of the same point is a
-- duplicate and is ignored). Windows are sums over these, so a restart loses nothing.
CREATE TABLE rollout_points (
  rollout_id text NOT NULL REFERENCES rollouts (id) ON DELETE CASCADE,
  track text NOT NULL,
  ts timestamptz NOT NULL,
  requests bigint NOT NULL,
  errors bigint NOT NULL,
  latency_counts bigint[],
  received_at timestamptz NOT NULL DEFAULT now(),
  PRIMARY KEY (rollout_id, ts, track),
  CONSTRAINT rollout_points_track_check CHECK (track IN ('baseline', 'canary')),
  CONSTRAINT rollout_points_counts_check CHECK (requests >= 0 AND errors >= 0 AND errors <= requests)
);
--> statement-breakpoint

CREATE TABLE rollout_decisions (
  id bigserial PRIMARY KEY,
  rollout_id text NOT NULL REFERENCES rollouts (id) ON DELETE CASCADE,
  tenant_id text NOT NULL,
  policy_id text NOT NULL REFERENCES canary_policies (id),
  window_start timestamptz NOT NULL,
  window_end timestamptz NOT NULL,
  step_index integer NOT NULL,
  verdict text NOT NULL,
  sentence text NOT NULL,
  explanation jsonb NOT NULL,
  -- Shadow policies' decisions are stored and shown, never acted on.
  shadow boolean NOT NULL DEFAULT false,
  created_at timestamptz NOT NULL DEFAULT now(),
  CONSTRAINT rollout_decisions_verdict_check CHECK (verdict IN ('promote', 'wait', 'pause', 'rollback')),
  -- One decision per rollout, policy and window: duplicate deliveries and racing workers can't make two.
  UNIQUE (rollout_id, policy_id, window_end)
);
--> statement-breakpoint

CREATE TRIGGER rollouts_published AFTER INSERT OR UPDATE ON rollouts
  FOR EACH ROW EXECUTE FUNCTION switchyard_resource_published('rollout', 'latency_boundaries', 'flagger_checksum');
--> statement-breakpoint

CREATE OR REPLACE FUNCTION switchyard_decision_published() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  PERFORM switchyard_publish(
    NEW.tenant_id,
    ARRAY['tenant:' || NEW.tenant_id, 'rollout:' || NEW.rollout_id],
    'decision',
    jsonb_build_object('id', NEW.id::text, 'rollout_id', NEW.rollout_id, 'policy_id', NEW.policy_id, 'verdict', NEW.verdict,
                       'sentence', NEW.sentence, 'step_index', NEW.step_index, 'shadow', NEW.shadow,
                       'window_start', NEW.window_start, 'window_end', NEW.window_end));
  RETURN NULL;
END $$;
--> statement-breakpoint
CREATE TRIGGER rollout_decisions_published AFTER INSERT ON rollout_decisions
  FOR EACH ROW EXECUTE FUNCTION switchyard_decision_published();
--> statement-breakpoint

-- Realtime: rollout topics are the tenant's too.
CREATE OR REPLACE FUNCTION switchyard_realtime_may_read(p_topic text, p_claims jsonb)
RETURNS boolean LANGUAGE plpgsql STABLE SECURITY DEFINER SET search_path = pg_catalog, public AS $$
DECLARE
  v_tenant text := p_claims -> 'app_metadata' ->> 'tenant_id';
  v_key text := p_claims ->> 'sub';
  v_kind text := split_part(p_topic, ':', 1);
  v_id text := split_part(p_topic, ':', 2);
BEGIN
  IF v_tenant IS NULL OR v_key IS NULL OR p_topic IS NULL
     OR p_topic !~ '^(tenant|project|store|job|rollout):[a-z]{3}_[0-9a-z]{26}$' THEN
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
    WHEN 'rollout' THEN EXISTS (SELECT 1 FROM rollouts WHERE id = v_id AND tenant_id = v_tenant)
    ELSE false
  END;
END $$;
--> statement-breakpoint
CREATE OR REPLACE FUNCTION switchyard_is_topic(p_topic text) RETURNS boolean LANGUAGE sql IMMUTABLE AS $$
  SELECT p_topic ~ '^(tenant|project|store|job|rollout):'
$$;
