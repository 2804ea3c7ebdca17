-- Rate limits in batches (core/rate-limit.ts `coalescing`): the requests of one process that wait
-- on the same buckets while a call is running go together in the next call, which grants as
-- many of them as every bucket has whole tokens for, in arrival order. One statement (and one
-- lock of a tenant's hot bucket row) per batch instead of per request; tokens are taken only for
-- requests that are granted, so the limit stays exact across processes.
CREATE OR REPLACE FUNCTION take_rate_limit_token_batch(p_key text, p_buckets text[], p_burst float8[], p_per_second float8[], p_count int)
RETURNS TABLE(bucket text, tokens float8, granted int)
LANGUAGE plpgsql AS $$
#variable_conflict use_column
DECLARE
  n int := coalesce(array_length(p_buckets, 1), 0);
  cur float8[] := array_fill(0::float8, ARRAY[greatest(n, 1)]);
  g int := greatest(p_count, 0);
  t float8;
  u timestamptz;
  ts timestamptz[] := ARRAY[]::timestamptz[];
  at_ts timestamptz;
BEGIN
  -- Lock every bucket first (sorted by name by the caller, so two calls lock in the same order),
  -- creating a missing one full; only then read the clock, so a call that waited for a lock never
  -- writes a time older than the one it waited for.
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
    g := least(g, floor(cur[i])::int);
  END LOOP;
  g := greatest(g, 0);
  -- Nothing granted changes nothing: the refill is computed from the last taken token.
  IF g > 0 THEN
    FOR i IN 1..n LOOP
      cur[i] := cur[i] - g;
      UPDATE rate_limits r SET tokens = cur[i], updated_at = at_ts WHERE r.tenant_id = p_key AND r.bucket = p_buckets[i];
    END LOOP;
  END IF;
  RETURN QUERY SELECT p_buckets[k], cur[k], g FROM generate_subscripts(p_buckets, 1) AS k;
END
$$;
--> statement-breakpoint
-- The one-request call of the previous release stays for its processes during a rolling deploy,
-- now a batch of one, so there is one implementation of the buckets' arithmetic.
CREATE OR REPLACE FUNCTION take_rate_limit_tokens(p_key text, p_buckets text[], p_burst float8[], p_per_second float8[])
RETURNS TABLE(bucket text, tokens float8, allowed boolean)
LANGUAGE sql AS $$
  SELECT b.bucket, b.tokens, b.granted = 1 FROM take_rate_limit_token_batch(p_key, p_buckets, p_burst, p_per_second, 1) b
$$;
