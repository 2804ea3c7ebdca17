/**
 * Contract fakes for the three log APIs a pull reads (../shared/reference/integrations.md §4–§6),
 * each a real HTTP server on its own port, so the pullers' real fetch calls go over the wire:
 *
 * - Supabase Management API `GET /v1/projects/{ref}/analytics/endpoints/logs.all?sql=&iso_timestamp_start=&iso_timestamp_end=`:
 *   Bearer token; the range must be ≤ 24 h and is rounded to the minute; `limit`/`offset` are read
 *   from the SQL; rows `{id, timestamp (µs), event_message, log_type}`; answers `{result}` or
 *   `{error}`; the analytics budget (30/min by default) with X-RateLimit-Limit/-Remaining/-Reset
 *   (seconds until reset) and 429 past it.
 * - Render `GET /v1/logs?ownerId=&resource=…&startTime=&endTime=&direction=&limit=` (≤ 100):
 *   `{hasMore, nextStartTime, nextEndTime, logs:[{id, message, timestamp, labels}]}`; 429 with
 *   Retry-After and RateLimit-*.
 * - Sentry `GET /api/0/projects/{org}/{project}/events/?start=&end=` and `…/issues/?query=lastSeen:…`,
 *   newest first, paged by `Link` (both rels always present, `results`, `cursor` = id:offset:is_prev);
 *   429 with X-Sentry-Rate-Limit-*.
 *
 * Test controls: queue a status (429, 503, 401) for the next requests, and hold a request open
 * (to kill a worker while it waits).
 */
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';

export interface RecordedRequest { at: number; path: string; query: URLSearchParams; status: number; auth: string | null }

interface Injected { status: number; headers?: Record<string, string>; body?: unknown }

class FakeBase {
  readonly requests: RecordedRequest[] = [];
  private injected: Injected[] = [];
  private holds: { match: (r: RecordedRequest) => boolean; arrived: () => void; release: Promise<void> }[] = [];
  server!: Server;
  url = '';

  constructor(readonly token: string) {}

  /** The next `times` requests answer this instead. */
  inject(status: number, opts: { times?: number; headers?: Record<string, string>; body?: unknown } = {}) {
    for (let i = 0; i < (opts.times ?? 1); i++) this.injected.push({ status, headers: opts.headers, body: opts.body });
  }

  /**
   * The first request matching `match` is held until `release` resolves (its socket may die
   * first: a killed worker). Resolves `arrived` when it comes in.
   */
  hold(match: (r: RecordedRequest) => boolean, release: Promise<void>): Promise<void> {
    return new Promise((arrived) => this.holds.push({ match, arrived, release }));
  }

  protected async serve(handler: (req: IncomingMessage, url: URL) => { status: number; headers?: Record<string, string>; body: unknown }) {
    this.server = createServer(async (req: IncomingMessage, res: ServerResponse) => {
      const url = new URL(req.url ?? '/', 'http://fake');
      const rec: RecordedRequest = { at: Date.now(), path: url.pathname, query: url.searchParams, status: 0, auth: req.headers.authorization ?? null };
      this.requests.push(rec);
      const hold = this.holds.findIndex((h) => h.match(rec));
      if (hold >= 0) {
        const [h] = this.holds.splice(hold, 1);
        h!.arrived();
        await h!.release;
        if (res.destroyed || req.socket.destroyed) return;
      }
      let out: { status: number; headers?: Record<string, string>; body: unknown };
      if (req.headers.authorization !== `Bearer ${this.token}`) {
        out = { status: 401, body: { message: 'Unauthorized' } };
      } else {
        const injected = this.injected.shift();
        out = injected ? { status: injected.status, headers: injected.headers, body: injected.body ?? { message: `injected ${injected.status}` } } : handler(req, url);
      }
      rec.status = out.status;
      res.writeHead(out.status, { 'content-type': 'application/json', ...out.headers });
      res.end(JSON.stringify(out.body));
    });
    await new Promise<void>((r) => this.server.listen(0, '127.0.0.1', r));
    const { port } = this.server.address() as { port: number };
    this.url = `http://127.0.0.1:${port}`;
    return this;
  }

  close() {
    this.server.closeAllConnections();
    return new Promise<void>((r) => this.server.close(() => r()));
  }
}

