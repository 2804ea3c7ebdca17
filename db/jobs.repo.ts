/**
 * The queue contract in SQL (DESIGN.md, "The queue contract"). Each function is one database
 * operation. Transitions are conditional UPDATEs: zero rows means a duplicate or stale signal,
 * which callers treat as a normal answer.
 *
 * Fencing: a claim increments `attempts` and sets `locked_by`; every outcome is conditional on
 * both, so a worker whose lease expired (and whose job was re-claimed) can't overwrite the newer
 * attempt's outcome.
 */
import type postgres from 'postgres';
import { rowFromJson, type Sql } from './client.ts';
import { auditRowsCte, type StatementAudit } from './audit.repo.ts';
import type { jobs } from './schema.ts';
import type { JobStatus } from './status.ts';

export type Job = typeof jobs.$inferSelect & { status: JobStatus };

export interface NewJob {
  id: string;
  tenantId: string;
  kind: string;
  subjectType?: string | null;
  subjectId?: string | null;
  payload: unknown;
  maxAttempts: number;
  concurrencyKey?: string | null;
  runAt?: string | null;
  deadlineAt?: string | null;
  /** The W3C traceparent its steps continue (the creating request's span, or the creating job's step). */
  traceparent?: string | null;
}

export interface JobEvent {
  id: string;
  jobId: string;
  type: string;
  data: Record<string, unknown>;
  createdAt: string;
}

/** Inserts a queued job and its `created` event in one statement. */
export async function insertJob(sql: Sql, job: NewJob): Promise<Job> {
  const [row] = await sql<Job[]>`
    with j as (
      insert into jobs (id, tenant_id, kind, subject_type, subject_id, payload, max_attempts,
                        concurrency_key, run_at, deadline_at, traceparent)
      values (${job.id}, ${job.tenantId}, ${job.kind}, ${job.subjectType ?? null}, ${job.subjectId ?? null},
              ${JSON.stringify(job.payload)}::jsonb, ${job.maxAttempts}, ${job.concurrencyKey ?? null},
              coalesce(${job.runAt ?? null}::timestamptz, now()), ${job.deadlineAt ?? null}, ${job.traceparent ?? null})
      returning *
    ), e as (
      insert into job_events (job_id, tenant_id, type, data)
      select id, tenant_id, 'created', jsonb_build_object('kind', kind) from j
    )
    select * from j`;
  return row!;
}

/** A job about a subject, for writeSubjectsWithJobs: the subject is the row whose id is `subjectId`, and
 * the job takes its tenant from that row. */
export type SubjectJob = Omit<NewJob, 'tenantId' | 'subjectType' | 'subjectId' | 'concurrencyKey' | 'runAt'> & {
  subjectId: string;
  /**
   * The request's Idempotency-Key, stored by the same statement (see functions/lib/http.ts
   * `mutate`, `inStatement`): the rows written, as `{"$rows": {subject, job}}`, answer a replay.
   * A key already stored (or being stored by a transaction still open) fails the statement with
   * a unique violation on idempotency_keys' key (isStoredKeyConflict), and nothing is written.
   */
  idempotency?: { key: string; fingerprint: string; status: number; headers: Record<string, string> };
  /** The request's audit row, written complete by the same statement when the subject is (functions/middleware/audit.ts, IN_STATEMENT). */
  audit?: StatementAudit;
};

/**
 * Flow ②, in one statement: a write to subjects (INSERTs or a status UPDATE … RETURNING *), a job
 * about each subject written, and each job's `created` event. One statement is one implicit
 * transaction, so the API answers a create with a single round trip and a single commit, and
 * several creates can share both (functions/lib/batch.ts). A subject the write did not affect (a
 * slug already taken, a transition not allowed) gets no job and is missing from the result.
 */
