-- The claim's UPDATE (switchyard_claim_due_jobs, 20261123060656) finds the picked jobs by primary
-- key, whatever the statistics say.
--
-- Its test `j.status = 'queued'` let the planner match the picked jobs against jobs_queued_idx.
-- When autoanalyze last ran while nothing was queued (a queue that had drained, then a burst of
-- enqueues), that index looked empty, and the generic plan walked every queued job's entry on
-- each claim, in a nested loop against the few picked ones. The queue benchmark's second run
-- fell to ~400 jobs/s with claims at 20–140 ms (auto_explain: 19,752 rows read to update one).
--
-- As in 20261123073051, the status test compares with a variable: in the generic plan it can't
-- prove the partial index's predicate, so the only index left is the primary key. The probes and
-- the candidates' scan keep their literal, and with it jobs_queued_idx.
CREATE OR REPLACE FUNCTION switchyard_claim_due_jobs(p_worker text, p_lease_ms integer, p_after text, p_limit integer)
RETURNS SETOF jobs LANGUAGE plpgsql
SET plan_cache_mode = force_generic_plan
AS $$
DECLARE
  c_queued constant text := 'queued';
BEGIN
  RETURN QUERY
  with recursive after_t(tenant_id, run_at, id) as (
    (select j.tenant_id, j.run_at, j.id from jobs j
      where j.status = 'queued' and j.run_at <= now() and j.tenant_id > p_after
      order by j.tenant_id, j.run_at, j.id limit 1)
    union all
    select n.tenant_id, n.run_at, n.id from after_t a cross join lateral (
      select j.tenant_id, j.run_at, j.id from jobs j
       where j.status = 'queued' and j.run_at <= now() and j.tenant_id > a.tenant_id
       order by j.tenant_id, j.run_at, j.id limit 1) n
  ), wrapped_t(tenant_id, run_at, id) as (
    -- then from the first tenant round to p_after itself: the rotation wraps around
    (select j.tenant_id, j.run_at, j.id from jobs j
      where j.status = 'queued' and j.run_at <= now() and j.tenant_id <= p_after
      order by j.tenant_id, j.run_at, j.id limit 1)
    union all
    select n.tenant_id, n.run_at, n.id from wrapped_t w cross join lateral (
      select j.tenant_id, j.run_at, j.id from jobs j
       where j.status = 'queued' and j.run_at <= now() and j.tenant_id > w.tenant_id and j.tenant_id <= p_after
       order by j.tenant_id, j.run_at, j.id limit 1) n
  ), t(tenant_id, run_at, id) as (
    -- UNION ALL runs its branches in order and the LIMIT below stops it early, so only as many
    -- tenants are probed as there are free slots.
    select a.tenant_id, a.run_at, a.id from after_t a
    union all
    select w.tenant_id, w.run_at, w.id from wrapped_t w
  ), candidates as (
    select c.id, c.tenant_id, c.key,
           row_number() over (partition by c.tenant_id order by c.run_at, c.id) as rn
      from (select t.tenant_id, t.run_at, t.id from t limit p_limit) t2
      cross join lateral (
        -- from the tenant's first due job that the probe found, not from the index's head
        select j.id, j.tenant_id, j.run_at, coalesce(j.concurrency_key, j.id) as key from jobs j
         where j.tenant_id = t2.tenant_id and (j.run_at, j.id) >= (t2.run_at, t2.id)
           and j.status = 'queued' and j.run_at <= now()
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
     where j.id in (select p.id from picked p) and j.status = c_queued and j.run_at <= now()
    returning j.*
  ), e as (
    insert into job_events (job_id, tenant_id, type, data)
    select c.id, c.tenant_id, 'started', jsonb_build_object('attempt', c.attempts, 'worker', c.locked_by) from c
  )
  select c.* from c order by c.tenant_id > p_after desc, c.tenant_id, c.run_at, c.id;
END $$;