export interface SupabaseLogRow { id: string; timestamp: number; event_message: string; log_type: string }

export class FakeSupabaseLogs extends FakeBase {
  readonly rows = new Map<string, SupabaseLogRow[]>();
  private window: number[] = [];

  constructor(token: string, private readonly budget = { limit: 30, windowMs: 60_000 }) {
    super(token);
  }

  /** Kept sorted (timestamp, id), so a page is two binary searches and a slice. */
  add(ref: string, rows: SupabaseLogRow[]) {
    const all = [...(this.rows.get(ref) ?? []), ...rows];
    all.sort((a, b) => a.timestamp - b.timestamp || a.id.localeCompare(b.id));
    this.rows.set(ref, all);
  }

  start() {
    return this.serve((_req, url) => {
      const m = /^\/v1\/projects\/([a-z0-9]{20})\/analytics\/endpoints\/logs\.all$/.exec(url.pathname);
      if (!m) return { status: 404, body: { message: 'Not Found' } };
      const now = Date.now();
      this.window = this.window.filter((t) => t > now - this.budget.windowMs);
      const reset = this.window.length ? Math.ceil((this.window[0]! + this.budget.windowMs - now) / 1000) : Math.ceil(this.budget.windowMs / 1000);
      const headers = { 'x-ratelimit-limit': String(this.budget.limit), 'x-ratelimit-remaining': String(Math.max(0, this.budget.limit - this.window.length - 1)), 'x-ratelimit-reset': String(reset) };
      if (this.window.length >= this.budget.limit) return { status: 429, headers: { ...headers, 'x-ratelimit-remaining': '0' }, body: { message: 'Too many requests' } };
      this.window.push(now);
      const minute = (s: string | null) => (s ? Math.floor(Date.parse(s) / 60_000) * 60_000 : NaN);
      const start = minute(url.searchParams.get('iso_timestamp_start'));
      const end = minute(url.searchParams.get('iso_timestamp_end'));
      const sql = url.searchParams.get('sql') ?? '';
      if (Number.isNaN(start) || Number.isNaN(end)) return { status: 200, headers, body: { result: [], error: 'iso_timestamp_start and iso_timestamp_end are required here' } };
      if (end - start > 24 * 3_600_000) return { status: 400, headers, body: { result: [], error: { code: 400, errors: [], message: 'Range must be 24 hours or less', status: 'INVALID' } } };
      const limit = Number(/\blimit\s+(\d+)/i.exec(sql)?.[1] ?? 100);
      const offset = Number(/\boffset\s+(\d+)/i.exec(sql)?.[1] ?? 0);
      const rows = this.rows.get(m[1]!) ?? [];
      const first = lowerBound(rows, start * 1000);
      const last = lowerBound(rows, end * 1000);
      return { status: 200, headers, body: { result: rows.slice(Math.min(first + offset, last), Math.min(first + offset + limit, last)) } };
    });
  }
}

/** The first index whose timestamp (µs) is ≥ t. */
function lowerBound(rows: SupabaseLogRow[], t: number): number {
  let lo = 0;
  let hi = rows.length;
  while (lo < hi) {
    const mid = (lo + hi) >> 1;
    if (rows[mid]!.timestamp < t) lo = mid + 1;
    else hi = mid;
  }
  return lo;
}

export interface RenderLog { id: string; message: string; timestamp: string; labels: { name: string; value: string }[] }

export class FakeRenderApi extends FakeBase {
  readonly logs: (RenderLog & { ownerId: string })[] = [];

  add(ownerId: string, logs: RenderLog[]) {
    this.logs.push(...logs.map((l) => ({ ...l, ownerId })));
  }

