/**
 * A client of Supabase's Management API (https://api.supabase.com, bearer `sbp_…` token), for the
 * `supabase` project provider: the calls it makes, each answer checked with zod at the boundary.
 * It does no waiting of its own: a 429 is a `ManagementRateLimited` carrying `X-RateLimit-Reset`
 * (seconds), for the job step to wait out as a continuation; a refusal is a `ManagementApiError`
 * with Supabase's own message, whichever of its two error shapes (`{message}` or
 * `{error: {name, message}}`) carried it.
 *
 * The base URL is the operator's configuration, never tenant input.
 */
import { z } from 'zod';

export const SupabaseProjectStatus = z.enum([
  'INACTIVE', 'ACTIVE_HEALTHY', 'ACTIVE_UNHEALTHY', 'COMING_UP', 'UNKNOWN', 'GOING_DOWN', 'INIT_FAILED', 'REMOVED',
  'RESTORING', 'UPGRADING', 'PAUSING', 'RESTORE_FAILED', 'RESTARTING', 'PAUSE_FAILED', 'RESIZING',
]);
export type SupabaseProjectStatus = z.infer<typeof SupabaseProjectStatus>;

const Project = z.object({
  ref: z.string().regex(/^[a-z]{20}$/),
  name: z.string(),
  organization_slug: z.string().optional(),
  region: z.string(),
  created_at: z.string(),
  // An unknown status from a newer API is kept as it is, not refused.
  status: z.union([SupabaseProjectStatus, z.string()]),
  database: z.object({ host: z.string(), version: z.string().optional() }).partial().optional(),
});
export type SupabaseProject = z.infer<typeof Project>;

const Health = z.array(z.object({ name: z.string(), status: z.string(), healthy: z.boolean().optional(), error: z.string().optional() }));
export type ServiceHealth = z.infer<typeof Health>[number];

const ApiKeys = z.array(z.object({ name: z.string(), type: z.string().nullable().optional(), api_key: z.string().nullable().optional() }));
export type ApiKey = z.infer<typeof ApiKeys>[number];

const Pooler = z.array(z.object({
  database_type: z.string(), db_user: z.string(), db_host: z.string(), db_port: z.number().int(), db_name: z.string(),
  connection_string: z.string(), pool_mode: z.string(),
}).passthrough());
export type PoolerConfig = z.infer<typeof Pooler>[number];

const Organization = z.object({ id: z.string().optional(), name: z.string(), plan: z.string().optional() });
export type SupabaseOrganization = z.infer<typeof Organization>;

export class ManagementApiError extends Error {
  override name = 'ManagementApiError';
  constructor(readonly status: number, message: string, readonly body: unknown) {
    super(message);
  }
}

export class ManagementRateLimited extends ManagementApiError {
  override name = 'ManagementRateLimited';
  constructor(readonly resetS: number, body: unknown) {
    super(429, `the Management API's rate limit is spent; it resets in ${resetS} s`, body);
  }
}

export interface ManagementClientOptions {
  token: string;
  baseUrl?: string;
  fetch?: typeof fetch;
  /** Each call's bound (default 15 s). */
  timeoutMs?: number;
}

export interface CreateProjectInput {
  name: string;
  organizationSlug: string;
  dbPass: string;
  region: string;
  instanceSize?: string;
}

export interface ManagementClient {
  /** The organization's plan decides whether its projects can be paused (Free only). */
  getOrganization(slug: string): Promise<SupabaseOrganization>;
  createProject(input: CreateProjectInput): Promise<SupabaseProject>;
  listProjects(): Promise<SupabaseProject[]>;
  /** Null when Supabase has no such project (or it was removed). */
  getProject(ref: string): Promise<SupabaseProject | null>;
  health(ref: string, services: string[]): Promise<ServiceHealth[]>;
  pause(ref: string): Promise<void>;
  restore(ref: string): Promise<void>;
  deleteProject(ref: string): Promise<void>;
  apiKeys(ref: string, reveal: boolean): Promise<ApiKey[]>;
  pooler(ref: string): Promise<PoolerConfig[]>;
}

