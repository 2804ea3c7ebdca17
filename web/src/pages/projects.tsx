/** Projects: the live table, the create form, actions with confirmation, and the detail view. */
import { useEffect, useState } from 'preact/hooks';
import { ApiError, type Job, type JobEvent, type Project } from '../api/client';
import { useCreateForm } from '../components/create-form';
import { ConfirmDialog, Empty, Loading, ProblemBox, StatusBadge, Time, Timeline } from '../components/ui';
import { useSession } from '../context';
import { jobProgress, useLiveList } from '../live-list';

type Action = 'suspend' | 'resume' | 'delete';
const ACTIONS: Record<Action, { label: string; from: Project['status'][]; confirm: string; danger?: boolean }> = {
  suspend: { label: 'Suspend', from: ['active', 'degraded'], confirm: 'Connections to its database will be refused until it is resumed.' },
  resume: { label: 'Resume', from: ['suspended'], confirm: 'Its database will accept connections again.' },
  delete: { label: 'Delete', from: ['active', 'suspended', 'failed', 'degraded'], confirm: 'Its database and role are dropped. This cannot be undone.', danger: true },
};

function useProjectAction(onDone: (p: Project) => void, onError: (e: ApiError) => void) {
  const { api } = useSession();
  const [pending, setPending] = useState<{ action: Action; project: Project } | null>(null);
  const run = async () => {
    if (!pending) return;
    const { action, project } = pending;
    setPending(null);
    try {
      const params = { params: { path: { id: project.id } } };
      const res = action === 'delete'
        ? await api.DELETE('/v1/projects/{id}', params)
        : await api.POST(action === 'suspend' ? '/v1/projects/{id}/suspend' : '/v1/projects/{id}/resume', params);
      onDone(res.project);
    } catch (e) {
      onError(e as ApiError);
    }
  };
  const dialog = (
    <ConfirmDialog
      open={!!pending}
      title={pending ? `${ACTIONS[pending.action].label} ${pending.project.name}?` : ''}
      message={pending ? ACTIONS[pending.action].confirm : ''}
      confirmLabel={pending ? ACTIONS[pending.action].label : ''}
      danger={!!pending && !!ACTIONS[pending.action].danger}
      onConfirm={run}
      onCancel={() => setPending(null)}
    />
  );
  return { ask: (action: Action, project: Project) => setPending({ action, project }), dialog };
}

function ActionButtons({ project, ask }: { project: Project; ask: (a: Action, p: Project) => void }) {
  return (
    <span class="row-actions">
      {(Object.keys(ACTIONS) as Action[]).filter((a) => ACTIONS[a].from.includes(project.status)).map((a) => (
        <button type="button" class={ACTIONS[a].danger ? 'danger small' : 'small'} onClick={() => ask(a, project)} aria-label={`${ACTIONS[a].label} ${project.name}`}>
          {ACTIONS[a].label}
        </button>
      ))}
    </span>
  );
}

function CreateProjectForm({ onCreated }: { onCreated: (p: Project) => void }) {
  const { api } = useSession();
  const { fields, set, submit, control, field, form } = useCreateForm('project', { name: '', slug: '', plan: 'free', region: '', provider: '' });
  const onSubmit = submit(async (f) => {
    const body = {
      name: f.name, plan: f.plan as Project['plan'], ...(f.slug ? { slug: f.slug } : {}), ...(f.region ? { region: f.region } : {}),
      ...(f.provider ? { provider: f.provider as 'postgres' | 'supabase' } : {}),
    };
    onCreated((await api.POST('/v1/projects', { body })).project);
    return { name: '', slug: '', plan: f.plan, region: '', provider: f.provider };
  });
  return (
    form('New project', 'Create project', onSubmit, <>
      {field('name', 'Name', <input {...control('name')} value={fields.name} onInput={set('name')} required maxLength={100} />)}
      {field('slug', 'Slug', <input {...control('slug')} value={fields.slug} onInput={set('slug')} placeholder="from the name" />, 'lowercase letters, digits and dashes')}
      {field('plan', 'Plan', (
        <select {...control('plan')} value={fields.plan} onChange={set('plan')}>
          <option value="free">free</option><option value="pro">pro</option><option value="enterprise">enterprise</option>
        </select>
      ))}
      {field('region', 'Region', <input {...control('region')} value={fields.region} onInput={set('region')} placeholder="default" />)}
      {field('provider', 'Provider', (
        <select {...control('provider')} value={fields.provider} onChange={set('provider')}>
          <option value="">default</option><option value="postgres">postgres</option><option value="supabase">supabase</option>
        </select>
      ), 'supabase needs the deployment to have a Supabase access token')}
    </>)
  );
}