export async function writeSubjectsWithJobs<S>(
  sql: Sql,
  subjectType: string,
  subjectsWrite: postgres.PendingQuery<any>,
  list: SubjectJob[],
): Promise<Map<string, { subject: S; job: Job }>> {
  const col = <T>(f: (j: SubjectJob) => T) => list.map(f);
  const keyed = list.flatMap((j) => (j.idempotency ? [{ subjectId: j.subjectId, ...j.idempotency }] : []));
  const kcol = <T>(f: (k: (typeof keyed)[number]) => T) => keyed.map(f);
  const keys = keyed.length === 0 ? sql`` : sql`, k as (
      insert into idempotency_keys (tenant_id, key, fingerprint, response_status, response_headers, response_body)
      select s.tenant_id, ki.key, ki.fingerprint, ki.status, ki.headers,
             jsonb_build_object('$rows', jsonb_build_object('subject', to_jsonb(s), 'job', to_jsonb(j)))
        from unnest(${kcol((k) => k.subjectId)}::text[], ${kcol((k) => k.key)}::text[], ${kcol((k) => k.fingerprint)}::text[],
                    ${kcol((k) => k.status)}::int[], ${kcol((k) => JSON.stringify(k.headers))}::jsonb[])
             as ki(subject_id, key, fingerprint, status, headers)
        join s on s.id = ki.subject_id join j on j.subject_id = s.id
    )`;
  const audited = list.flatMap((j) => (j.audit ? [{ ...j.audit, subjectId: j.subjectId }] : []));
  const audit = audited.length === 0 ? sql`` : auditRowsCte(sql, audited);
  const rows = await sql<{ subject: Record<string, unknown>; job: Record<string, unknown> }[]>`
    with s as (${subjectsWrite}),
    i as (
      select * from unnest(${col((j) => j.id)}::text[], ${col((j) => j.subjectId)}::text[], ${col((j) => j.kind)}::text[],
                           ${col((j) => JSON.stringify(j.payload))}::jsonb[], ${col((j) => j.maxAttempts)}::int[],
                           ${col((j) => j.deadlineAt ?? null)}::text[]::timestamptz[], ${col((j) => j.traceparent ?? null)}::text[])
        as i(id, subject_id, kind, payload, max_attempts, deadline_at, traceparent)
    ),
    j as (
      insert into jobs (id, tenant_id, kind, subject_type, subject_id, payload, max_attempts, concurrency_key, deadline_at, traceparent)
      select i.id, s.tenant_id, i.kind, ${subjectType}, s.id, i.payload, i.max_attempts, ${subjectType} || ':' || s.id, i.deadline_at, i.traceparent
        from s join i on i.subject_id = s.id
      returning *
    ), e as (
      insert into job_events (job_id, tenant_id, type, data)
      select id, tenant_id, 'created', jsonb_build_object('kind', kind) from j
    )${keys}${audit}
    select to_jsonb(s) as subject, to_jsonb(j) as job from s join j on j.subject_id = s.id`;
  const out = new Map<string, { subject: S; job: Job }>();
  for (const row of rows) {
    const job = rowFromJson<Job>(row.job);
    out.set(job.subjectId!, { subject: rowFromJson<S>(row.subject), job });
  }
  return out;
}

/** writeSubjectsWithJobs for one subject: null when the write did not affect it. */
export async function writeSubjectWithJob<S>(
  sql: Sql,
  subjectType: string,
  subjectWrite: postgres.PendingQuery<any>,
  job: SubjectJob,
): Promise<{ subject: S; job: Job } | null> {
  return (await writeSubjectsWithJobs<S>(sql, subjectType, subjectWrite, [job])).get(job.subjectId) ?? null;
}

/** Inserts many queued jobs and their `created` events in one statement (array parameters). */
export async function insertJobs(sql: Sql, list: NewJob[]): Promise<number> {
  if (list.length === 0) return 0;
  const col = <T>(f: (j: NewJob) => T) => list.map(f);
  const rows = await sql`
    with j as (
      insert into jobs (id, tenant_id, kind, subject_type, subject_id, payload, max_attempts, concurrency_key, traceparent)
      select * from unnest(${col((j) => j.id)}::text[], ${col((j) => j.tenantId)}::text[], ${col((j) => j.kind)}::text[],
                           ${col((j) => j.subjectType ?? null)}::text[], ${col((j) => j.subjectId ?? null)}::text[],
                           ${col((j) => JSON.stringify(j.payload))}::jsonb[], ${col((j) => j.maxAttempts)}::int[],
                           ${col((j) => j.concurrencyKey ?? null)}::text[], ${col((j) => j.traceparent ?? null)}::text[])
      returning id, tenant_id, kind
    )
    insert into job_events (job_id, tenant_id, type, data)
    select id, tenant_id, 'created', jsonb_build_object('kind', kind) from j`;
  return rows.count;
}