  start() {
    return this.serve((_req, url) => {
      if (url.pathname !== '/v1/logs') return { status: 404, body: { message: 'not found' } };
      const q = url.searchParams;
      const owner = q.get('ownerId');
      if (!owner) return { status: 400, body: { message: 'ownerId is required' } };
      const resources = q.getAll('resource');
      const now = Date.now();
      const start = q.get('startTime') ? Date.parse(q.get('startTime')!) : now - 3_600_000;
      const end = q.get('endTime') ? Date.parse(q.get('endTime')!) : now;
      const limit = Math.min(Number(q.get('limit') ?? 20), 100);
      const forward = q.get('direction') === 'forward';
      const label = (l: RenderLog, name: string) => l.labels.find((x) => x.name === name)?.value;
      const matching = this.logs
        .filter((l) => l.ownerId === owner && (resources.length === 0 || resources.includes(label(l, 'resource') ?? '')))
        .filter((l) => Date.parse(l.timestamp) >= start && Date.parse(l.timestamp) <= end)
        .sort((a, b) => (forward ? 1 : -1) * (Date.parse(a.timestamp) - Date.parse(b.timestamp) || a.id.localeCompare(b.id)));
      const page = matching.slice(0, limit);
      const rest = matching[limit];
      const body: Record<string, unknown> = { hasMore: !!rest, logs: page.map(({ ownerId: _o, ...l }) => l) };
      if (rest) {
        body.nextStartTime = forward ? rest.timestamp : new Date(start).toISOString();
        body.nextEndTime = forward ? new Date(end).toISOString() : rest.timestamp;
      }
      return { status: 200, body };
    });
  }
}

export interface SentryEvent { id: string; eventID: string; groupID: string; title: string; message: string; dateCreated: string; tags: { key: string; value: string }[]; platform: string }
export interface SentryIssue { id: string; shortId: string; title: string; culprit: string; level: string; status: string; firstSeen: string; lastSeen: string; count: string; permalink: string }

export class FakeSentryApi extends FakeBase {
  readonly events = new Map<string, SentryEvent[]>();
  readonly issues = new Map<string, SentryIssue[]>();

  constructor(token: string, private readonly pageSize = 100) {
    super(token);
  }

  addEvents(org: string, project: string, events: SentryEvent[]) {
    const k = `${org}/${project}`;
    this.events.set(k, [...(this.events.get(k) ?? []), ...events]);
  }

  addIssues(org: string, project: string, issues: SentryIssue[]) {
    const k = `${org}/${project}`;
    this.issues.set(k, [...(this.issues.get(k) ?? []), ...issues]);
  }

  start() {
    return this.serve((_req, url) => {
      const m = /^\/api\/0\/projects\/([^/]+)\/([^/]+)\/(events|issues)\/$/.exec(url.pathname);
      if (!m) return { status: 404, body: { detail: 'The requested resource does not exist' } };
      const key = `${m[1]}/${m[2]}`;
      const q = url.searchParams;
      let list: { date: string; item: unknown }[];
      if (m[3] === 'events') {
        const start = q.get('start') ? Date.parse(q.get('start')!) : -Infinity;
        const end = q.get('end') ? Date.parse(q.get('end')!) : Infinity;
        list = (this.events.get(key) ?? []).filter((e) => Date.parse(e.dateCreated) >= start && Date.parse(e.dateCreated) < end)
          .map((e) => ({ date: e.dateCreated, item: e }));
      } else {
        const query = q.get('query') ?? '';
        const ge = /lastSeen:>=(\S+)/.exec(query)?.[1];
        const lt = /lastSeen:<(\S+)/.exec(query)?.[1];
        list = (this.issues.get(key) ?? [])
          .filter((i) => (!ge || Date.parse(i.lastSeen) >= Date.parse(ge)) && (!lt || Date.parse(i.lastSeen) < Date.parse(lt)))
          .map((i) => ({ date: i.lastSeen, item: i }));
      }
      list.sort((a, b) => Date.parse(b.date) - Date.parse(a.date)); // newest first
      const offset = Number((q.get('cursor') ?? '0:0:0').split(':')[1] ?? 0);
      const page = list.slice(offset, offset + this.pageSize);
      const more = offset + this.pageSize < list.length;
      const base = `${this.url}${url.pathname}`;
      const prev = `0:${Math.max(0, offset - this.pageSize)}:1`;
      const next = `0:${offset + this.pageSize}:0`;
      const link = `<${base}?&cursor=${prev}>; rel="previous"; results="${offset > 0}"; cursor="${prev}", <${base}?&cursor=${next}>; rel="next"; results="${more}"; cursor="${next}"`;
      return { status: 200, headers: { link, 'x-sentry-rate-limit-limit': '40', 'x-sentry-rate-limit-remaining': '39' }, body: page.map((p) => p.item) };
    });
  }
}