/** Supabase's message from either error shape, else the status line. */
function messageOf(status: number, body: unknown): string {
  if (body && typeof body === 'object') {
    const b = body as { message?: unknown; error?: { message?: unknown } | string };
    if (typeof b.message === 'string') return b.message;
    if (typeof b.error === 'string') return b.error;
    if (b.error && typeof b.error === 'object' && typeof b.error.message === 'string') return b.error.message;
  }
  return `the Management API answered ${status}`;
}

export function createManagementClient(opts: ManagementClientOptions): ManagementClient {
  const base = (opts.baseUrl ?? 'https://api.supabase.com').replace(/\/$/, '');
  const doFetch = opts.fetch ?? fetch;
  const timeoutMs = opts.timeoutMs ?? 15_000;

  const call = async <T>(method: string, path: string, schema: z.ZodType<T> | null, body?: unknown): Promise<{ status: number; data: T | null }> => {
    const res = await doFetch(`${base}${path}`, {
      method,
      headers: { Authorization: `Bearer ${opts.token}`, Accept: 'application/json', ...(body === undefined ? {} : { 'Content-Type': 'application/json' }) },
      body: body === undefined ? undefined : JSON.stringify(body),
      signal: AbortSignal.timeout(timeoutMs),
    });
    const text = await res.text();
    let parsed: unknown = null;
    try {
      parsed = text ? JSON.parse(text) : null;
    } catch {
      parsed = text;
    }
    if (res.status === 429) {
      const reset = Number(res.headers.get('X-RateLimit-Reset'));
      throw new ManagementRateLimited(Number.isFinite(reset) && reset > 0 ? Math.ceil(reset) : 60, parsed);
    }
    if (!res.ok) throw new ManagementApiError(res.status, messageOf(res.status, parsed), parsed);
    if (!schema) return { status: res.status, data: null };
    const checked = schema.safeParse(parsed);
    if (!checked.success) throw new ManagementApiError(res.status, `the Management API's answer to ${method} ${path.split('?')[0]} is not the documented shape: ${checked.error.issues[0]?.message ?? 'invalid'}`, parsed);
    return { status: res.status, data: checked.data };
  };
  const refPath = (ref: string) => {
    if (!/^[a-z]{20}$/.test(ref)) throw new ManagementApiError(400, `not a Supabase project ref: ${ref}`, null);
    return `/v1/projects/${ref}`;
  };

  return {
    async getOrganization(slug) {
      if (!/^[A-Za-z0-9_-]+$/.test(slug)) throw new ManagementApiError(400, `not an organization slug: ${slug}`, null);
      return (await call('GET', `/v1/organizations/${slug}`, Organization)).data!;
    },
    async createProject(input) {
      const { data } = await call('POST', '/v1/projects', Project, {
        name: input.name, organization_slug: input.organizationSlug, db_pass: input.dbPass,
        region_selection: { type: 'specific', code: input.region },
        ...(input.instanceSize ? { desired_instance_size: input.instanceSize } : {}),
      });
      return data!;
    },
    async listProjects() {
      return (await call('GET', '/v1/projects', z.array(Project))).data!;
    },
    async getProject(ref) {
      try {
        const p = (await call('GET', refPath(ref), Project)).data!;
        return p.status === 'REMOVED' ? null : p;
      } catch (err) {
        if (err instanceof ManagementApiError && err.status === 404) return null;
        throw err;
      }
    },
    async health(ref, services) {
      const q = new URLSearchParams();
      for (const s of services) q.append('services', s);
      return (await call('GET', `${refPath(ref)}/health?${q}`, Health)).data!;
    },
    async pause(ref) {
      await call('POST', `${refPath(ref)}/pause`, null);
    },
    async restore(ref) {
      await call('POST', `${refPath(ref)}/restore`, null);
    },
    async deleteProject(ref) {
      try {
        await call('DELETE', refPath(ref), null);
      } catch (err) {
        // Already gone is what a delete wants.
        if (!(err instanceof ManagementApiError && err.status === 404)) throw err;
      }
    },
    async apiKeys(ref, reveal) {
      return (await call('GET', `${refPath(ref)}/api-keys${reveal ? '?reveal=true' : ''}`, ApiKeys)).data!;
    },
    async pooler(ref) {
      return (await call('GET', `${refPath(ref)}/config/database/pooler`, Pooler)).data!;
    },
  };
}