/**
 * Claims one job by id: a due queued job, or a running job whose lease has expired (crash
 * recovery). At most one job per concurrency key runs; the NOT EXISTS keeps claims polite and the
 * partial unique index `jobs_one_running_per_key` makes it a guarantee under races (a losing
 * racer gets unique_violation, which is just "not claimed").
 */
export async function claimJob(
  sql: Sql,
  ref: { id: string; tenantId: string },
  workerId: string,
  leaseMs: number,
): Promise<Job | null> {
  try {
    const [row] = await sql<Job[]>`
      with c as (
        update jobs j
           set status = 'running', attempts = j.attempts + 1, locked_by = ${workerId},
               lease_expires_at = now() + ${leaseMs} * interval '1 millisecond', updated_at = now()
         where j.id = ${ref.id} and j.tenant_id = ${ref.tenantId}
           and ((j.status = 'queued' and j.run_at <= now())
                or (j.status = 'running' and j.lease_expires_at < now()))
           and (j.concurrency_key is null or not exists (
                 select 1 from jobs r
                  where r.concurrency_key = j.concurrency_key and r.status = 'running' and r.id <> j.id))
        returning j.*
      ), e as (
        insert into job_events (job_id, tenant_id, type, data)
        select id, tenant_id, 'started', jsonb_build_object('attempt', attempts, 'worker', locked_by) from c
      )
      select * from c`;
    return row ?? null;
  } catch (err) {
    if ((err as { code?: string }).code === '23505') return null;
    throw err;
  }
}

/**
 * The local runner's claim, in one statement and one round trip: up to `limit` due jobs, fairly
 * across tenants (round-robin starting after `afterTenant`, the last tenant the caller served), at
 * most one per concurrency key. The SQL is the function `switchyard_claim_due_jobs` (migrations
 * 20261123053946 and 20261123060656 say how it works and why it is a function). Candidates are
 * locked SKIP LOCKED, so claims at once take disjoint jobs. A racing claimer can still make the
 * partial unique index refuse the batch; that is "nothing claimed", and the caller simply tries
 * again.
 */
export async function claimDueJobs(
  sql: Sql,
  workerId: string,
  leaseMs: number,
  afterTenant: string,
  limit: number,
): Promise<Job[]> {
  try {
    return await sql<Job[]>`select * from switchyard_claim_due_jobs(${workerId}, ${leaseMs}, ${afterTenant}, ${limit})`;
  } catch (err) {
    if ((err as { code?: string }).code === '23505') return [];
    throw err;
  }
}

/** A job's dispatch epoch: which step, which attempt. A message names the epoch it was sent for. */
export interface DispatchRef {
  id: string;
  tenantId: string;
  steps: number;
  attempts: number;
}

/**
 * Records accepted publishes (flow ③ on QStash): the message id and time, and a `dispatched`
 * event. Fenced on the epoch: the job is still queued in it, or was claimed from it (a fast
 * delivery can run the job before this write lands). A job that has moved on to a later epoch
 * keeps its own dispatch state, so an old write can't hide a new epoch from the sweeper.
 */
export async function recordDispatches(sql: Sql, sent: (DispatchRef & { messageId: string })[]): Promise<number> {
  if (sent.length === 0) return 0;
  const col = <T>(f: (j: DispatchRef & { messageId: string }) => T) => sent.map(f);
  const rows = await sql`
    with d as (
      update jobs j set dispatched_at = now(), dispatch_id = x.message_id
        from unnest(${col((j) => j.id)}::text[], ${col((j) => j.tenantId)}::text[], ${col((j) => j.steps)}::int[],
                    ${col((j) => j.attempts)}::int[], ${col((j) => j.messageId)}::text[])
             as x(id, tenant_id, steps, attempts, message_id)
       where j.id = x.id and j.tenant_id = x.tenant_id and j.steps = x.steps
         -- still waiting in this epoch, or claimed from it (the delivery can beat this write)
         and ((j.attempts = x.attempts and j.status = 'queued') or (j.attempts = x.attempts + 1 and j.status <> 'queued'))
      returning j.id, j.tenant_id, x.message_id
    )
    insert into job_events (job_id, tenant_id, type, data)
    select id, tenant_id, 'dispatched', jsonb_build_object('transport', 'qstash', 'message_id', message_id) from d`;
  return rows.count;
}

