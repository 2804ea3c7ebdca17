/**
 * API keys (admin keys only, as the API says) and, for the operator's keys, tenants. A new key's
 * secret, and a new tenant's first admin key, are shown once with a copy button; revoking asks
 * first, and the revoked key is refused from then on (its open streams end within seconds).
 */
import { useEffect, useState } from 'preact/hooks';
import type { ApiError } from '../api/client';
import { useCreateForm } from '../components/create-form';
import { ConfirmDialog, Empty, Loading, ProblemBox, SecretOnce, Time } from '../components/ui';
import { useSession } from '../context';
import type { Schemas } from '../../../sdk/src/index.js';

type ApiKey = Schemas['ApiKey'];
type Tenant = Schemas['Tenant'];

export function KeysPage() {
  const { api, me, signOut } = useSession();
  const [keys, setKeys] = useState<ApiKey[] | null>(null);
  const [error, setError] = useState<ApiError | null>(null);
  const [secret, setSecret] = useState<string | null>(null);
  const [revoking, setRevoking] = useState<ApiKey | null>(null);
  const { fields, set, submit, control, field, form } = useCreateForm('key', { name: '', role: 'member' });

  const load = () => api.GET('/v1/api-keys').then((k) => { setKeys(k.data); setError(null); }, (e: ApiError) => { setError(e); setKeys([]); });
  useEffect(() => { void load(); }, []);

  const onSubmit = submit(async (f) => {
    const res = await api.POST('/v1/api-keys', { body: { name: f.name, role: f.role as 'member' } });
    setSecret(res.api_key.secret);
    const { secret: _shown, ...key } = res.api_key;
    setKeys((list) => [key, ...(list ?? [])]);
    return { name: '', role: f.role };
  });

  const revoke = async () => {
    const k = revoking;
    setRevoking(null);
    if (!k) return;
    try {
      const res = await api.DELETE('/v1/api-keys/{id}', { params: { path: { id: k.id } } });
      if (k.id === me.api_key.id) return signOut();
      setKeys((list) => (list ?? []).map((x) => (x.id === k.id ? res.api_key : x)));
    } catch (e) {
      setError(e as ApiError);
    }
  };

  const canManage = me.api_key.role === 'admin';
  return (
    <section aria-labelledby="keys-title">
      <h1 id="keys-title">API keys</h1>
      {!canManage ? (
        <Empty>Only admin keys can see and manage API keys. You are signed in with a {me.api_key.role} key.</Empty>
      ) : (
        <>
          {secret ? <SecretOnce label="Secret of the new key" value={secret} onDone={() => setSecret(null)} /> : form('New API key', 'Create key', onSubmit, <>
            {field('name', 'Key name', <input {...control('name')} value={fields.name} onInput={set('name')} maxLength={100} placeholder="what uses it" />)}
            {field('role', 'Role', (
              <select {...control('role')} value={fields.role} onChange={set('role')}>
                <option value="viewer">viewer (reads only)</option><option value="member">member</option><option value="admin">admin</option>
              </select>
            ))}
          </>)}
          <ProblemBox error={error} onDismiss={() => setError(null)} />
          {keys === null ? <Loading what="API keys" /> : keys.length === 0 ? <Empty>No keys.</Empty> : (
            <table class="resources" aria-label="API keys">
              <thead><tr><th scope="col">Name</th><th scope="col">Role</th><th scope="col">Prefix</th><th scope="col">Created</th><th scope="col">Last used</th><th scope="col"><span class="sr-only">Actions</span></th></tr></thead>
              <tbody>
                {keys.map((k) => (
                  <tr key={k.id} data-id={k.id} data-name={k.name} class={k.revoked_at ? 'revoked' : undefined}>
                    <td data-label="Name">{k.name || <span class="muted">unnamed</span>}{k.id === me.api_key.id && <small class="progress">this key</small>}</td>
                    <td data-label="Role">{k.role}</td>
                    <td data-label="Prefix"><code>{k.prefix}…</code></td>
                    <td data-label="Created"><Time iso={k.created_at} /></td>
                    <td data-label="Last used">{k.last_used_at ? <Time iso={k.last_used_at} /> : 'never'}</td>
                    <td data-label="Actions">
                      {k.revoked_at ? <span class="badge badge-dead">revoked <Time iso={k.revoked_at} /></span>
                        : <button type="button" class="small danger" onClick={() => setRevoking(k)} aria-label={`Revoke key ${k.name || k.prefix}`}>Revoke</button>}
                    </td>
                  </tr>
                ))}
              </tbody>
            </table>
          )}
        </>
      )}
      <ConfirmDialog open={!!revoking} title={revoking ? `Revoke ${revoking.name || revoking.prefix}?` : ''}
        message={revoking?.id === me.api_key.id ? 'This is the key you are signed in with: you will be signed out.' : 'Anything using it is refused from now on, and its open live streams end.'}
        confirmLabel="Revoke" danger onConfirm={revoke} onCancel={() => setRevoking(null)} />
    </section>
  );
}