export function ProjectsPage() {
  const { api } = useSession();
  const list = useLiveList<Project>({
    type: 'project',
    loadPage: (cursor) => api.GET('/v1/projects', { params: { query: { limit: 50, ...(cursor ? { cursor } : {}) } } }),
    loadOne: async (id) => (await api.GET('/v1/projects/{id}', { params: { path: { id } } })).project,
  });
  const { ask, dialog } = useProjectAction(list.upsert, list.setError);

  return (
    <section aria-labelledby="projects-title">
      <h1 id="projects-title">Projects</h1>
      <CreateProjectForm onCreated={list.upsert} />
      <ProblemBox error={list.error} onDismiss={() => list.setError(null)} />
      {list.items === null ? <Loading what="projects" /> : list.items.length === 0 ? (
        <Empty>No projects yet. Create one above.</Empty>
      ) : (
        <table class="resources" aria-label="Projects">
          <thead><tr><th>Name</th><th>Slug</th><th>Plan</th><th>Region</th><th>Status</th><th>Updated</th><th><span class="sr-only">Actions</span></th></tr></thead>
          <tbody>
            {list.items.map((p) => {
              const progress = jobProgress(list.jobs[p.id]);
              return (
                <tr key={p.id} data-id={p.id} data-slug={p.slug}>
                  <td data-label="Name"><a href={`#/projects/${p.id}`}>{p.name}</a></td>
                  <td data-label="Slug"><code>{p.slug}</code></td>
                  <td data-label="Plan">{p.plan}</td>
                  <td data-label="Region">{p.region}</td>
                  <td data-label="Status"><StatusBadge status={p.status} />{progress && <small class="progress">{progress}</small>}</td>
                  <td data-label="Updated"><Time iso={p.updated_at} /></td>
                  <td data-label="Actions"><ActionButtons project={p} ask={ask} /></td>
                </tr>
              );
            })}
          </tbody>
        </table>
      )}
      {list.next && <button type="button" onClick={() => list.loadMore(list.next)}>Load more</button>}
      {dialog}
    </section>
  );
}

export function ProjectPage({ id }: { id: string }) {
  const { api, onLive } = useSession();
  const [project, setProject] = useState<Project | null>(null);
  const [error, setError] = useState<ApiError | null>(null);
  const [jobs, setJobs] = useState<Array<{ job: Job; events: JobEvent[] }>>([]);
  const [credentials, setCredentials] = useState<string | null>(null);
  const { ask, dialog } = useProjectAction(setProject, setError);

  const loadJobs = async () => {
    const list = await api.GET('/v1/jobs', { params: { query: { subject: `project:${id}`, limit: 20 } } });
    const full = await Promise.all(list.data.map((j) => api.GET('/v1/jobs/{id}', { params: { path: { id: j.id } } })));
    setJobs(full.map((f) => ({ job: f.job, events: f.job.events })).reverse());
  };
  const load = async () => {
    try {
      setProject((await api.GET('/v1/projects/{id}', { params: { path: { id } } })).project);
      await loadJobs();
    } catch (e) {
      setError(e as ApiError);
    }
  };
  useEffect(() => {
    void load();
    return onLive((e) => {
      if (e.event === 'status' && e.data.resource.id === id) void load();
      if (e.event === 'job' && e.data.subject_id === id) void loadJobs().catch(() => {});
    });
  }, [id]);

  const reveal = async () => {
    try {
      const creds = await api.GET('/v1/projects/{id}/credentials', { params: { path: { id } } });
      // An imported Supabase project without its database password has only the pooled string, or none.
      setCredentials(creds.connection_string ?? creds.pooled_connection_string ?? '(no connection string: imported without its database password)');
    } catch (e) {
      setError(e as ApiError);
    }
  };

  if (!project) return error ? <ProblemBox error={error} /> : <Loading what="project" />;
  const events = jobs.flatMap(({ job, events }) => events.map((e) => ({ ...e, kind: job.kind })));
  return (
    <section aria-labelledby="project-title">
      <p><a href="#/projects">← Projects</a></p>
      <h1 id="project-title">{project.name} <StatusBadge status={project.status} /></h1>
      <ProblemBox error={error} onDismiss={() => setError(null)} />
      <dl class="facts">
        <dt>ID</dt><dd><code>{project.id}</code></dd>
        <dt>Slug</dt><dd><code>{project.slug}</code></dd>
        <dt>Plan</dt><dd>{project.plan}</dd>
        <dt>Region</dt><dd>{project.region}</dd>
        <dt>Provider</dt><dd>{project.provider}</dd>
        <dt>Created</dt><dd><Time iso={project.created_at} /></dd>
        <dt>Updated</dt><dd><Time iso={project.updated_at} /></dd>
        {project.last_error && <><dt>Last error</dt><dd class="error-text">{project.last_error}</dd></>}
      </dl>
      <div class="actions">
        <ActionButtons project={project} ask={ask} />
        {project.has_credentials && (credentials
          ? <button type="button" onClick={() => setCredentials(null)}>Hide credentials</button>
          : <button type="button" onClick={reveal}>Reveal credentials</button>)}
      </div>
      {credentials && (
        <div class="card secret">
          <label for="connection-string">Connection string</label>
          <input id="connection-string" readOnly value={credentials} onFocus={(e) => (e.target as HTMLInputElement).select()} />
        </div>
      )}
      <h2>Timeline</h2>
      <Timeline events={events} label="Project timeline" />
      {dialog}
    </section>
  );
}
