-- Rate limits on every route (functions/middleware/rate-limit.ts): a request takes one token from
-- each bucket that applies to it (its tenant's plan, and its route's class where there is one),
-- all or none, in one call. The buckets are UNLOGGED: a limit's state is not worth a WAL write
-- per request, and after a crash every bucket simply starts full.
ALTER TABLE "rate_limits" SET UNLOGGED;
--> statement-breakpoint
CREATE OR REPLACE FUNCTION take_rate_limit_tokens(p_key text, p_buckets text[], p_burst float8[], p_per_second float8[])
RETURNS TABLE(bucket text, tokens float8, allowed boolean)
LANGUAGE plpgsql AS $$
#variable_conflict use_column
DECLARE
  n int := coalesce(array_length(p_buckets, 1), 0);
  cur float8[] := array_fill(0::float8, ARRAY[greatest(n, 1)]);
  ok boolean := true;
  t float8;
  u timestamptz;
  ts timestamptz[] := ARRAY[]::timestamptz[];
  at_ts timestamptz;
BEGIN
  -- Lock every bucket first (the caller passes them sorted by name, so two calls lock in the
  -- same order), creating a missing one full; only then read the clock, so a call that waited
  -- for a lock never writes a time older than the one it waited for.
  FOR i IN 1..n LOOP
    SELECT r.tokens, r.updated_at INTO t, u FROM rate_limits r
     WHERE r.tenant_id = p_key AND r.bucket = p_buckets[i] FOR UPDATE;
    IF NOT FOUND THEN
      INSERT INTO rate_limits (tenant_id, bucket, tokens, updated_at) VALUES (p_key, p_buckets[i], p_burst[i], clock_timestamp())
      ON CONFLICT (tenant_id, bucket) DO NOTHING;
      SELECT r.tokens, r.updated_at INTO t, u FROM rate_limits r
       WHERE r.tenant_id = p_key AND r.bucket = p_buckets[i] FOR UPDATE;
    END IF;
    cur[i] := t;
    ts := ts || u;
  END LOOP;
  at_ts := clock_timestamp();
  FOR i IN 1..n LOOP
    cur[i] := least(p_burst[i], cur[i] + greatest(0, extract(epoch FROM at_ts - ts[i])) * p_per_second[i]);
    IF cur[i] < 1 THEN ok := false; END IF;
  END LOOP;
  -- A refused request changes nothing: the refill is computed from the last taken token.
  IF ok THEN
    FOR i IN 1..n LOOP
      cur[i] := cur[i] - 1;
      UPDATE rate_limits r SET tokens = cur[i], updated_at = at_ts WHERE r.tenant_id = p_key AND r.bucket = p_buckets[i];
    END LOOP;
  END IF;
  RETURN QUERY SELECT p_buckets[k], cur[k], ok FROM generate_subscripts(p_buckets, 1) AS k;
END
$$;
