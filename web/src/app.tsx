/** The shell: sign-in by API key (kept in sessionStorage only), navigation, live connection state. */
import { useEffect, useMemo, useRef, useState } from 'preact/hooks';
import { ApiError, createApi, type LiveEvent, type LiveState, type Me } from './api/client';
import { ProblemBox } from './components/ui';
import { SessionContext, type Session } from './context';
import { ProjectPage, ProjectsPage } from './pages/projects';
import { StorePage, StoresPage } from './pages/stores';
import { RolloutPage, RolloutsPage } from './pages/rollouts';
import { LogsPage } from './pages/logs';
import { SourcesPage } from './pages/sources';
import { AlertsPage } from './pages/alerts';
import { JobPage, QueuePage } from './pages/queue';
import { KeysPage, TenantsPage } from './pages/keys';
import { useRoute, type Route } from './router';

const KEY = 'switchyard.api_key';

function SignIn({ onSignedIn }: { onSignedIn: (key: string, me: Me) => void }) {
  const [key, setKey] = useState('');
  const [error, setError] = useState<ApiError | null>(null);
  const [busy, setBusy] = useState(false);
  const submit = async (e: Event) => {
    e.preventDefault();
    setBusy(true);
    setError(null);
    try {
      const trimmed = key.trim();
      const me = await createApi(() => trimmed).GET('/v1/me');
      onSignedIn(trimmed, me);
    } catch (err) {
      setError(err as ApiError);
    } finally {
      setBusy(false);
    }
  };
  return (
    <main class="signin">
      <form class="card" onSubmit={submit} aria-labelledby="signin-title">
        <h1 id="signin-title">Switchyard</h1>
        <p class="muted">Sign in with an API key. It stays in this tab only and is never put in a URL.</p>
        <div class="field">
          <label for="api-key">API key</label>
          <input id="api-key" type="password" autocomplete="off" spellcheck={false} value={key}
            onInput={(e) => setKey((e.target as HTMLInputElement).value)} placeholder="sk_…" required />
        </div>
        <ProblemBox error={error} />
        <button type="submit" class="primary" disabled={busy || !key.trim()}>{busy ? 'Signing in…' : 'Sign in'}</button>
      </form>
    </main>
  );
}

type AlertNote = { rule_id: string; rule_name: string; message: string; project_id: string };

/** A rule that fires shows here, on whatever view is open, until it resolves or is dismissed. */
function AlertBanner({ onLive }: { onLive: Session['onLive'] }) {
  const [firing, setFiring] = useState<AlertNote[]>([]);
  useEffect(() => onLive((e) => {
    if (e.event !== 'log' || !e.data.alert) return;
    const a = e.data.alert;
    const note = { rule_id: a.rule_id, rule_name: a.rule_name, message: a.message, project_id: e.data.project_id };
    if (e.data.type === 'alert') setFiring((list) => [note, ...list.filter((x) => x.rule_id !== note.rule_id)]);
    if (e.data.type === 'alert_resolved') setFiring((list) => list.filter((x) => x.rule_id !== note.rule_id));
  }), []);
  if (firing.length === 0) return null;
  return (
    <div class="alert-banners" role="alert">
      {firing.map((a) => (
        <div class="alert-banner" key={a.rule_id} data-rule={a.rule_id}>
          <strong>Alert firing: {a.rule_name}</strong> <span>{a.message}</span>
          <a href={`#/alerts?project=${a.project_id}`}>See the rule</a>
          <button type="button" class="small" onClick={() => setFiring((list) => list.filter((x) => x.rule_id !== a.rule_id))} aria-label={`Dismiss the alert ${a.rule_name}`}>Dismiss</button>
        </div>
      ))}
    </div>
  );
}

const SECTIONS = [
  ['projects', 'Projects'], ['stores', 'Stores'], ['rollouts', 'Rollouts'], ['logs', 'Logs'], ['sources', 'Sources'],
  ['alerts', 'Alerts'], ['queue', 'Queue'], ['keys', 'Keys'], ['tenants', 'Tenants'],
] as const;

