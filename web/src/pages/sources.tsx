/**
 * Log sources of a project: create one (Supabase, Render or Sentry; the API's field errors at
 * their fields), copy its webhook URL, see which secrets are set (never their values), when it was
 * last pulled, how far pulls have read and the last error; pull now and watch the job; see the
 * deliveries a webhook made, and replay one. Delete asks first.
 */
import { useEffect, useState } from 'preact/hooks';
import type { ApiError, LiveEvent } from '../api/client';
import { useCreateForm } from '../components/create-form';
import { useProjectPick } from '../components/project-picker';
import { ConfirmDialog, CopyButton, Empty, Loading, ProblemBox, StatusBadge, Time } from '../components/ui';
import { useSession } from '../context';
import { useLive } from '../hooks';
import type { Schemas } from '../../../sdk/src/index.js';

type Source = Schemas['LogSource'];
type Delivery = Schemas['WebhookDelivery'];
type JobEventData = Extract<LiveEvent, { event: 'job' }>['data'];
interface Tracked { jobId: string; status: string; steps: number; error: string | null; result?: string }

const FIELD_OF: Record<string, string> = {
  'config.project_ref': 'project_ref', 'config.owner_id': 'owner_id', 'config.resources': 'resources', 'config.organization': 'organization',
  'config.project': 'sentry_project', 'credentials.api_key': 'api_key', 'credentials.webhook_secret': 'webhook_secret', pull_interval_s: 'pull_interval_s',
};
const fieldOf = (path: string) => FIELD_OF[path] ?? FIELD_OF[path.replace(/\.\d+$/, '')];

function CreateSourceForm({ projectId, onCreated }: { projectId: string; onCreated: (s: Source) => void }) {
  const { api } = useSession();
  const { fields, set, submit, control, field, form } = useCreateForm('source', {
    provider: 'render', project_ref: '', owner_id: '', resources: '', organization: '', sentry_project: '', api_key: '', webhook_secret: '', pull_interval_s: '',
  }, { fieldOf });
  const onSubmit = submit(async (f) => {
    const config = f.provider === 'supabase' ? { project_ref: f.project_ref }
      : f.provider === 'render' ? { owner_id: f.owner_id, resources: f.resources.split(',').map((s) => s.trim()).filter(Boolean) }
      : { organization: f.organization, project: f.sentry_project };
    const credentials = { ...(f.api_key ? { api_key: f.api_key } : {}), ...(f.webhook_secret ? { webhook_secret: f.webhook_secret } : {}) };
    const body = { provider: f.provider, config, credentials, ...(f.pull_interval_s ? { pull_interval_s: Number(f.pull_interval_s) } : {}) } as Schemas['CreateLogSource'];
    onCreated((await api.POST('/v1/projects/{id}/log-sources', { params: { path: { id: projectId } }, body })).log_source);
    return { ...f, project_ref: '', owner_id: '', resources: '', organization: '', sentry_project: '', api_key: '', webhook_secret: '', pull_interval_s: '' };
  });
  const secret = <input {...control('webhook_secret')} type="password" autocomplete="off" value={fields.webhook_secret} onInput={set('webhook_secret')} />;
  return form('New log source', 'Add source', onSubmit, <>
    {field('provider', 'Provider', (
      <select {...control('provider')} value={fields.provider} onChange={set('provider')}>
        <option value="render">Render</option><option value="sentry">Sentry</option><option value="supabase">Supabase</option>
      </select>
    ))}
    {fields.provider === 'supabase' && field('project_ref', 'Supabase project ref', <input {...control('project_ref')} value={fields.project_ref} onInput={set('project_ref')} required />)}
    {fields.provider === 'render' && <>
      {field('owner_id', 'Render owner id', <input {...control('owner_id')} value={fields.owner_id} onInput={set('owner_id')} placeholder="tea-…" required />)}
      {field('resources', 'Services', <input {...control('resources')} value={fields.resources} onInput={set('resources')} placeholder="srv-…, srv-…" />, 'service ids, comma-separated')}
    </>}
    {fields.provider === 'sentry' && <>
      {field('organization', 'Sentry organization', <input {...control('organization')} value={fields.organization} onInput={set('organization')} required />)}
      {field('sentry_project', 'Sentry project', <input {...control('sentry_project')} value={fields.sentry_project} onInput={set('sentry_project')} required />)}
    </>}
    {field('api_key', 'API token (for pulls)', <input {...control('api_key')} type="password" autocomplete="off" value={fields.api_key} onInput={set('api_key')} />, 'optional; sealed, never shown again')}
    {fields.provider !== 'supabase' && field('webhook_secret', 'Webhook signing secret', secret, fields.provider === 'render' ? "Render's whsec_… secret" : "the integration's client secret")}
    {field('pull_interval_s', 'Pull every (seconds)', <input {...control('pull_interval_s')} inputMode="numeric" value={fields.pull_interval_s} onInput={set('pull_interval_s')} placeholder="default" />)}
  </>);
}

