-- The local runner's claim (db/jobs.repo.ts, claimDueJobs) as a function, for three reasons.
--   * One round trip. The claim needs a generic plan (replanning its recursive CTE cost ~1.8 ms a
--     call, and the custom plans ran slower), and setting plan_cache_mode for one statement took a
--     transaction of its own: BEGIN, set_config, the claim, COMMIT. A function carries the
--     setting itself, and PL/pgSQL keeps the plan for the session. Measured in the same run: the
--     runner waited 6.7 ms a claim before, 2.8–3.7 ms after.
--   * A plan that stays right. Each loose-scan probe orders by jobs_queued_idx's whole key
--     (tenant_id, run_at, id). Ordered by tenant_id alone, the generic plan could as well walk
--     jobs_tenant_id_idx and filter on status; it did so whenever the statistics said most jobs
--     were queued (right after a burst of enqueues), and then stepped over every finished job:
--     ~4,700 buffers and ~5 ms a claim instead of ~150 buffers and ~1.2 ms.
--   * Claims that don't wait for each other. Candidates are locked FOR UPDATE SKIP LOCKED, so
--     two claims at once (two runner processes, or a runner's own claim beside the one riding on
--     its completions) take disjoint jobs. Without it, both picked the same jobs and updated them
--     in hash order: one waited for the other, or both deadlocked.
--
-- What it does: up to p_limit due jobs, fairly across tenants. Tenants are taken in id order
-- starting after p_after and wrapping round (the caller passes the last tenant it served, so
-- successive claims go round-robin), by a loose index scan over jobs_queued_idx: finding the next
-- tenant costs one index probe however many jobs another tenant has queued. Jobs are interleaved
-- by tenant (each tenant's oldest first, then each tenant's second …) and at most one per
-- concurrency key is taken. A racing claimer can still make the partial unique index
-- jobs_one_running_per_key refuse the batch (unique_violation); the caller treats that as
-- "nothing claimed" and tries again.
CREATE OR REPLACE FUNCTION switchyard_claim_due_jobs(p_worker text, p_lease_ms integer, p_after text, p_limit integer)
RETURNS SETOF jobs LANGUAGE plpgsql
SET plan_cache_mode = force_generic_plan
AS $$
BEGIN
  RETURN QUERY
  with recursive after_t(tenant_id) as (
    (select j.tenant_id from jobs j
      where j.status = 'queued' and j.run_at <= now() and j.tenant_id > p_after
      order by j.tenant_id, j.run_at, j.id limit 1)
    union all
    select (select j.tenant_id from jobs j
             where j.status = 'queued' and j.run_at <= now() and j.tenant_id > a.tenant_id
             order by j.tenant_id, j.run_at, j.id limit 1)
      from after_t a where a.tenant_id is not null
  ), wrapped_t(tenant_id) as (
    -- then from the first tenant round to p_after itself: the rotation wraps around
    (select j.tenant_id from jobs j
      where j.status = 'queued' and j.run_at <= now() and j.tenant_id <= p_after
      order by j.tenant_id, j.run_at, j.id limit 1)
    union all
    select (select j.tenant_id from jobs j
             where j.status = 'queued' and j.run_at <= now() and j.tenant_id > w.tenant_id
               and j.tenant_id <= p_after
             order by j.tenant_id, j.run_at, j.id limit 1)
      from wrapped_t w where w.tenant_id is not null
  ), t(tenant_id) as (
    -- UNION ALL runs its branches in order and the LIMIT below stops it early, so only as many
    -- tenants are probed as there are free slots.
    select a.tenant_id from after_t a where a.tenant_id is not null
    union all
    select w.tenant_id from wrapped_t w where w.tenant_id is not null
  ), candidates as (
    select c.id, c.tenant_id, c.key,
           row_number() over (partition by c.tenant_id order by c.run_at, c.id) as rn
      from (select t.tenant_id from t limit p_limit) t2
      cross join lateral (
        select j.id, j.tenant_id, j.run_at, coalesce(j.concurrency_key, j.id) as key from jobs j
         where j.tenant_id = t2.tenant_id and j.status = 'queued' and j.run_at <= now()
           and (j.concurrency_key is null or not exists (
                 select 1 from jobs r where r.concurrency_key = j.concurrency_key and r.status = 'running'))
         order by j.run_at, j.id limit p_limit
         for update of j skip locked
      ) c
  ), picked as (
    select d.id from (select distinct on (cd.key) cd.id, cd.tenant_id, cd.rn from candidates cd order by cd.key, cd.rn) d
     order by d.rn, d.tenant_id limit p_limit
  ), c as (
    update jobs j
       set status = 'running', attempts = j.attempts + 1, locked_by = p_worker,
           lease_expires_at = now() + p_lease_ms * interval '1 millisecond', updated_at = now()
     where j.id in (select p.id from picked p) and j.status = 'queued' and j.run_at <= now()
    returning j.*
  ), e as (
    insert into job_events (job_id, tenant_id, type, data)
    select c.id, c.tenant_id, 'started', jsonb_build_object('attempt', c.attempts, 'worker', c.locked_by) from c
  )
  select c.* from c order by c.tenant_id > p_after desc, c.tenant_id, c.run_at, c.id;
END $$;