function sectionOf(route: Route): string {
  switch (route.page) {
    case 'project': return 'projects';
    case 'store': return 'stores';
    case 'rollout': return 'rollouts';
    case 'job': return 'queue';
    default: return route.page;
  }
}

function Shell({ session, live, onSignOut }: { session: Session; live: LiveState; onSignOut: () => void }) {
  const route = useRoute();
  const section = sectionOf(route);
  const shown = SECTIONS.filter(([s]) => (s !== 'tenants' || session.me.tenant.is_operator) && (s !== 'keys' || session.me.api_key.role === 'admin'));
  return (
    <SessionContext.Provider value={session}>
      <a class="skip" href="#content" onClick={(e) => { e.preventDefault(); document.getElementById('content')?.focus(); }}>Skip to content</a>
      <header class="top">
        <a class="brand" href="#/projects">Switchyard</a>
        <nav aria-label="Main">
          {shown.map(([s, label]) => <a href={`#/${s}`} aria-current={section === s ? 'page' : undefined}>{label}</a>)}
        </nav>
        <span class={`live live-${live}`} role="status" aria-live="polite">{live === 'live' ? 'Live' : live === 'connecting' ? 'Connecting…' : 'Reconnecting…'}</span>
        <span class="who" title={session.me.tenant.id}>{session.me.tenant.name} · {session.me.api_key.role}</span>
        <button type="button" onClick={onSignOut}>Sign out</button>
      </header>
      <AlertBanner onLive={session.onLive} />
      <main id="content" tabIndex={-1}>
        {route.page === 'projects' && <ProjectsPage />}
        {route.page === 'project' && <ProjectPage id={route.id} />}
        {route.page === 'stores' && <StoresPage />}
        {route.page === 'store' && <StorePage id={route.id} />}
        {route.page === 'rollouts' && <RolloutsPage />}
        {route.page === 'rollout' && <RolloutPage id={route.id} />}
        {route.page === 'logs' && <LogsPage query={route.query} />}
        {route.page === 'sources' && <SourcesPage key={route.query.get('project') ?? ''} query={route.query} />}
        {route.page === 'alerts' && <AlertsPage key={route.query.get('project') ?? ''} query={route.query} />}
        {route.page === 'queue' && <QueuePage />}
        {route.page === 'job' && <JobPage id={route.id} />}
        {route.page === 'keys' && <KeysPage />}
        {route.page === 'tenants' && <TenantsPage />}
      </main>
    </SessionContext.Provider>
  );
}

export function App() {
  const [key, setKey] = useState<string | null>(() => sessionStorage.getItem(KEY));
  const [me, setMe] = useState<Me | null>(null);
  const [live, setLive] = useState<LiveState>('connecting');
  const [error, setError] = useState<ApiError | null>(null);
  const listeners = useRef(new Set<(e: LiveEvent) => void>());
  const keyRef = useRef(key);
  keyRef.current = key;
  const api = useMemo(() => createApi(() => keyRef.current), []);

  // A key from this tab's earlier visit: check it is still good.
  useEffect(() => {
    if (!key || me) return;
    api.GET('/v1/me').then(setMe, (e: ApiError) => {
      if (e.status === 401) signOut();
      else setError(e);
    });
  }, [key]);

  useEffect(() => {
    if (!me) return;
    return api.subscribe([`tenant:${me.tenant.id}`], (e) => listeners.current.forEach((l) => l(e)), { onState: setLive });
  }, [me?.tenant.id]);

  const signOut = () => {
    sessionStorage.removeItem(KEY);
    setKey(null);
    setMe(null);
  };

  if (!key) return <SignIn onSignedIn={(k, m) => { sessionStorage.setItem(KEY, k); setKey(k); setMe(m); }} />;
  if (!me) return error ? <main><ProblemBox error={error} /><button type="button" onClick={signOut}>Sign out</button></main> : <main><p class="muted" role="status">Signing in…</p></main>;
  const session: Session = {
    api, me,
    onLive: (l) => {
      listeners.current.add(l);
      return () => listeners.current.delete(l);
    },
    signOut,
  };
  return <Shell session={session} live={live} onSignOut={signOut} />;
}
