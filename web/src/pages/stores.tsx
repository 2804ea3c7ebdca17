/** Stores: the live table with engine, runtime and urls, the create form, delete, and the detail view. */
import { useEffect, useState } from 'preact/hooks';
import { ApiError, type Store } from '../api/client';
import { useCreateForm } from '../components/create-form';
import { ConfirmDialog, Empty, Loading, ProblemBox, StatusBadge, Time, Timeline } from '../components/ui';
import { useSession } from '../context';
import { jobProgress, useLiveList } from '../live-list';

const DELETABLE: Store['status'][] = ['provisioning', 'ready', 'failed'];

function useDelete(onDone: (s: Store) => void, onError: (e: ApiError) => void) {
  const { api } = useSession();
  const [pending, setPending] = useState<Store | null>(null);
  const run = async () => {
    const store = pending;
    setPending(null);
    if (!store) return;
    try {
      onDone((await api.DELETE('/v1/stores/{id}', { params: { path: { id: store.id } } })).store);
    } catch (e) {
      onError(e as ApiError);
    }
  };
  const dialog = (
    <ConfirmDialog open={!!pending} title={`Delete ${pending?.name ?? ''}?`} danger confirmLabel="Delete"
      message="Its data and everything provisioned for it are removed. This cannot be undone."
      onConfirm={run} onCancel={() => setPending(null)} />
  );
  return { ask: setPending, dialog };
}

function Urls({ store }: { store: Store }) {
  if (store.status !== 'ready' || (!store.urls.storefront && !store.urls.admin)) return <span class="muted">—</span>;
  return (
    <span class="urls">
      {store.urls.storefront && <a href={store.urls.storefront} target="_blank" rel="noreferrer">storefront</a>}
      {store.urls.admin && <a href={store.urls.admin} target="_blank" rel="noreferrer">admin</a>}
    </span>
  );
}

function CreateStoreForm({ onCreated }: { onCreated: (s: Store) => void }) {
  const { api } = useSession();
  const { fields, set, submit, control, field, form } = useCreateForm('store', { name: '', engine: 'woocommerce', runtime: 'postgres' });
  const onSubmit = submit(async (f) => {
    const body = { name: f.name, engine: f.engine as Store['engine'], runtime: f.runtime as Store['runtime'] };
    onCreated((await api.POST('/v1/stores', { body })).store);
    return { ...f, name: '' };
  });
  return (
    form('New store', 'Create store', onSubmit, <>
      {field('name', 'Name', <input {...control('name')} value={fields.name} onInput={set('name')} required />, '3–40 characters: a letter, then letters, digits, dashes')}
      {field('engine', 'Engine', (
        <select {...control('engine')} value={fields.engine} onChange={set('engine')}>
          <option value="woocommerce">WooCommerce</option><option value="medusa">Medusa</option>
        </select>
      ))}
      {field('runtime', 'Runtime', (
        <select {...control('runtime')} value={fields.runtime} onChange={set('runtime')}>
          <option value="postgres">postgres</option><option value="kubernetes">kubernetes</option>
        </select>
      ))}
    </>)
  );
}

