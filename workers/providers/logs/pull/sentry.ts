/**
 * Sentry, through its REST API: a project's error events
 * (`GET /api/0/projects/{org}/{project}/events/?start=&end=&full=true`), then its issues seen in
 * the same window (`GET /api/0/projects/{org}/{project}/issues/?query=lastSeen:>=… lastSeen:<…`).
 * Both are paged by the `Link` header: follow `rel="next"` while it says `results="true"`. The
 * mark holds the window, the phase and the cursor, so a crash resumes at the same page.
 */
import { maskText, maskValue } from '../mask.ts';
import { getJson } from './http.ts';
import { levelFrom, str, type LogPuller, type PullerOptions, type PulledEvent } from './puller.ts';

type Phase = 'events' | 'issues';
interface Cursor { mark?: string; window?: { start: string; end: string }; phase?: Phase; next?: string }

/** The `cursor` of the `rel="next"` link, when it has results; null at the end. */
export function nextCursor(link: string | null): string | null {
  if (!link) return null;
  for (const part of link.split(/,\s*(?=<)/)) {
    const attrs = Object.fromEntries([...part.matchAll(/;\s*(\w+)="([^"]*)"/g)].map((m) => [m[1], m[2]]));
    if (attrs.rel === 'next') return attrs.results === 'true' && attrs.cursor ? attrs.cursor : null;
  }
  return null;
}

function tagsOf(e: Record<string, any>): Record<string, string> {
  return Object.fromEntries(((e.tags ?? []) as { key: string; value: string }[]).map((t) => [t.key, t.value]));
}

export function normalizeSentryEvent(e: Record<string, any>, project: string): PulledEvent | null {
  const id = str(e.eventID) ?? str(e.id);
  const ts = new Date(e.dateCreated ?? e.dateReceived ?? '');
  if (!id || Number.isNaN(ts.getTime())) return null;
  const tags = tagsOf(e);
  return {
    ts: ts.toISOString(),
    service: project,
    environment: tags.environment ?? null,
    level: levelFrom(tags.level, 'error'),
    kind: 'error',
    message: maskText(String(e.title ?? e.message ?? 'error')).slice(0, 8000),
    fingerprint: e.groupID ? `sentry:issue:${e.groupID}` : null,
    attrs: maskValue({ event_id: id, culprit: e.culprit, platform: e.platform, tags }),
    sourceEventId: `event:${id}`,
  };
}

export function normalizeSentryIssue(i: Record<string, any>, project: string): PulledEvent | null {
  const id = str(i.id);
  const ts = new Date(i.lastSeen ?? '');
  if (!id || Number.isNaN(ts.getTime())) return null;
  return {
    ts: ts.toISOString(),
    service: project,
    environment: null,
    level: i.status === 'resolved' ? 'info' : levelFrom(i.level, 'error'),
    kind: 'error',
    message: maskText(`${i.shortId ? `${i.shortId} ` : ''}${i.title ?? 'issue'} (${i.status ?? 'unresolved'}, ${i.count ?? '?'} events)`).slice(0, 8000),
    fingerprint: `sentry:issue:${id}`,
    attrs: maskValue({ issue_id: id, short_id: i.shortId, status: i.status, count: i.count, culprit: i.culprit, permalink: i.permalink }),
    // An issue seen again is a new row: one per (issue, lastSeen).
    sourceEventId: `issue:${id}:${ts.toISOString()}`,
  };
}

export function createSentryLogPuller(opts: PullerOptions): LogPuller {
  return {
    provider: 'sentry',
    async pull({ config, apiKey, cursor: raw, now, signal }) {
      const org = str(config.organization);
      const project = str(config.project);
      if (!org || !project) throw new Error('config.organization and config.project are required');
      const cursor = raw as Cursor;
      const mark = cursor.mark ?? new Date(now.getTime() - opts.initialLookbackMs).toISOString();
      const window = cursor.window ?? { start: mark, end: now.toISOString() };
      const phase: Phase = cursor.phase ?? 'events';
      if (!cursor.window && Date.parse(window.start) >= Date.parse(window.end)) {
        return { events: [], cursor: { mark }, more: false, minDelayMs: 0, note: 'up to date' };
      }
      const base = `/api/0/projects/${encodeURIComponent(org)}/${encodeURIComponent(project)}/${phase}/`;
      const url = new URL(base, opts.baseUrl);
      if (phase === 'events') {
        url.searchParams.set('start', window.start);
        url.searchParams.set('end', window.end);
        url.searchParams.set('full', 'true');
      } else {
        url.searchParams.set('query', `lastSeen:>=${window.start} lastSeen:<${window.end}`);
      }
      if (cursor.next) url.searchParams.set('cursor', cursor.next);
      const { body, headers } = await getJson<Record<string, any>[]>(url, { provider: 'sentry', token: apiKey, signal, fetch: opts.fetch });
      const list = Array.isArray(body) ? body : [];
      const normalize = phase === 'events' ? normalizeSentryEvent : normalizeSentryIssue;
      const events = list.map((x) => normalize(x, project)).filter((e): e is PulledEvent => e !== null);
      const note = `${phase} ${window.start} – ${window.end}${cursor.next ? ` from ${cursor.next}` : ''}: ${list.length}`;
      const next = nextCursor(headers.get('link'));
      if (next) return { events, cursor: { mark, window, phase, next }, more: true, minDelayMs: 0, note };
      if (phase === 'events') return { events, cursor: { mark, window, phase: 'issues' }, more: true, minDelayMs: 0, note };
      return { events, cursor: { mark: window.end }, more: false, minDelayMs: 0, note };
    },
  };
}
