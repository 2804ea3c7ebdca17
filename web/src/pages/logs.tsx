/**
 * The log explorer: every event the tenant's projects sent (Supabase, Render, Sentry) and
 * Switchyard's own alerts, filtered and searched, newest first with "load older" (keyset pages),
 * a chart of events per minute by level, and a live tail. The filters live in the address, so a
 * link reproduces the view.
 *
 * Live tail: the stream says a batch landed (a `log` event: project, provider, how many); the
 * view then asks GET /v1/logs for what is newer than its newest line, with its own filters, so
 * what it shows is always what the API says. Paused, those lines wait above the list behind an
 * "N new" button.
 */
import { useEffect, useMemo, useState } from 'preact/hooks';
import type { ApiError, LiveEvent } from '../api/client';
import { binned, LevelChart, LEVELS, type Bucket } from '../components/level-chart';
import { CopyButton, Drawer, Empty, Loading, ProblemBox, Time } from '../components/ui';
import { useSession } from '../context';
import { useLive, useProjects, useRefresh } from '../hooks';
import { href, replaceQuery } from '../router';
import type { Schemas } from '../../../sdk/src/index.js';

type LogEvent = Schemas['Event'];
type Filters = {
  project: string; provider: string; service: string; level: string; kind: string; q: string;
  range: string; since: string; until: string; live: string;
};
const FILTER_KEYS: (keyof Filters)[] = ['project', 'provider', 'service', 'level', 'kind', 'q', 'range', 'since', 'until', 'live'];
const RANGES: Record<string, { label: string; ms: number }> = {
  '15m': { label: 'Last 15 minutes', ms: 15 * 60_000 },
  '1h': { label: 'Last hour', ms: 3_600_000 },
  '6h': { label: 'Last 6 hours', ms: 6 * 3_600_000 },
  '24h': { label: 'Last 24 hours', ms: 86_400_000 },
  '7d': { label: 'Last 7 days', ms: 7 * 86_400_000 },
};
const PAGE = 50;

function filtersOf(query: URLSearchParams): Filters {
  const f = Object.fromEntries(FILTER_KEYS.map((k) => [k, query.get(k) ?? ''])) as Filters;
  if (!f.range || (f.range !== 'custom' && !RANGES[f.range])) f.range = '1h';
  return f;
}

/** The time window a filter set means now: a preset ends now; a custom range is as given. */
function windowOf(f: Filters): { since: Date; until: Date | null } {
  if (f.range === 'custom') {
    const since = f.since ? new Date(f.since) : new Date(Date.now() - 3_600_000);
    return { since, until: f.until ? new Date(f.until) : null };
  }
  return { since: new Date(Date.now() - RANGES[f.range]!.ms), until: null };
}

const toLocalInput = (iso: string) => {
  if (!iso) return '';
  const d = new Date(iso);
  return new Date(d.getTime() - d.getTimezoneOffset() * 60_000).toISOString().slice(0, 16);
};

function newestFirst(a: LogEvent, b: LogEvent) {
  return a.ts === b.ts ? (a.id < b.id ? 1 : -1) : a.ts < b.ts ? 1 : -1;
}