/**
 * The QStash sweeper's query: queued jobs that are due and were never dispatched (a publish that
 * failed after commit), or whose dispatch is older than `staleMs` (QStash gave up on it while it
 * waited behind its concurrency key, or the message went to the DLQ). System-wide by design: the
 * sweeper serves every tenant, and each row it returns carries its tenant.
 */
export async function listUndispatched(
  sql: Sql,
  opts: { staleMs: number; limit: number },
): Promise<(DispatchRef & { runAt: string; dispatchedAt: string | null })[]> {
  return sql`
    select id, tenant_id, steps, attempts, run_at, dispatched_at from jobs
     where status = 'queued' and run_at <= now()
       and (dispatched_at is null or dispatched_at < now() - ${opts.staleMs} * interval '1 millisecond')
     order by run_at, id
     limit ${opts.limit}`;
}

/** When the next queued job becomes due, for the runner's timer. */
export async function nextRunAt(sql: Sql): Promise<string | null> {
  const [row] = await sql<{ runAt: string | null }[]>`
    select min(run_at) as run_at from jobs where status = 'queued'`;
  return row?.runAt ?? null;
}

type Claimed = Pick<Job, 'id' | 'lockedBy' | 'attempts'>;

export async function completeJob(tx: Sql, job: Claimed, result: unknown): Promise<Job | null> {
  const [row] = await completeJobs(tx, [{ job, result }]);
  return row ?? null;
}

/**
 * Marks claimed jobs succeeded, in one statement however many (the local runner's batches). Each
 * is fenced on its own claim: still running, by the same worker, in the same attempt. The rows
 * returned are those that were still held; a job missing from the result lost its lease.
 */
export async function completeJobs(sql: Sql, list: { job: Claimed; result: unknown }[]): Promise<Job[]> {
  return (await completeAndClaim(sql, list, null)).completed;
}

/** A claim to make together with completions: as claimDueJobs's arguments. */
export interface ClaimRequest {
  workerId: string;
  leaseMs: number;
  afterTenant: string;
  limit: number;
}

/**
 * Completions and the next claim in one call and one transaction (`switchyard_complete_and_claim`,
 * migration 20261123055028): the completions as completeJobs, then, seeing them, a claim as
 * claimDueJobs. A claim that fails (the per-key unique index refusing a racing claimer's batch)
 * fails the whole call; the completions are then made alone, and nothing is claimed.
 */
export async function completeAndClaim(
  sql: Sql,
  list: { job: Claimed; result: unknown }[],
  claim: ClaimRequest | null,
): Promise<{ completed: Job[]; claimed: Job[] }> {
  if (list.length === 0 && !claim) return { completed: [], claimed: [] };
  const col = <T>(f: (x: { job: Claimed; result: unknown }) => T) => list.map(f);
  let rows: Job[];
  try {
    rows = await sql<Job[]>`
      select * from switchyard_complete_and_claim(
        ${col((x) => x.job.id)}::text[], ${col((x) => x.job.lockedBy)}::text[], ${col((x) => x.job.attempts)}::int[],
        ${col((x) => JSON.stringify(x.result ?? null))}::jsonb[],
        ${claim?.workerId ?? null}, ${claim?.leaseMs ?? 0}, ${claim?.afterTenant ?? ''}, ${claim?.limit ?? 0})`;
  } catch (err) {
    // The claim is the part that can fail under contention (the per-key unique index refusing a
    // racing claimer's batch); the completions must not wait for a lease to expire because of it.
    if (!claim) throw err;
    return { completed: await completeJobs(sql, list), claimed: [] };
  }
  return { completed: rows.filter((r) => r.status !== 'running'), claimed: rows.filter((r) => r.status === 'running') };
}

