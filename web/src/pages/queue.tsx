/**
 * The queue as an operator sees it, for the jobs this tenant owns: counts by kind and status, how
 * long the oldest due job of each kind has waited, what is running (step and attempt), what is
 * queued (cancel), and recent dead jobs with their errors; a job's whole timeline on its own
 * page. Every `job` event refreshes it (coalesced: a burst costs two fetches).
 */
import { useEffect, useState } from 'preact/hooks';
import type { ApiError, Job, JobEvent } from '../api/client';
import { ago, ConfirmDialog, Empty, Loading, ProblemBox, StatusBadge, Time, Timeline } from '../components/ui';
import { useSession } from '../context';
import { useLive, useRefresh } from '../hooks';
import type { Schemas } from '../../../sdk/src/index.js';

const STATUSES = ['queued', 'running', 'succeeded', 'dead', 'canceled'] as const;
type Stats = { since: string; counts: Schemas['JobKindCount'][]; due: Schemas['JobKindDue'][] };

const subjectLink = (j: Job) => j.subject && (j.subject.type === 'project' || j.subject.type === 'store' || j.subject.type === 'rollout')
  ? <a href={`#/${j.subject.type}s/${j.subject.id}`}>{j.subject.type} {j.subject.id}</a>
  : j.subject ? <span>{j.subject.type} <code>{j.subject.id}</code></span> : <span class="muted">—</span>;

function useCancel(onDone: () => void, onError: (e: ApiError) => void) {
  const { api } = useSession();
  const [pending, setPending] = useState<Job | null>(null);
  const run = async () => {
    const j = pending;
    setPending(null);
    if (!j) return;
    try {
      await api.POST('/v1/jobs/{id}/cancel', { params: { path: { id: j.id } } });
      onDone();
    } catch (e) {
      onError(e as ApiError);
    }
  };
  const dialog = (
    <ConfirmDialog open={!!pending} title={pending ? `Cancel ${pending.kind}?` : ''}
      message="The job will not run. A lifecycle job's resource is marked failed, as if the job had died." confirmLabel="Cancel job" danger
      onConfirm={run} onCancel={() => setPending(null)} />
  );
  return { ask: setPending, dialog };
}

function JobTable({ jobs, label, show, onCancel }: { jobs: Job[]; label: string; show: 'progress' | 'error' | 'due'; onCancel?: (j: Job) => void }) {
  return (
    <table class="resources" aria-label={label}>
      <thead><tr><th scope="col">Job</th><th scope="col">Subject</th><th scope="col">{show === 'error' ? 'Error' : show === 'due' ? 'Runs at' : 'Progress'}</th><th scope="col">Updated</th>{onCancel && <th scope="col"><span class="sr-only">Actions</span></th>}</tr></thead>
      <tbody>
        {jobs.map((j) => (
          <tr key={j.id} data-id={j.id} data-kind={j.kind}>
            <td data-label="Job"><a href={`#/queue/${j.id}`}>{j.kind}</a><small class="progress"><code>{j.id}</code></small></td>
            <td data-label="Subject">{subjectLink(j)}</td>
            <td data-label={show === 'error' ? 'Error' : show === 'due' ? 'Runs at' : 'Progress'} data-testid={show}>
              {show === 'error' ? <span class="error-text">{j.last_error ?? '—'}</span>
                : show === 'due' ? <Time iso={j.run_at} />
                : `step ${j.steps + 1}, attempt ${j.attempts} of ${j.max_attempts}`}
            </td>
            <td data-label="Updated"><Time iso={j.updated_at} /></td>
            {onCancel && <td data-label="Actions"><button type="button" class="small danger" onClick={() => onCancel(j)} aria-label={`Cancel ${j.kind} ${j.id}`}>Cancel</button></td>}
          </tr>
        ))}
      </tbody>
    </table>
  );
}

