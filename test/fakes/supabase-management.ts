/**
 * A contract fake of Supabase's Management API (`https://api.supabase.com`, see
 * ../shared/reference/supabase-realtime.md §4): real HTTP, the documented paths, bodies, statuses
 * and headers, for the `supabase` project provider (issue 22).
 *
 * - Bearer auth (`sbp_…`); 401 without it.
 * - Rate limits as documented: a budget per token, scope (organization or project) and endpoint
 *   per minute (120 by default), `X-RateLimit-Limit`, `-Remaining` and `-Reset` (seconds) on every
 *   answer, and 429 past it for the rest of the window.
 * - `POST /v1/projects` refuses unknown fields (the real schema has additionalProperties: false),
 *   a missing `name`, `organization_slug` or `db_pass`, both `region` and `region_selection`, and
 *   an unknown instance size.
 * - Status progressions with timings, read lazily from the clock: `COMING_UP` → `ACTIVE_HEALTHY`;
 *   pause: `PAUSING` → `INACTIVE`; restore: `RESTORING` → `COMING_UP` → `ACTIVE_HEALTHY`. On
 *   demand: a status that sticks (`stick`), and the terminal failures (`failNext`: `INIT_FAILED`,
 *   `PAUSE_FAILED`, `RESTORE_FAILED`).
 * - The refusals users meet: a paid organization's project can't be paused; restore while
 *   `PAUSING` answers 400 "This project is no longer in a paused state, it is PAUSING"; a free
 *   project paused over 90 days can't be restored.
 * - The project's logs (`GET /v1/projects/{ref}/analytics/endpoints/logs.all`), lines a test adds.
 * - Health per service, API keys (secrets only with `reveal=true`), and the pooler configuration
 *   (whose connection string holds the literal `[YOUR-PASSWORD]`).
 *
 * The error bodies' wording is the fake's own where the reference gives none; the statuses and
 * shapes are the documented ones.
 */
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { randomBytes } from 'node:crypto';

export type ProjectStatus =
  | 'INACTIVE' | 'ACTIVE_HEALTHY' | 'ACTIVE_UNHEALTHY' | 'COMING_UP' | 'UNKNOWN' | 'GOING_DOWN' | 'INIT_FAILED' | 'REMOVED'
  | 'RESTORING' | 'UPGRADING' | 'PAUSING' | 'RESTORE_FAILED' | 'RESTARTING' | 'PAUSE_FAILED' | 'RESIZING';

export const INSTANCE_SIZES = ['nano', 'micro', 'small', 'medium', 'large', 'xlarge', '2xlarge', '4xlarge', '8xlarge', '12xlarge', '16xlarge'] as const;
const HEALTH_SERVICES = ['auth', 'db', 'db_postgres_user', 'pooler', 'realtime', 'rest', 'storage', 'pg_bouncer'];
const CREATE_FIELDS = new Set(['name', 'organization_slug', 'db_pass', 'region', 'region_selection', 'desired_instance_size', 'template_url', 'organization_id', 'plan', 'kps_enabled']);

export interface FakeOrganization { slug: string; name: string; plan: 'free' | 'pro' }

export interface FakeProject {
  ref: string;
  name: string;
  organizationSlug: string;
  region: string;
  instanceSize: string;
  dbPass: string;
  createdAt: string;
  status: ProjectStatus;
  /** When the current status began (ms). */
  since: number;
  /** Where the status goes next, and after how long. */
  next: { status: ProjectStatus; afterMs: number }[];
  pausedAt: number | null;
  database: { host: string; port: number; name: string; poolerPort: number };
  keys: { anon: string; serviceRole: string; publishable: string; secret: string };
}

export interface FakeManagementOptions {
  token?: string;
  organizations?: FakeOrganization[];
  comingUpMs?: number;
  pausingMs?: number;
  restoringMs?: number;
  /** Requests per minute per token, scope and endpoint (120, as documented). */
  rateLimitPerMinute?: number;
  /** The rate limit's fixed window (60 s, as documented; shorter in tests). */
  rateWindowMs?: number;
  /** Makes a created project's database (a real one, for credentials that connect). */
  provisionDatabase?: (ref: string, password: string) => Promise<{ host: string; port: number; name?: string }>;
}