/**
 * A continuation: back to queued with a checkpoint; it starts a fresh count of attempts. A wait
 * (`keepAttempts`: the step met an open circuit breaker and did nothing) keeps the count it had
 * before this claim instead: it uses no attempt, and it doesn't give a failing step new ones, so a
 * dependency that stays down still ends the job after its attempts. (`steps` moves on either way:
 * each step and attempt is its own QStash message.)
 */
export async function continueJob(
  tx: Sql,
  job: Claimed,
  delayMs: number,
  state: unknown,
  note: string | null,
  opts: { keepAttempts?: boolean } = {},
): Promise<Job | null> {
  const [row] = await tx<Job[]>`
    with c as (
      update jobs set status = 'queued', state = ${JSON.stringify(state ?? null)}::jsonb,
                      attempts = ${opts.keepAttempts ? job.attempts - 1 : 0},
                      steps = steps + 1, run_at = now() + ${delayMs} * interval '1 millisecond',
                      lease_expires_at = null, locked_by = null, dispatched_at = null, updated_at = now()
       where id = ${job.id} and status = 'running' and locked_by = ${job.lockedBy} and attempts = ${job.attempts}
      returning *
    ), e as (
      insert into job_events (job_id, tenant_id, type, data)
      select id, tenant_id, 'progress',
             jsonb_build_object('step', steps, 'next_run_at', run_at, 'message', ${note}::text) from c
    )
    select * from c`;
  return row ?? null;
}

/**
 * A checkpoint inside a step: the job's state, committed now, while the claim is still ours (null
 * otherwise). A step records its intent this way before a call it must not repeat blindly.
 */
export async function checkpointJob(sql: Sql, job: Claimed, state: unknown): Promise<Job | null> {
  const [row] = await sql<Job[]>`
    update jobs set state = ${JSON.stringify(state ?? null)}::jsonb, updated_at = now()
     where id = ${job.id} and status = 'running' and locked_by = ${job.lockedBy} and attempts = ${job.attempts}
    returning *`;
  return row ?? null;
}

export interface RetryPolicy {
  baseMs: number;
  maxMs: number;
}

/**
 * A failed attempt. Retryable and attempts left: back to queued after an exponential backoff with
 * jitter; otherwise dead. The backoff is computed in SQL so that it uses the attempt count of the
 * row being updated, not a copy that may be stale: min(max, base·2^(attempts-1)), scaled by a
 * random factor in [0.5, 1) so that jobs that failed together don't retry together.
 */
export async function failJob(
  tx: Sql,
  job: Claimed,
  error: string,
  retryable: boolean,
  policy: RetryPolicy,
): Promise<Job | null> {
  const [row] = await tx<Job[]>`
    with c as (
      update jobs
         set status = case when ${retryable} and attempts < max_attempts then 'queued' else 'dead' end,
             run_at = case when ${retryable} and attempts < max_attempts
                           then now() + least(${policy.maxMs}::float8, ${policy.baseMs}::float8 * power(2, attempts - 1))
                                        * (0.5 + random() * 0.5) * interval '1 millisecond'
                           else run_at end,
             finished_at = case when ${retryable} and attempts < max_attempts then null else now() end,
             last_error = ${error}, lease_expires_at = null, locked_by = null, dispatched_at = null,
             updated_at = now()
       where id = ${job.id} and status = 'running' and locked_by = ${job.lockedBy} and attempts = ${job.attempts}
      returning *
    ), e as (
      insert into job_events (job_id, tenant_id, type, data)
      select id, tenant_id, case when status = 'dead' then 'dead' else 'retry_scheduled' end,
             jsonb_build_object('attempt', attempts, 'error', last_error,
                                'next_run_at', case when status = 'queued' then run_at end) from c
    )
    select * from c`;
  return row ?? null;
}

export async function cancelJob(sql: Sql, tenantId: string, id: string): Promise<Job | null> {
  const [row] = await sql<Job[]>`
    with c as (
      update jobs set status = 'canceled', finished_at = now(), updated_at = now()
       where id = ${id} and tenant_id = ${tenantId} and status = 'queued'
      returning *
    ), e as (
      insert into job_events (job_id, tenant_id, type, data) select id, tenant_id, 'canceled', '{}' from c
    )
    select * from c`;
  return row ?? null;
}

