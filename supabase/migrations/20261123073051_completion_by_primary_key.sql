-- switchyard_complete_and_claim (20261123055028) finds each finished job by primary key, whatever
-- the statistics say.
--
-- Every job passes through 'running', so jobs_running_lease_idx holds one entry per job ever run:
-- the live ones (at most the runners' concurrency) and, until vacuum, every finished one. On a
-- jobs table that had not been analyzed yet (a new database, right after a burst of enqueues),
-- the planner took that partial index for a small one and matched the completions against
-- everything in it, finished entries included. Each call then cost more than the last; the queue
-- benchmark ran at ~300 jobs/s instead of ~1,300 in some runs, with claims at 14–20 ms.
--
-- The status test compares with a variable rather than a literal. In a generic plan, which the
-- function now always uses, a variable can't prove a partial index's predicate, so the only index
-- left for the join is the primary key: one lookup per finished job.
CREATE OR REPLACE FUNCTION switchyard_complete_and_claim(
  p_ids text[], p_locked_by text[], p_attempts integer[], p_results jsonb[],
  p_worker text, p_lease_ms integer, p_after text, p_limit integer)
RETURNS SETOF jobs LANGUAGE plpgsql
SET plan_cache_mode = force_generic_plan
AS $$
DECLARE
  c_running constant text := 'running';
BEGIN
  RETURN QUERY
  with x as (
    select * from unnest(p_ids, p_locked_by, p_attempts, p_results) as x(id, locked_by, attempts, result)
  ), c as (
    update jobs j set status = 'succeeded', result = x.result,
                      lease_expires_at = null, finished_at = now(), updated_at = now(), last_error = null
      from x
     where j.id = x.id and j.status = c_running and j.locked_by = x.locked_by and j.attempts = x.attempts
    returning j.*
  ), e as (
    insert into job_events (job_id, tenant_id, type, data)
    select c.id, c.tenant_id, 'succeeded', jsonb_build_object('attempt', c.attempts) from c
  )
  select c.* from c;

  IF p_limit > 0 THEN
    RETURN QUERY select * from switchyard_claim_due_jobs(p_worker, p_lease_ms, p_after, p_limit);
  END IF;
END $$;