export interface FakeManagement {
  url: string;
  token: string;
  projects: Map<string, FakeProject>;
  /** Every request, in order, with the status it got. */
  requests: { method: string; path: string; status: number }[];
  /** Keeps a project in its current status (or the given one) until released. */
  stick(ref: string, status?: ProjectStatus): void;
  release(ref: string): void;
  /** The next create, pause or restore ends in its terminal failure. */
  failNext(what: 'create' | 'pause' | 'restore'): void;
  /** The next create makes its project, then drops the connection without an answer (a worker that dies mid-call sees the same). */
  loseNextCreateResponse(): void;
  /** The next create makes its project, then holds its answer until released (`created` resolves with the ref). */
  holdNextCreate(): { created: Promise<string>; release(): void };
  /** Moves a paused project's pause back in time (the 90-day rule). */
  pausedDaysAgo(ref: string, days: number): void;
  /** Log lines of a project, served by its analytics endpoint (timestamps in µs). */
  addLogs(ref: string, rows: { id: string; timestamp: number; event_message: string; log_type: string }[]): void;
  close(): Promise<void>;
}

const json = (res: ServerResponse, status: number, body?: unknown, headers: Record<string, string> = {}) => {
  res.writeHead(status, { ...(body === undefined ? {} : { 'Content-Type': 'application/json' }), ...headers });
  res.end(body === undefined ? undefined : JSON.stringify(body));
};

const readBody = (req: IncomingMessage) => new Promise<string>((resolve, reject) => {
  let s = '';
  req.setEncoding('utf8');
  req.on('data', (d: string) => (s += d));
  req.on('end', () => resolve(s));
  req.on('error', reject);
});

const newRef = () => Array.from(randomBytes(20), (b) => String.fromCharCode(97 + (b % 26))).join('');
const jwtish = (role: string, ref: string) => `eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9.${Buffer.from(JSON.stringify({ iss: 'supabase', ref, role })).toString('base64url')}.${randomBytes(32).toString('base64url')}`;