export function TenantsPage() {
  const { api, me } = useSession();
  const [tenants, setTenants] = useState<Tenant[] | null>(null);
  const [next, setNext] = useState<string | null>(null);
  const [error, setError] = useState<ApiError | null>(null);
  const [created, setCreated] = useState<{ tenant: Tenant; secret: string } | null>(null);
  const { fields, set, submit, control, field, form } = useCreateForm('tenant', { name: '', plan: 'free' });

  const load = (cursor: string | null) => api.GET('/v1/tenants', { params: { query: { limit: 50, ...(cursor ? { cursor } : {}) } } }).then((p) => {
    setTenants((list) => (cursor ? [...(list ?? []), ...p.data] : p.data));
    setNext('pagination' in p ? p.pagination.next_cursor : p.next_cursor);
    setError(null);
  }, (e: ApiError) => { setError(e); setTenants((t) => t ?? []); });
  useEffect(() => { if (me.tenant.is_operator) void load(null); }, []);

  const onSubmit = submit(async (f) => {
    const res = await api.POST('/v1/tenants', { body: { name: f.name, plan: f.plan as 'free' } });
    setCreated({ tenant: res.tenant, secret: res.api_key.secret });
    setTenants((list) => [res.tenant, ...(list ?? [])]);
    return { name: '', plan: f.plan };
  });

  if (!me.tenant.is_operator) return <section aria-labelledby="tenants-title"><h1 id="tenants-title">Tenants</h1><Empty>Only the operator's keys manage tenants.</Empty></section>;
  return (
    <section aria-labelledby="tenants-title">
      <h1 id="tenants-title">Tenants</h1>
      {created ? <SecretOnce label={`Admin key for ${created.tenant.name}`} value={created.secret} onDone={() => setCreated(null)} /> : form('New tenant', 'Create tenant', onSubmit, <>
        {field('name', 'Tenant name', <input {...control('name')} value={fields.name} onInput={set('name')} required maxLength={100} />)}
        {field('plan', 'Plan', (
          <select {...control('plan')} value={fields.plan} onChange={set('plan')}>
            <option value="free">free</option><option value="pro">pro</option><option value="enterprise">enterprise</option>
          </select>
        ))}
      </>)}
      <ProblemBox error={error} onDismiss={() => setError(null)} />
      {tenants === null ? <Loading what="tenants" /> : tenants.length === 0 ? <Empty>No tenants.</Empty> : (
        <>
          <table class="resources" aria-label="Tenants">
            <thead><tr><th scope="col">Name</th><th scope="col">Plan</th><th scope="col">API version</th><th scope="col">Created</th></tr></thead>
            <tbody>
              {tenants.map((t) => (
                <tr key={t.id} data-id={t.id} data-name={t.name}>
                  <td data-label="Name">{t.name}{t.is_operator && <small class="progress">operator</small>}<small class="progress"><code>{t.id}</code></small></td>
                  <td data-label="Plan">{t.plan}</td>
                  <td data-label="API version">{t.api_version}</td>
                  <td data-label="Created"><Time iso={t.created_at} /></td>
                </tr>
              ))}
            </tbody>
          </table>
          {next && <div class="actions"><button type="button" onClick={() => load(next)}>Load more</button></div>}
        </>
      )}
    </section>
  );
}