/**
 * Expired leases whose workers vanished go back to queued, so the poller finds them without a
 * signal. (Claims also take expired leases directly.) Attempts are not reset: the next claim
 * counts one more, and runJob gives up with the job's onDead once they exceed max_attempts.
 */
export async function requeueExpiredLeases(sql: Sql): Promise<Job[]> {
  return sql<Job[]>`
    with c as (
      update jobs
         set status = 'queued', last_error = coalesce(last_error, 'lease expired: the worker stopped responding'),
             locked_by = null, lease_expires_at = null, dispatched_at = null, updated_at = now()
       where id in (select id from jobs where status = 'running' and lease_expires_at < now()
                    for update skip locked)
      returning *
    ), e as (
      insert into job_events (job_id, tenant_id, type, data)
      select id, tenant_id, 'lease_expired', jsonb_build_object('attempt', attempts) from c
    )
    select * from c`;
}

export async function getJob(sql: Sql, tenantId: string, id: string): Promise<Job | null> {
  const [row] = await sql<Job[]>`select * from jobs where id = ${id} and tenant_id = ${tenantId}`;
  return row ?? null;
}

export async function listJobEvents(sql: Sql, tenantId: string, jobId: string): Promise<JobEvent[]> {
  return sql<JobEvent[]>`
    select id::text, job_id, type, data, created_at from job_events
     where job_id = ${jobId} and tenant_id = ${tenantId} order by job_events.id`;
}

export async function listJobs(
  sql: Sql,
  tenantId: string,
  opts: { subjectType?: string; subjectId?: string; status?: string; kind?: string; after?: string; limit: number },
): Promise<Job[]> {
  return sql<Job[]>`
    select * from jobs
     where tenant_id = ${tenantId}
       ${opts.subjectType ? sql`and subject_type = ${opts.subjectType} and subject_id = ${opts.subjectId ?? ''}` : sql``}
       ${opts.status ? sql`and status = ${opts.status}` : sql``}
       ${opts.kind ? sql`and kind = ${opts.kind}` : sql``}
       ${opts.after ? sql`and id < ${opts.after}` : sql``}
     order by id desc limit ${opts.limit}`;
}

/**
 * One tenant's queue at a glance: jobs by kind and status (queued and running ones whenever they
 * were made, finished ones made since `since`), and per kind the queued jobs already due with
 * the oldest one's wait (from the partial index of queued jobs).
 */
export async function jobStats(sql: Sql, tenantId: string, since: Date): Promise<{
  counts: { kind: string; status: JobStatus; count: number }[];
  due: { kind: string; count: number; oldestRunAt: string; oldestAgeSeconds: number }[];
}> {
  const [counts, due] = await Promise.all([
    sql<{ kind: string; status: JobStatus; count: number }[]>`
      select kind, status, count(*)::int as count from jobs
       where tenant_id = ${tenantId} and (status in ('queued', 'running') or created_at >= ${since.toISOString()}::timestamptz)
       group by kind, status order by kind, status`,
    sql<{ kind: string; count: number; oldestRunAt: string; oldestAgeSeconds: number }[]>`
      select kind, count(*)::int as count, min(run_at) as oldest_run_at,
             extract(epoch from now() - min(run_at))::float8 as oldest_age_seconds
        from jobs where tenant_id = ${tenantId} and status = 'queued' and run_at <= now()
       group by kind order by kind`,
  ]);
  return { counts: [...counts], due: [...due] };
}

/** The message of the job's latest progress event (what a continuation was waiting for), if any. */
export async function lastProgressNote(sql: Sql, job: Pick<Job, 'id' | 'tenantId'>): Promise<string | null> {
  const [row] = await sql<{ message: string | null }[]>`
    select data->>'message' as message from job_events
     where job_id = ${job.id} and tenant_id = ${job.tenantId} and type = 'progress'
     order by id desc limit 1`;
  return row?.message ?? null;
}