export async function startSupabaseManagementFake(opts: FakeManagementOptions = {}): Promise<FakeManagement> {
  const token = opts.token ?? `sbp_${randomBytes(20).toString('hex')}`;
  const orgs = opts.organizations ?? [{ slug: 'acme-org', name: 'Acme', plan: 'free' }];
  const timing = { comingUp: opts.comingUpMs ?? 200, pausing: opts.pausingMs ?? 200, restoring: opts.restoringMs ?? 200 };
  const limit = opts.rateLimitPerMinute ?? 120;
  const windowMs = opts.rateWindowMs ?? 60_000;
  let loseCreate = false;
  let holdCreate: { made(ref: string): void; released: Promise<void> } | null = null;
  const projects = new Map<string, FakeProject>();
  const logs = new Map<string, { id: string; timestamp: number; event_message: string; log_type: string }[]>();
  const requests: FakeManagement['requests'] = [];
  const stuck = new Map<string, ProjectStatus | null>();
  const failing = new Set<'create' | 'pause' | 'restore'>();
  const windows = new Map<string, { start: number; used: number }>();

  /** Applies the transitions whose time has come (lazily, at each read). */
  const advance = (p: FakeProject) => {
    for (;;) {
      if (stuck.has(p.ref)) return;
      const step = p.next[0];
      if (!step || Date.now() - p.since < step.afterMs) return;
      p.next.shift();
      p.since += step.afterMs;
      p.status = step.status;
      if (p.status === 'INACTIVE') p.pausedAt = p.since;
    }
  };
  const moveTo = (p: FakeProject, status: ProjectStatus, next: FakeProject['next']) => {
    p.status = status;
    p.since = Date.now();
    p.next = next;
  };
  const view = (p: FakeProject) => ({
    id: p.ref, ref: p.ref, organization_id: p.organizationSlug, organization_slug: p.organizationSlug, name: p.name, region: p.region,
    created_at: p.createdAt, status: p.status,
    database: { host: p.database.host, version: '17.4.1.054', postgres_engine: '17', release_channel: 'ga' },
  });

  const handle = async (req: IncomingMessage, res: ServerResponse): Promise<number> => {
    const url = new URL(req.url ?? '/', 'http://fake');
    const path = url.pathname;
    if (req.headers.authorization !== `Bearer ${token}`) return (json(res, 401, { message: 'Unauthorized' }), 401);

    // The endpoint (its path with the ref as a parameter) and its scope: the project, or the
    // organization a create names, else the user.
    const refMatch = /^\/v1\/projects\/([a-z]{20})(\/.*)?$/.exec(path);
    const endpoint = `${req.method} ${refMatch ? `/v1/projects/{ref}${refMatch[2] ?? ''}` : path}`;
    const body = req.method === 'POST' || req.method === 'PATCH' ? await readBody(req) : '';
    let scope = refMatch ? `project:${refMatch[1]}` : 'user';
    if (endpoint === 'POST /v1/projects') {
      try {
        scope = `org:${String((JSON.parse(body) as { organization_slug?: unknown }).organization_slug)}`;
      } catch {
        // refused below
      }
    }
    const key = `${scope} ${endpoint}`;
    const now = Date.now();
    let w = windows.get(key);
    if (!w || now - w.start >= windowMs) windows.set(key, (w = { start: now, used: 0 }));
    w.used++;
    const rate = {
      'X-RateLimit-Limit': String(limit),
      'X-RateLimit-Remaining': String(Math.max(0, limit - w.used)),
      'X-RateLimit-Reset': String(Math.max(1, Math.ceil((w.start + windowMs - now) / 1000))),
    };
    if (w.used > limit) return (json(res, 429, { message: 'Too many requests' }, rate), 429);
    const send = (status: number, b?: unknown) => (json(res, status, b, rate), status);

    if (req.method === 'GET' && path === '/v1/organizations') {
      return send(200, orgs.map((o) => ({ id: o.slug, slug: o.slug, name: o.name })));
    }
    const orgMatch = req.method === 'GET' ? /^\/v1\/organizations\/([^/]+)$/.exec(path) : null;
    if (orgMatch) {
      const org = orgs.find((o) => o.slug === orgMatch[1]);
      return org ? send(200, { id: org.slug, name: org.name, plan: org.plan, opt_in_tags: [], allowed_release_channels: ['ga'] }) : send(404, { message: 'Organization not found' });
    }
    if (req.method === 'GET' && path === '/v1/projects') {
      return send(200, [...projects.values()].map((p) => (advance(p), view(p))));
    }
    if (req.method === 'POST' && path === '/v1/projects') {
      let input: Record<string, unknown>;
      try {
        input = JSON.parse(body) as Record<string, unknown>;
      } catch {
        return send(400, { message: 'Invalid JSON body' });
      }
      if (!input || typeof input !== 'object' || Array.isArray(input)) return send(400, { message: 'body must be an object' });
      const unknown = Object.keys(input).filter((k) => !CREATE_FIELDS.has(k));
      if (unknown.length) return send(400, { message: `property ${unknown[0]} should not exist` });
      for (const f of ['name', 'organization_slug', 'db_pass']) if (typeof input[f] !== 'string' || !input[f]) return send(400, { message: `${f} must be a string` });
      if ((input.name as string).length > 256) return send(400, { message: 'name must be shorter than or equal to 256 characters' });
      if (input.region !== undefined && input.region_selection !== undefined) return send(400, { message: 'only one of region and region_selection may be given' });
      const sel = input.region_selection as { type?: unknown; code?: unknown } | undefined;
      if (sel !== undefined && (!sel || (sel.type !== 'specific' && sel.type !== 'smartGroup') || typeof sel.code !== 'string')) return send(400, { message: 'region_selection must be {type: specific|smartGroup, code}' });
      if (input.desired_instance_size !== undefined && !(INSTANCE_SIZES as readonly unknown[]).includes(input.desired_instance_size)) return send(400, { message: 'desired_instance_size must be one of the instance sizes' });
      const org = orgs.find((o) => o.slug === input.organization_slug);
      if (!org) return send(404, { message: 'Organization not found' });
      const ref = newRef();
      const region = sel?.code as string ?? (input.region as string | undefined) ?? 'us-east-1';
      const database = opts.provisionDatabase
        ? await opts.provisionDatabase(ref, input.db_pass as string)
        : { host: `db.${ref}.supabase.co`, port: 5432 };
      const p: FakeProject = {
        ref, name: input.name as string, organizationSlug: org.slug, region, instanceSize: (input.desired_instance_size as string | undefined) ?? 'nano',
        dbPass: input.db_pass as string, createdAt: new Date().toISOString(), status: 'COMING_UP', since: Date.now(),
        next: [{ status: failing.delete('create') ? 'INIT_FAILED' : 'ACTIVE_HEALTHY', afterMs: timing.comingUp }],
        pausedAt: null, database: { host: database.host, port: database.port, name: database.name ?? 'postgres', poolerPort: opts.provisionDatabase ? database.port : 6543 },
        keys: { anon: jwtish('anon', ref), serviceRole: jwtish('service_role', ref), publishable: `sb_publishable_${randomBytes(16).toString('base64url')}`, secret: `sb_secret_${randomBytes(16).toString('base64url')}` },
      };
      projects.set(ref, p);
      if (holdCreate) {
        const hold = holdCreate;
        holdCreate = null;
        hold.made(ref);
        await hold.released;
      }
      if (loseCreate) {
        loseCreate = false;
        res.socket?.destroy();
        return 0;
      }
      return send(201, view(p));
    }

    if (!refMatch) return send(404, { message: 'Not found' });
    const p = projects.get(refMatch[1]!);
    if (!p || p.status === 'REMOVED') return send(404, { message: 'Project not found' });
    advance(p);
    const rest = refMatch[2] ?? '';

    if (req.method === 'GET' && rest === '') return send(200, view(p));
    if (req.method === 'DELETE' && rest === '') {
      p.status = 'REMOVED';
      return send(200, { id: p.ref, ref: p.ref, name: p.name });
    }
    if (req.method === 'GET' && rest === '/health') {
      const services = url.searchParams.getAll('services');
      if (services.length === 0) return send(400, { message: 'services must be given' });
      const bad = services.find((s) => !HEALTH_SERVICES.includes(s));
      if (bad) return send(400, { message: `services must be one of ${HEALTH_SERVICES.join(', ')}` });
      const status = p.status === 'ACTIVE_HEALTHY' ? 'ACTIVE_HEALTHY' : p.status === 'COMING_UP' || p.status === 'RESTORING' ? 'COMING_UP' : 'UNHEALTHY';
      return send(200, services.map((name) => ({ name, healthy: status === 'ACTIVE_HEALTHY', status })));
    }
    if (req.method === 'POST' && rest === '/pause') {
      const org = orgs.find((o) => o.slug === p.organizationSlug)!;
      if (org.plan !== 'free') return send(400, { message: 'Projects on a paid plan cannot be paused; transfer the project to an organization on the Free Plan first' });
      if (p.status !== 'ACTIVE_HEALTHY' && p.status !== 'ACTIVE_UNHEALTHY') return send(400, { message: `Project is not active, it is ${p.status}` });
      moveTo(p, 'PAUSING', [{ status: failing.delete('pause') ? 'PAUSE_FAILED' : 'INACTIVE', afterMs: timing.pausing }]);
      return send(200);
    }
    if (req.method === 'POST' && rest === '/restore') {
      if (p.status === 'PAUSING') return send(400, { error: { name: 'BadRequestException', message: 'This project is no longer in a paused state, it is PAUSING' } });
      if (p.status !== 'INACTIVE') return send(400, { error: { name: 'BadRequestException', message: `This project is not paused, it is ${p.status}` } });
      if (p.pausedAt !== null && Date.now() - p.pausedAt > 90 * 86_400_000) return send(400, { message: 'Project has been paused for more than 90 days and cannot be restored' });
      moveTo(p, 'RESTORING', failing.delete('restore')
        ? [{ status: 'RESTORE_FAILED', afterMs: timing.restoring }]
        : [{ status: 'COMING_UP', afterMs: timing.restoring }, { status: 'ACTIVE_HEALTHY', afterMs: timing.comingUp }]);
      p.pausedAt = null;
      return send(200);
    }
    if (req.method === 'GET' && rest === '/api-keys') {
      const reveal = url.searchParams.get('reveal') === 'true';
      const at = p.createdAt;
      return send(200, [
        { id: `${p.ref}-anon`, name: 'anon', type: 'legacy', api_key: p.keys.anon, prefix: null, inserted_at: at, updated_at: at },
        { id: `${p.ref}-service`, name: 'service_role', type: 'legacy', api_key: p.keys.serviceRole, prefix: null, inserted_at: at, updated_at: at },
        { id: `${p.ref}-pub`, name: 'default', type: 'publishable', api_key: p.keys.publishable, prefix: 'sb_publishable_', inserted_at: at, updated_at: at },
        { id: `${p.ref}-sec`, name: 'default', type: 'secret', api_key: reveal ? p.keys.secret : null, prefix: 'sb_secret_', inserted_at: at, updated_at: at },
      ]);
    }
    if (req.method === 'GET' && rest === '/config/database/pooler') {
      const host = p.database.host;
      const port = p.database.poolerPort;
      return send(200, [{
        identifier: p.ref, database_type: 'PRIMARY', is_using_scram_auth: true, db_user: `postgres.${p.ref}`, db_host: host, db_port: port,
        db_name: p.database.name, connection_string: `postgresql://postgres.${p.ref}:[YOUR-PASSWORD]@${host}:${port}/${p.database.name}`,
        default_pool_size: 15, max_client_conn: 200, pool_mode: 'transaction',
      }]);
    }
    if (req.method === 'GET' && rest === '/analytics/endpoints/logs.all') {
      // The logs of the project (the log puller's endpoint): the lines between the two timestamps.
      const start = Date.parse(url.searchParams.get('iso_timestamp_start') ?? '') * 1000;
      const end = Date.parse(url.searchParams.get('iso_timestamp_end') ?? '') * 1000;
      if (Number.isNaN(start) || Number.isNaN(end)) return send(200, { result: [], error: 'iso_timestamp_start and iso_timestamp_end are required here' });
      return send(200, { result: (logs.get(p.ref) ?? []).filter((r) => r.timestamp >= start && r.timestamp < end) });
    }
    return send(404, { message: 'Not found' });
  };

  const server: Server = createServer((req, res) => {
    handle(req, res).then(
      (status) => requests.push({ method: req.method ?? '', path: (req.url ?? '').split('?')[0]!, status }),
      (err: unknown) => {
        requests.push({ method: req.method ?? '', path: req.url ?? '', status: 500 });
        if (!res.headersSent) json(res, 500, { message: String(err) });
      },
    );
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', () => resolve()));
  const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  return {
    url, token, projects, requests,
    stick(ref, status) {
      const p = projects.get(ref);
      if (p && status) moveTo(p, status, []);
      stuck.set(ref, status ?? null);
    },
    release(ref) {
      stuck.delete(ref);
    },
    failNext(what) {
      failing.add(what);
    },
    loseNextCreateResponse() {
      loseCreate = true;
    },
    holdNextCreate() {
      let made!: (ref: string) => void;
      let release!: () => void;
      const created = new Promise<string>((r) => (made = r));
      const released = new Promise<void>((r) => (release = r));
      holdCreate = { made, released };
      return { created, release };
    },
    pausedDaysAgo(ref, days) {
      const p = projects.get(ref);
      if (p) p.pausedAt = Date.now() - days * 86_400_000;
    },
    addLogs(ref, rows) {
      logs.set(ref, [...(logs.get(ref) ?? []), ...rows]);
    },
    close: () => new Promise<void>((resolve) => {
      server.closeAllConnections();
      server.close(() => resolve());
    }),
  };
}