export function QueuePage() {
  const { api } = useSession();
  const [stats, setStats] = useState<Stats | null>(null);
  const [lists, setLists] = useState<{ running: Job[]; queued: Job[]; dead: Job[] } | null>(null);
  const [error, setError] = useState<ApiError | null>(null);
  const load = async () => {
    const list = (status: 'running' | 'queued' | 'dead') => api.GET('/v1/jobs', { params: { query: { status, limit: 20 } } }).then((p) => p.data);
    const [s, running, queued, dead] = await Promise.all([api.GET('/v1/jobs/stats'), list('running'), list('queued'), list('dead')]);
    setStats(s);
    setLists({ running, queued, dead });
    setError(null);
  };
  const refresh = useRefresh(() => load().catch((e: ApiError) => { setError(e); setLists((l) => l ?? { running: [], queued: [], dead: [] }); }));
  useEffect(() => refresh(), []);
  useLive((e) => { if (e.event === 'job' || e.event === 'resync') refresh(); });
  // Waits grow while nothing happens: the ages are re-read every 10 s.
  useEffect(() => {
    const t = setInterval(refresh, 10_000);
    return () => clearInterval(t);
  }, []);
  const { ask, dialog } = useCancel(refresh, setError);

  const kinds = [...new Set([...(stats?.counts ?? []).map((c) => c.kind), ...(stats?.due ?? []).map((d) => d.kind)])].sort();
  const count = (kind: string, status: string) => stats?.counts.find((c) => c.kind === kind && c.status === status)?.count ?? 0;
  return (
    <section aria-labelledby="queue-title">
      <h1 id="queue-title">Queue</h1>
      <ProblemBox error={error} onDismiss={() => setError(null)} />
      {stats === null || lists === null ? <Loading what="the queue" /> : (
        <>
          <h2>By kind</h2>
          <p class="muted">Queued and running jobs, and the jobs that finished since <Time iso={stats.since} />.</p>
          {kinds.length === 0 ? <Empty>No jobs in this period.</Empty> : (
            <table class="resources" aria-label="Jobs by kind and status">
              <thead><tr><th scope="col">Kind</th>{STATUSES.map((s) => <th scope="col">{s}</th>)}<th scope="col">Oldest due</th></tr></thead>
              <tbody>
                {kinds.map((k) => {
                  const due = stats.due.find((d) => d.kind === k);
                  return (
                    <tr key={k} data-kind={k}>
                      <th scope="row" data-label="Kind">{k}</th>
                      {STATUSES.map((s) => <td data-label={s} data-status={s}>{count(k, s)}</td>)}
                      <td data-label="Oldest due" data-testid="oldest-due">{due ? `${ago(due.oldest_age_seconds)} (${due.count} due)` : '—'}</td>
                    </tr>
                  );
                })}
              </tbody>
            </table>
          )}
          <h2>Running</h2>
          {lists.running.length === 0 ? <Empty>Nothing running.</Empty> : <JobTable jobs={lists.running} label="Running jobs" show="progress" />}
          <h2>Queued</h2>
          {lists.queued.length === 0 ? <Empty>Nothing waiting.</Empty> : <JobTable jobs={lists.queued} label="Queued jobs" show="due" onCancel={ask} />}
          <h2>Recently dead</h2>
          {lists.dead.length === 0 ? <Empty>No dead jobs.</Empty> : <JobTable jobs={lists.dead} label="Dead jobs" show="error" />}
        </>
      )}
      {dialog}
    </section>
  );
}

export function JobPage({ id }: { id: string }) {
  const { api } = useSession();
  const [job, setJob] = useState<(Job & { events: JobEvent[] }) | null>(null);
  const [error, setError] = useState<ApiError | null>(null);
  const refresh = useRefresh(() => api.GET('/v1/jobs/{id}', { params: { path: { id } } }).then((j) => { setJob(j.job); setError(null); }, (e: ApiError) => setError(e)));
  useEffect(() => refresh(), [id]);
  useLive((e) => { if ((e.event === 'job' && e.data.id === id) || e.event === 'resync') refresh(); });
  const { ask, dialog } = useCancel(refresh, setError);
  return (
    <section aria-labelledby="job-title">
      <p><a href="#/queue">← Queue</a></p>
      <ProblemBox error={error} />
      {!job ? (!error && <Loading what="the job" />) : (
        <>
          <h1 id="job-title">{job.kind} <StatusBadge status={job.status} /></h1>
          <dl class="facts">
            <dt>Id</dt><dd><code>{job.id}</code></dd>
            <dt>Subject</dt><dd>{subjectLink(job)}</dd>
            <dt>Attempts</dt><dd>{job.attempts} of {job.max_attempts} (this step)</dd>
            <dt>Steps done</dt><dd>{job.steps}</dd>
            <dt>Runs at</dt><dd><Time iso={job.run_at} /></dd>
            <dt>Created</dt><dd><Time iso={job.created_at} /></dd>
            <dt>Finished</dt><dd><Time iso={job.finished_at} /></dd>
            <dt>Last error</dt><dd class={job.last_error ? 'error-text' : undefined}>{job.last_error ?? 'none'}</dd>
          </dl>
          {job.status === 'queued' && <div class="actions"><button type="button" class="danger" onClick={() => ask(job)}>Cancel job</button></div>}
          {job.result !== undefined && job.result !== null && <><h2>Result</h2><pre class="attrs" tabIndex={0} aria-label="Result (JSON)">{JSON.stringify(job.result, null, 2)}</pre></>}
          <h2>Timeline</h2>
          <Timeline events={job.events} label="Job timeline" />
        </>
      )}
      {dialog}
    </section>
  );
}