function Deliveries({ projectId, source, tracked, track }: { projectId: string; source: Source; tracked: Record<string, Tracked>; track: (key: string, job: { id: string; status: string }) => void }) {
  const { api } = useSession();
  const [items, setItems] = useState<Delivery[] | null>(null);
  const [error, setError] = useState<ApiError | null>(null);
  const load = () => api.GET('/v1/projects/{id}/log-sources/{sid}/deliveries', { params: { path: { id: projectId, sid: source.id }, query: { limit: 20 } } })
    .then((d) => { setItems(d.data); setError(null); }, (e: ApiError) => { setError(e); setItems([]); });
  useEffect(() => { void load(); }, [source.id]);
  // A replay that finished: its new count.
  const done = Object.entries(tracked).filter(([k, t]) => k.startsWith(`replay:${source.id}:`) && t.status === 'succeeded').map(([k]) => k).join();
  useEffect(() => { if (done) void load(); }, [done]);
  const replay = async (d: Delivery) => {
    try {
      const r = await api.POST('/v1/projects/{id}/log-sources/{sid}/deliveries/{did}/replay', { params: { path: { id: projectId, sid: source.id, did: d.id } } });
      track(`replay:${source.id}:${d.id}`, r.job);
    } catch (e) {
      setError(e as ApiError);
    }
  };
  if (items === null) return <Loading what="deliveries" />;
  return (
    <div class="deliveries">
      <ProblemBox error={error} onDismiss={() => setError(null)} />
      {items.length === 0 ? <Empty>No webhook deliveries yet. Point {source.provider} at the webhook URL above.</Empty> : (
        <table class="resources" aria-label={`Deliveries to ${source.provider} source ${source.id}`}>
          <thead><tr><th scope="col">Received</th><th scope="col">Delivery id</th><th scope="col">Signature</th><th scope="col">Events</th><th scope="col"><span class="sr-only">Actions</span></th></tr></thead>
          <tbody>
            {items.map((d) => {
              const t = tracked[`replay:${source.id}:${d.id}`];
              return (
                <tr key={d.id} data-delivery={d.delivery_id}>
                  <td data-label="Received"><Time iso={d.received_at} /></td>
                  <td data-label="Delivery id"><code>{d.delivery_id}</code>{d.resource && <small class="progress">{d.resource}</small>}</td>
                  {/* Only deliveries whose signature verified are kept; refused ones are answered 401 and not stored. */}
                  <td data-label="Signature"><span class="badge badge-succeeded">verified</span></td>
                  <td data-label="Events" data-testid="event-count">{d.processed_at ? d.event_count ?? 0 : <span class="muted">processing…</span>}</td>
                  <td data-label="Actions">
                    <button type="button" class="small" onClick={() => replay(d)} disabled={!!t && t.status !== 'succeeded' && t.status !== 'dead'} aria-label={`Replay delivery ${d.delivery_id}`}>Replay</button>
                    {t && <small class="progress" role="status">replay: {t.status}{t.error ? `: ${t.error}` : ''}</small>}
                  </td>
                </tr>
              );
            })}
          </tbody>
        </table>
      )}
    </div>
  );
}

function SourceCard({ projectId, source, tracked, track, onDelete, onError }: {
  projectId: string; source: Source; tracked: Record<string, Tracked>; track: (key: string, job: { id: string; status: string }) => void;
  onDelete: (s: Source) => void; onError: (e: ApiError) => void;
}) {
  const { api } = useSession();
  const [open, setOpen] = useState(false);
  const pull = tracked[`pull:${source.id}`];
  const pulling = !!pull && (pull.status === 'queued' || pull.status === 'running');
  const pullNow = async () => {
    try {
      track(`pull:${source.id}`, (await api.POST('/v1/projects/{id}/log-sources/{sid}/pull', { params: { path: { id: projectId, sid: source.id } } })).job);
    } catch (e) {
      onError(e as ApiError);
    }
  };
  const config = Object.entries(source.config).map(([k, v]) => `${k}: ${Array.isArray(v) ? v.join(', ') : String(v)}`).join(' · ');
  return (
    <article class="card source" data-id={source.id} data-provider={source.provider} aria-labelledby={`src-${source.id}`}>
      <h2 id={`src-${source.id}`}>{source.provider} <small class="muted">{config}</small></h2>
      <dl class="facts">
        {source.webhook_url && <>
          <dt>Webhook URL</dt>
          <dd class="urls"><code data-testid="webhook-url">{source.webhook_url}</code><CopyButton value={source.webhook_url} label={`Copy the ${source.provider} webhook URL`} /></dd>
        </>}
        <dt>Secrets</dt>
        <dd data-testid="secrets">API token {source.credentials.api_key ? 'set' : 'not set'} · webhook secret {source.credentials.webhook_secret ? 'set' : 'not set'}</dd>
        <dt>Last pull</dt><dd>{source.last_pulled_at ? <Time iso={source.last_pulled_at} /> : source.credentials.api_key ? 'not yet' : 'never (no API token: webhooks only)'}</dd>
        <dt>Read up to</dt><dd data-testid="mark">{source.high_water_mark ? <Time iso={source.high_water_mark} /> : '—'}</dd>
        <dt>Next pull</dt><dd>{source.next_pull_at ? <Time iso={source.next_pull_at} /> : '—'}</dd>
        <dt>Last error</dt><dd class={source.last_error ? 'error-text' : undefined}>{source.last_error ?? 'none'}</dd>
      </dl>
      <div class="actions">
        <button type="button" onClick={pullNow} disabled={pulling || !source.credentials.api_key} aria-label={pulling ? undefined : `Pull now from ${source.provider} (${source.id})`}>{pulling ? 'Pulling…' : 'Pull now'}</button>
        {pull && (
          <span role="status" class="progress" data-testid="pull-status">
            <StatusBadge status={pull.status} /> {pull.status === 'running' || pull.status === 'queued' ? `step ${pull.steps + 1}` : ''}{pull.result ? ` ${pull.result}` : ''}{pull.error ? ` ${pull.error}` : ''}
          </span>
        )}
        {source.webhook_url && (
          <button type="button" aria-expanded={open} onClick={() => setOpen(!open)}>{open ? 'Hide deliveries' : 'Deliveries'}</button>
        )}
        <button type="button" class="danger" onClick={() => onDelete(source)} aria-label={`Delete the ${source.provider} source`}>Delete</button>
      </div>
      {open && <Deliveries projectId={projectId} source={source} tracked={tracked} track={track} />}
    </article>
  );
}