export function LogsPage({ query }: { query: URLSearchParams }) {
  const { api } = useSession();
  const { projects } = useProjects();
  const f = filtersOf(query);
  const key = FILTER_KEYS.map((k) => f[k]).join('\u0000');
  const set = (changes: Partial<Filters>) => replaceQuery('logs', { ...f, ...changes, ...(changes.range && changes.range !== 'custom' ? { since: '', until: '' } : {}) });

  const [items, setItems] = useState<LogEvent[] | null>(null);
  const [next, setNext] = useState<string | null>(null);
  const [error, setError] = useState<ApiError | null>(null);
  const [pending, setPending] = useState<LogEvent[]>([]);
  const [paused, setPaused] = useState(false);
  const [fresh, setFresh] = useState<Set<string>>(new Set());
  const [selected, setSelected] = useState<LogEvent | null>(null);
  const [stats, setStats] = useState<{ interval: '1m' | '1h'; since: string; until: string; data: Bucket[] } | null>(null);
  const [search, setSearch] = useState(f.q);
  const live = f.live === '1';

  const listQuery = (extra: { since?: string; cursor?: string; limit?: number }) => {
    const w = windowOf(f);
    return {
      ...(f.project ? { project: f.project } : {}), ...(f.provider ? { provider: f.provider as 'render' } : {}),
      ...(f.service ? { service: f.service } : {}), ...(f.level ? { level: f.level as 'error' } : {}),
      ...(f.kind ? { kind: f.kind as 'log' } : {}), ...(f.q ? { q: f.q } : {}),
      since: extra.since ?? w.since.toISOString(), ...(w.until ? { until: w.until.toISOString() } : {}),
      limit: extra.limit ?? PAGE, ...(extra.cursor ? { cursor: extra.cursor } : {}),
    };
  };

  const loadStats = async () => {
    const w = windowOf(f);
    const span = (w.until ?? new Date()).getTime() - w.since.getTime();
    const interval = span > 6 * 3_600_000 ? '1h' : '1m';
    const s = await api.GET('/v1/logs/stats', {
      params: {
        query: {
          interval, since: w.since.toISOString(), ...(w.until ? { until: w.until.toISOString() } : {}),
          ...(f.project ? { project: f.project } : {}), ...(f.provider ? { provider: f.provider as 'render' } : {}), ...(f.kind ? { kind: f.kind as 'log' } : {}),
        },
      },
    });
    setStats({ interval: s.interval, since: s.since, until: s.until, data: s.data as Bucket[] });
  };

  // A new filter set: the first page and the chart again, nothing pending.
  useEffect(() => {
    setItems(null);
    setPending([]);
    setSearch(f.q);
    api.GET('/v1/logs', { params: { query: listQuery({}) } }).then((p) => {
      setItems((list) => [...(list ?? []).filter((e) => !p.data.some((x) => x.id === e.id)), ...p.data].sort(newestFirst));
      setNext('pagination' in p ? p.pagination.next_cursor : p.next_cursor);
      setError(null);
    }, (e: ApiError) => { setError(e); setItems([]); });
    loadStats().catch((e: ApiError) => setError(e));
  }, [key]);

  const older = async () => {
    if (!next) return;
    try {
      const p = await api.GET('/v1/logs', { params: { query: listQuery({ cursor: next }) } });
      setItems((list) => [...(list ?? []), ...p.data.filter((e) => !(list ?? []).some((x) => x.id === e.id))]);
      setNext('pagination' in p ? p.pagination.next_cursor : p.next_cursor);
    } catch (e) {
      setError(e as ApiError);
    }
  };

  // What is newer than the newest line shown (or waiting): a few pages at most per poke.
  const pullNewer = useRefresh(async () => {
    const known = [...pending, ...(items ?? [])];
    const newest = known.reduce<string | null>((m, e) => (m === null || e.ts > m ? e.ts : m), null);
    const got: LogEvent[] = [];
    let cursor: string | undefined;
    for (let i = 0; i < 5; i++) {
      const p = await api.GET('/v1/logs', { params: { query: listQuery({ ...(newest ? { since: newest } : {}), ...(cursor ? { cursor } : {}), limit: 100 }) } });
      got.push(...p.data);
      cursor = ('pagination' in p ? p.pagination.next_cursor : p.next_cursor) ?? undefined;
      if (!cursor) break;
    }
    const ids = new Set(known.map((e) => e.id));
    const added = got.filter((e) => !ids.has(e.id)).sort(newestFirst);
    if (added.length === 0) return;
    // Merged against what is there by then (the first page may have landed meanwhile).
    const merge = (list: LogEvent[] | null) => {
      const have = new Set((list ?? []).map((e) => e.id));
      return [...added.filter((e) => !have.has(e.id)), ...(list ?? [])].sort(newestFirst);
    };
    if (paused) {
      setPending((p) => merge(p).filter((e) => !(items ?? []).some((x) => x.id === e.id)));
    } else {
      setItems(merge);
      setFresh(new Set(added.map((e) => e.id)));
    }
  });
  const refreshStats = useRefresh(loadStats);

  const matches = (e: LiveEvent) => e.event === 'log' && (!f.project || e.data.project_id === f.project)
    && (!f.provider || e.data.provider === undefined || e.data.provider === f.provider || (e.data.type !== 'events' && f.provider === 'switchyard'));
  useLive((e) => {
    if (e.event === 'resync') {
      if (live) pullNewer();
      refreshStats();
      return;
    }
    if (!matches(e)) return;
    if (f.range !== 'custom' || !f.until) refreshStats();
    if (live) pullNewer();
  });
  // Turning the tail on catches up at once.
  useEffect(() => {
    if (live) pullNewer();
  }, [live]);

  const showPending = () => {
    setItems((list) => [...pending, ...(list ?? [])].sort(newestFirst));
    setFresh(new Set(pending.map((e) => e.id)));
    setPending([]);
  };

  const chart = useMemo(() => {
    if (!stats) return null;
    const step = stats.interval === '1m' ? 60_000 : 3_600_000;
    return binned(stats.data, new Date(stats.since), new Date(stats.until), step);
  }, [stats]);

  const projectName = (id: string) => projects?.find((p) => p.id === id)?.name ?? id;

  return (
    <section aria-labelledby="logs-title">
      <h1 id="logs-title">Logs</h1>
      <form class="card filters" aria-label="Filters" onSubmit={(e) => { e.preventDefault(); set({ q: search.trim() }); }}>
        <div class="fields">
          <div class="field">
            <label for="logs-project">Project</label>
            <select id="logs-project" value={f.project} onChange={(e) => set({ project: (e.target as HTMLSelectElement).value })}>
              <option value="">All projects</option>
              {(projects ?? []).map((p) => <option value={p.id}>{p.name}</option>)}
              {/* Until the names arrive (or for a project not in the first 100), the id itself keeps the link's choice. */}
              {f.project && !(projects ?? []).some((p) => p.id === f.project) && <option value={f.project}>{f.project}</option>}
            </select>
          </div>
          <div class="field">
            <label for="logs-provider">Provider</label>
            <select id="logs-provider" value={f.provider} onChange={(e) => set({ provider: (e.target as HTMLSelectElement).value })}>
              <option value="">Any</option>
              {['supabase', 'render', 'sentry', 'switchyard'].map((p) => <option value={p}>{p}</option>)}
            </select>
          </div>
          <div class="field">
            <label for="logs-level">Level</label>
            <select id="logs-level" value={f.level} onChange={(e) => set({ level: (e.target as HTMLSelectElement).value })}>
              <option value="">Any</option>
              {LEVELS.map((l) => <option value={l}>{l}</option>)}
            </select>
          </div>
          <div class="field">
            <label for="logs-kind">Kind</label>
            <select id="logs-kind" value={f.kind} onChange={(e) => set({ kind: (e.target as HTMLSelectElement).value })}>
              <option value="">Any</option>
              {['log', 'error', 'deploy', 'alert'].map((k) => <option value={k}>{k}</option>)}
            </select>
          </div>
          <div class="field">
            <label for="logs-service">Service</label>
            <input id="logs-service" value={f.service} placeholder="any" onChange={(e) => set({ service: (e.target as HTMLInputElement).value.trim() })} />
          </div>
          <div class="field">
            <label for="logs-range">Time range</label>
            <select id="logs-range" value={f.range} onChange={(e) => set({ range: (e.target as HTMLSelectElement).value })}>
              {Object.entries(RANGES).map(([k, r]) => <option value={k}>{r.label}</option>)}
              <option value="custom">Custom…</option>
            </select>
          </div>
          {f.range === 'custom' && (
            <>
              <div class="field">
                <label for="logs-since">From</label>
                <input id="logs-since" type="datetime-local" value={toLocalInput(f.since)}
                  onChange={(e) => { const v = (e.target as HTMLInputElement).value; set({ since: v ? new Date(v).toISOString() : '' }); }} />
              </div>
              <div class="field">
                <label for="logs-until">To</label>
                <input id="logs-until" type="datetime-local" value={toLocalInput(f.until)}
                  onChange={(e) => { const v = (e.target as HTMLInputElement).value; set({ until: v ? new Date(v).toISOString() : '' }); }} />
              </div>
            </>
          )}
        </div>
        <div class="actions">
          <div class="field grow">
            <label for="logs-q">Search messages</label>
            <div class="with-button">
              <input id="logs-q" type="search" value={search} onInput={(e) => setSearch((e.target as HTMLInputElement).value)} placeholder="text in the message" />
              <button type="submit">Search</button>
            </div>
          </div>
        </div>
        <div class="actions">
          <label class="toggle">
            <input type="checkbox" checked={live} onChange={(e) => { setPaused(false); set({ live: (e.target as HTMLInputElement).checked ? '1' : '' }); }} />
            Live tail
          </label>
          {live && (
            <button type="button" onClick={() => { if (paused) showPending(); setPaused(!paused); }} aria-pressed={paused}>
              {paused ? 'Resume' : 'Pause'}
            </button>
          )}
          <a class="button-link" href={href('logs', {})}>Clear filters</a>
          <CopyButton value={location.href} label="Copy a link to this view" />
        </div>
      </form>

      <ProblemBox error={error} onDismiss={() => setError(null)} />
      {chart && stats && <LevelChart xs={chart.xs} counts={chart.counts} interval={stats.interval} label={f.range === 'custom' ? 'Custom range' : RANGES[f.range]!.label} />}

      <div role="status" aria-live="polite" class="tail-state">
        {live && (paused ? `Live tail paused${pending.length ? `: ${pending.length} new` : ''}` : 'Live tail on: new lines appear at the top')}
      </div>
      {pending.length > 0 && (
        <button type="button" class="primary new-marker" onClick={showPending}>{pending.length} new {pending.length === 1 ? 'event' : 'events'}: show</button>
      )}
      {items === null ? <Loading what="events" /> : items.length === 0 ? (
        <Empty>No events match. Widen the time range, clear a filter, or add a log source to a project (<a href="#/sources">Sources</a>).</Empty>
      ) : (
        <>
          <table class="resources logs" aria-label="Events">
            <thead><tr><th scope="col">Time</th><th scope="col">Level</th><th scope="col">Source</th><th scope="col">Message</th></tr></thead>
            <tbody>
              {items.map((e) => (
                <tr key={e.id} data-id={e.id} data-level={e.level} class={fresh.has(e.id) ? 'fresh' : undefined}>
                  <td data-label="Time"><Time iso={e.ts} /></td>
                  <td data-label="Level"><span class={`badge level-${e.level}`}>{e.level}</span></td>
                  <td data-label="Source">{e.provider}{e.service ? ` · ${e.service}` : ''}{!f.project && <small class="progress">{projectName(e.project_id)}</small>}</td>
                  <td data-label="Message">
                    <button type="button" class="link message" onClick={() => setSelected(e)} aria-haspopup="dialog" title="Show the details">{e.message}</button>
                  </td>
                </tr>
              ))}
            </tbody>
          </table>
          <div class="actions">
            {next ? <button type="button" onClick={older}>Load older</button> : <span class="muted">No older events in this range.</span>}
          </div>
        </>
      )}
      <Drawer open={!!selected} title="Event" onClose={() => setSelected(null)}>
        {selected && (
          <>
            <dl class="facts">
              <dt>Time</dt><dd><Time iso={selected.ts} /></dd>
              <dt>Level</dt><dd>{selected.level}</dd>
              <dt>Kind</dt><dd>{selected.kind}</dd>
              <dt>Provider</dt><dd>{selected.provider}</dd>
              <dt>Service</dt><dd>{selected.service ?? '—'}</dd>
              <dt>Environment</dt><dd>{selected.environment ?? '—'}</dd>
              <dt>Project</dt><dd>{projectName(selected.project_id)}</dd>
              <dt>Source</dt><dd><code>{selected.source_id}</code></dd>
              <dt>Fingerprint</dt><dd>{selected.fingerprint ? <code>{selected.fingerprint}</code> : '—'}</dd>
              <dt>Event id</dt><dd><code>{selected.id}</code></dd>
            </dl>
            <h3>Message</h3>
            <p class="message-full">{selected.message}</p>
            <h3>Attributes</h3>
            <p class="muted">As stored: secrets and personal data were masked when the event was ingested.</p>
            <pre class="attrs" tabIndex={0} aria-label="Attributes (JSON)">{JSON.stringify(selected.attrs, null, 2)}</pre>
          </>
        )}
      </Drawer>
    </section>
  );
}
