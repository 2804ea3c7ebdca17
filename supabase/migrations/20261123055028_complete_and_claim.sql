-- The local runner's completions and its next claim, in one call (workers/queue/completions.ts).
-- A finished job frees a slot, and the runner's next move is always to fill it; done as two
-- statements, every job cost two round trips and two commits, and the runner's throughput was
-- bound by that latency rather than by the work (Node was ~60% idle in a profile of the queue
-- benchmark, and a second claim stream only made batches smaller).
--
-- p_ids/p_locked_by/p_attempts/p_results: the jobs to mark succeeded, each fenced on its own
-- claim exactly as completeJobs is (still running, same worker, same attempt).
-- p_worker/p_lease_ms/p_after/p_limit: the claim, as switchyard_claim_due_jobs. It runs as a
-- second statement, so it sees the completions: a job waiting on a just-finished job's
-- concurrency key can be claimed at once.
--
-- p_limit 0 completes only: completeJobs is this function too, so completion is written once.
--
-- Returns the completed rows (status 'succeeded') and the claimed rows (status 'running'); a job
-- can't be both. A claim refused by jobs_one_running_per_key (a racing claimer in another
-- process) fails the whole call with unique_violation, completions included; the caller then
-- completes without claiming. (Catching it here would need an EXCEPTION block, a
-- subtransaction on every call, for a race that needs two runner processes.)
CREATE OR REPLACE FUNCTION switchyard_complete_and_claim(
  p_ids text[], p_locked_by text[], p_attempts integer[], p_results jsonb[],
  p_worker text, p_lease_ms integer, p_after text, p_limit integer)
RETURNS SETOF jobs LANGUAGE plpgsql AS $$
BEGIN
  RETURN QUERY
  with x as (
    select * from unnest(p_ids, p_locked_by, p_attempts, p_results) as x(id, locked_by, attempts, result)
  ), c as (
    update jobs j set status = 'succeeded', result = x.result,
                      lease_expires_at = null, finished_at = now(), updated_at = now(), last_error = null
      from x
     where j.id = x.id and j.status = 'running' and j.locked_by = x.locked_by and j.attempts = x.attempts
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