export function SourcesPage({ query }: { query: URLSearchParams }) {
  const { api } = useSession();
  const { project, picker, blocker } = useProjectPick('sources', query);
  const [sources, setSources] = useState<Source[] | null>(null);
  const [error, setError] = useState<ApiError | null>(null);
  const [tracked, setTracked] = useState<Record<string, Tracked>>({});
  const [deleting, setDeleting] = useState<Source | null>(null);

  const load = async (id: string) => {
    try {
      setSources((await api.GET('/v1/projects/{id}/log-sources', { params: { path: { id } } })).data);
      setError(null);
    } catch (e) {
      setError(e as ApiError);
      setSources([]);
    }
  };
  useEffect(() => {
    setSources(null);
    if (project) void load(project.id);
  }, [project?.id]);

  const track = (key: string, job: { id: string; status: string }) =>
    setTracked((t) => ({ ...t, [key]: { jobId: job.id, status: job.status, steps: 0, error: null } }));
  useLive((e) => {
    if (e.event !== 'job') return;
    const d: JobEventData = e.data;
    const entry = Object.entries(tracked).find(([, t]) => t.jobId === d.id);
    if (!entry) return;
    const [key] = entry;
    setTracked((t) => ({ ...t, [key]: { ...t[key]!, status: d.status, steps: d.steps, error: d.status === 'dead' ? d.last_error : null } }));
    if (d.status === 'succeeded' || d.status === 'dead') {
      if (project) void load(project.id);
      if (d.status === 'succeeded' && key.startsWith('pull:')) {
        api.GET('/v1/jobs/{id}', { params: { path: { id: d.id } } }).then((j) => {
          const r = j.job.result as { events?: number; pages?: number; error?: string } | undefined;
          if (r) setTracked((t) => ({ ...t, [key]: { ...t[key]!, result: r.error ? `stopped: ${r.error}` : `${r.events ?? 0} events from ${r.pages ?? 0} pages` } }));
        }, () => {});
      }
    }
  });

  const remove = async () => {
    const s = deleting;
    setDeleting(null);
    if (!s || !project) return;
    try {
      await api.DELETE('/v1/projects/{id}/log-sources/{sid}', { params: { path: { id: project.id, sid: s.id } } });
      setSources((list) => (list ?? []).filter((x) => x.id !== s.id));
    } catch (e) {
      setError(e as ApiError);
    }
  };

  return (
    <section aria-labelledby="sources-title">
      <h1 id="sources-title">Log sources</h1>
      {picker}
      {blocker ?? (project && (
        <>
          <CreateSourceForm projectId={project.id} onCreated={(s) => setSources((list) => [s, ...(list ?? [])])} />
          <ProblemBox error={error} onDismiss={() => setError(null)} />
          {sources === null ? <Loading what="log sources" /> : sources.length === 0 ? (
            <Empty>No log sources for {project.name} yet. Add one above; its events appear in <a href={`#/logs?project=${project.id}`}>Logs</a>.</Empty>
          ) : sources.map((s) => (
            <SourceCard key={s.id} projectId={project.id} source={s} tracked={tracked} track={track} onDelete={setDeleting} onError={setError} />
          ))}
        </>
      ))}
      <ConfirmDialog open={!!deleting} title={deleting ? `Delete the ${deleting.provider} source?` : ''}
        message="Its pulls stop and its webhook URL stops accepting deliveries. Events already stored stay." confirmLabel="Delete" danger
        onConfirm={remove} onCancel={() => setDeleting(null)} />
    </section>
  );
}