export function StoresPage() {
  const { api } = useSession();
  const list = useLiveList<Store>({
    type: 'store',
    loadPage: (cursor) => api.GET('/v1/stores', { params: { query: { limit: 50, ...(cursor ? { cursor } : {}) } } }),
    loadOne: async (id) => (await api.GET('/v1/stores/{id}', { params: { path: { id } } })).store,
  });
  const { ask, dialog } = useDelete(list.upsert, list.setError);
  return (
    <section aria-labelledby="stores-title">
      <h1 id="stores-title">Stores</h1>
      <CreateStoreForm onCreated={list.upsert} />
      <ProblemBox error={list.error} onDismiss={() => list.setError(null)} />
      {list.items === null ? <Loading what="stores" /> : list.items.length === 0 ? (
        <Empty>No stores yet. Create one above.</Empty>
      ) : (
        <table class="resources" aria-label="Stores">
          <thead><tr><th>Name</th><th>Engine</th><th>Runtime</th><th>Plan</th><th>Status</th><th>URLs</th><th>Updated</th><th><span class="sr-only">Actions</span></th></tr></thead>
          <tbody>
            {list.items.map((s) => {
              const progress = jobProgress(list.jobs[s.id]);
              return (
                <tr key={s.id} data-id={s.id} data-name={s.name}>
                  <td data-label="Name"><a href={`#/stores/${s.id}`}>{s.name}</a></td>
                  <td data-label="Engine">{s.engine}</td>
                  <td data-label="Runtime">{s.runtime}</td>
                  <td data-label="Plan">{s.plan}</td>
                  <td data-label="Status"><StatusBadge status={s.status} />{progress && <small class="progress">{progress}</small>}</td>
                  <td data-label="URLs"><Urls store={s} /></td>
                  <td data-label="Updated"><Time iso={s.updated_at} /></td>
                  <td data-label="Actions">
                    {DELETABLE.includes(s.status) && <button type="button" class="danger small" onClick={() => ask(s)} aria-label={`Delete ${s.name}`}>Delete</button>}
                  </td>
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

export function StorePage({ id }: { id: string }) {
  const { api, onLive } = useSession();
  const [store, setStore] = useState<Store | null>(null);
  const [events, setEvents] = useState<Array<{ id: string; type: string; kind: string; data: Record<string, unknown>; created_at: string }>>([]);
  const [error, setError] = useState<ApiError | null>(null);
  const [credentials, setCredentials] = useState<Record<string, string> | null>(null);
  const { ask, dialog } = useDelete(setStore, setError);

  const load = async () => {
    try {
      setStore((await api.GET('/v1/stores/{id}', { params: { path: { id } } })).store);
      setEvents((await api.GET('/v1/stores/{id}/events', { params: { path: { id } } })).data);
    } catch (e) {
      setError(e as ApiError);
    }
  };
  useEffect(() => {
    void load();
    return onLive((e) => {
      if ((e.event === 'status' && e.data.resource.id === id) || (e.event === 'job' && e.data.subject_id === id)) void load();
    });
  }, [id]);

  const reveal = async () => {
    try {
      setCredentials((await api.GET('/v1/stores/{id}/credentials', { params: { path: { id } } })) as Record<string, string>);
      void load();
    } catch (e) {
      setError(e as ApiError);
    }
  };

  if (!store) return error ? <ProblemBox error={error} /> : <Loading what="store" />;
  return (
    <section aria-labelledby="store-title">
      <p><a href="#/stores">← Stores</a></p>
      <h1 id="store-title">{store.name} <StatusBadge status={store.status} /></h1>
      <ProblemBox error={error} onDismiss={() => setError(null)} />
      <dl class="facts">
        <dt>ID</dt><dd><code>{store.id}</code></dd>
        <dt>Engine</dt><dd>{store.engine}</dd>
        <dt>Runtime</dt><dd>{store.runtime}</dd>
        <dt>Plan</dt><dd>{store.plan}</dd>
        <dt>URLs</dt><dd><Urls store={store} /></dd>
        {Object.entries(store.runtime_details).map(([k, v]) => <><dt>{k.replace(/_/g, ' ')}</dt><dd>{typeof v === 'string' ? v : JSON.stringify(v)}</dd></>)}
        <dt>Updated</dt><dd><Time iso={store.updated_at} /></dd>
        {store.last_error && <><dt>Last error</dt><dd class="error-text">{store.last_error}</dd></>}
      </dl>
      <div class="actions">
        {DELETABLE.includes(store.status) && <button type="button" class="danger" onClick={() => ask(store)}>Delete</button>}
        {store.credentials_available && !credentials && <button type="button" onClick={reveal}>Reveal admin credentials (once)</button>}
      </div>
      {credentials && (
        <div class="card secret" role="region" aria-label="Admin credentials">
          <p><strong>Save these now:</strong> they are shown only once.</p>
          {Object.entries(credentials).map(([k, v]) => (
            <div class="field"><label for={`cred-${k}`}>{k.replace(/_/g, ' ')}</label><input id={`cred-${k}`} readOnly value={v} /></div>
          ))}
        </div>
      )}
      <h2>Provisioning timeline</h2>
      <Timeline events={events} label="Store timeline" />
      {dialog}
    </section>
  );
}
