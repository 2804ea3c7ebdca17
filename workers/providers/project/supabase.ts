/**
 * The `supabase` project provider: a Switchyard project is one Supabase project, created, paused,
 * restored and deleted through the Management API (supabase-management.ts), step by step.
 *
 *   provision  record the intent (name, a generated database password, sealed at once), then find
 *              the project an interrupted attempt may have made, else create it; poll its status
 *              and its services' health until all are healthy; read its keys and pooler.
 *   suspend    pause (Free organizations only), then poll until INACTIVE.
 *   resume     restore, then poll until ACTIVE_HEALTHY. A restore refused because the project is
 *              still PAUSING waits for the pause to finish.
 *   remove     delete (already gone is fine).
 *
 * Exactly one Supabase project per Switchyard project: the name carries the project's id, the
 * intent is committed before the create call, and a step that starts from a recorded intent lists
 * the organization's projects for that name before creating.
 *
 * Every call first takes a token from the shared budget of its endpoint and scope (as Supabase
 * counts them), so the jobs of a whole deployment stay under the limit; an empty budget, or a 429
 * anyway, is a wait (a continuation) until it refills or resets, never an attempt used up.
 * Terminal statuses (INIT_FAILED, PAUSE_FAILED, RESTORE_FAILED) and Supabase's refusals end the
 * step at once with Supabase's own words.
 */
import { randomToken } from '../../../core/crypto.ts';
import { PermanentError, WaitError } from '../../step.ts';
import {
  ManagementApiError,
  ManagementRateLimited,
  type ManagementClient,
  type SupabaseProject,
} from './supabase-management.ts';
import type { ProjectPlan, ProjectProvider, ProjectStep, Provisioned, StepContext } from './provisioner.ts';

/** Instance size by plan; Free gets Supabase's default (the smallest its organization allows). */
export const INSTANCE_SIZE: Record<ProjectPlan, string | undefined> = { free: undefined, pro: 'small', enterprise: 'large' };

/** The services a project must report healthy before it is `active`. */
export const REQUIRED_SERVICES = ['db', 'rest', 'auth', 'realtime'] as const;

/** Supabase's statuses that end a transition: nothing but support fixes them. */
const TERMINAL = new Set(['INIT_FAILED', 'PAUSE_FAILED', 'RESTORE_FAILED']);

/** Takes one call's token from the shared budget; 0 when granted, else how long until one is free (ms). */
export type CallBudget = (key: string) => Promise<number>;

export interface SupabaseProviderOptions {
  client: ManagementClient;
  organizationSlug: string;
  /** A created project's logs are pulled with this token (the same Management API), every `pullIntervalS`. */
  logs?: { token: string; pullIntervalS: number };
  budget: CallBudget;
  /** Between status polls (ms). */
  pollMs: number;
}

interface ProvisionState {
  intent?: { name: string; password: string; at: string };
  ref?: string;
  status?: string;
  since?: number;
  organizationPlan?: string;
}

interface TransitionState {
  requested?: boolean;
  status?: string;
  since?: number;
}

/** The project's name at Supabase: the tenant's name, and our id, which makes it findable. */
export const supabaseName = (name: string, projectId: string) => `${name.slice(0, 200)} (${projectId})`;

export function createSupabaseProvider(opts: SupabaseProviderOptions): ProjectProvider {
  const { client, organizationSlug: org } = opts;

  /** One Management API call under the shared budget of its scope and endpoint. */
  async function budgeted<T>(scope: string, endpoint: string, fn: () => Promise<T>): Promise<T> {
    const waitMs = await opts.budget(`supabase:${org}:${scope}:${endpoint}`);
    if (waitMs > 0) throw new WaitError(waitMs, `waiting ${Math.ceil(waitMs / 1000)} s for the Management API budget of ${endpoint}`);
    try {
      return await fn();
    } catch (err) {
      if (err instanceof ManagementRateLimited) {
        throw new WaitError(err.resetS * 1000, `Supabase's rate limit for ${endpoint} is spent; it resets in ${err.resetS} s`);
      }
      // A refusal is an answer: a retry would get the same one.
      if (err instanceof ManagementApiError && err.status >= 400 && err.status < 500 && err.status !== 408) {
        throw new PermanentError(`Supabase refused ${endpoint}: ${err.message}`);
      }
      throw err;
    }
  }

  // The organization's plan, read once a minute at most: twenty creates at once need it once.
  let plan: { value: string; at: number } | null = null;
  async function organizationPlan(): Promise<string> {
    if (plan && Date.now() - plan.at < 60_000) return plan.value;
    const organization = await budgeted(`org:${org}`, 'GET /v1/organizations/{slug}', () => client.getOrganization(org));
    plan = { value: organization.plan ?? 'unknown', at: Date.now() };
    return plan.value;
  }

  const getProject = (ref: string) => budgeted(`project:${ref}`, 'GET /v1/projects/{ref}', () => client.getProject(ref));

  /** Tracks how long the project has been in the status it reports now. */
  function observe<S extends { status?: string; since?: number }>(state: S, status: string): S {
    return state.status === status && state.since ? state : { ...state, status, since: Date.now() };
  }

  function waitFor<S extends { status?: string; since?: number }>(state: S, note: string, serving: boolean, ref?: string): ProjectStep<never> {
    return {
      type: 'wait', delayMs: opts.pollMs, state, note,
      ...(state.status ? { providerStatus: state.status } : {}), ...(state.since ? { since: state.since } : {}), serving,
      ...(ref ? { providerRef: ref, details: { supabase_status: state.status } } : {}),
    };
  }

  async function find(name: string): Promise<SupabaseProject | null> {
    const all = await budgeted('user', 'GET /v1/projects', () => client.listProjects());
    return all.find((p) => p.name === name && (p.organization_slug === undefined || p.organization_slug === org) && p.status !== 'REMOVED') ?? null;
  }

  async function credentials(ctx: StepContext, projectId: string, ref: string, project: SupabaseProject, sealedPassword: string | undefined) {
    // An adopted project's password is the tenant's to give: without it, no connection strings.
    const password = sealedPassword === undefined ? null : await ctx.box.open(sealedPassword, `${projectId}:db-password`);
    const [keys, pooler] = await Promise.all([
      budgeted(`project:${ref}`, 'GET /v1/projects/{ref}/api-keys', () => client.apiKeys(ref, true)),
      budgeted(`project:${ref}`, 'GET /v1/projects/{ref}/config/database/pooler', () => client.pooler(ref)),
    ]);
    const key = (type: string, legacyName: string) =>
      keys.find((k) => k.type === type && k.api_key)?.api_key ?? keys.find((k) => k.name === legacyName && k.api_key)?.api_key ?? undefined;
    const primary = pooler.find((p) => p.database_type === 'PRIMARY' && p.pool_mode === 'transaction') ?? pooler.find((p) => p.database_type === 'PRIMARY');
    const pw = password === null ? null : encodeURIComponent(password);
    const host = project.database?.host ?? `db.${ref}.supabase.co`;
    const apiUrl = `https://${ref}.supabase.co`;
    const publishable = key('publishable', 'anon');
    const secret = key('secret', 'service_role');
    return {
      apiUrl,
      credentials: {
        ...(pw !== null ? { connection_string: `postgresql://postgres:${pw}@${host}:5432/postgres` } : {}),
        ...(primary && pw !== null ? { pooled_connection_string: primary.connection_string.replace('[YOUR-PASSWORD]', pw) } : {}),
        api_url: apiUrl,
        ...(publishable ? { publishable_key: publishable } : {}),
        ...(secret ? { secret_key: secret } : {}),
      },
    };
  }

  return {
    name: 'supabase',

    async provision(input, ctx): Promise<ProjectStep<Provisioned>> {
      let s = (ctx.state ?? {}) as ProvisionState;
      if (input.adopt && !s.ref) {
        // An import: the project exists already; it must be one of this organization's.
        const found = await getProject(input.adopt.ref);
        if (!found) throw new PermanentError(`there is no Supabase project ${input.adopt.ref} (or this token can't see it)`);
        if (found.organization_slug !== undefined && found.organization_slug !== org) {
          throw new PermanentError(`the Supabase project ${input.adopt.ref} belongs to another organization than ${org}`);
        }
        s = observe<ProvisionState>({ ref: input.adopt.ref }, found.status);
        await ctx.checkpoint(s);
      }
      if (!s.ref) {
        if (!s.intent) {
          // The intent, committed before the create call: a re-run knows a project may exist.
          const password = randomToken(32);
          s = { intent: { name: supabaseName(input.name, input.projectId), password: await ctx.box.seal(password, `${input.projectId}:db-password`), at: new Date().toISOString() } };
          await ctx.checkpoint(s);
        } else {
          const found = await find(s.intent.name);
          if (found) {
            s = { ...s, ref: found.ref };
            await ctx.checkpoint(s);
          }
        }
        if (!s.ref) {
          const password = await ctx.box.open(s.intent!.password, `${input.projectId}:db-password`);
          const size = INSTANCE_SIZE[input.plan];
          const created = await budgeted(`org:${org}`, 'POST /v1/projects', () => client.createProject({
            name: s.intent!.name, organizationSlug: org, dbPass: password, region: input.region, ...(size ? { instanceSize: size } : {}),
          }));
          s = observe({ ...s, ref: created.ref }, created.status);
          await ctx.checkpoint(s);
        }
      }
      const ref = s.ref!;
      if (!s.organizationPlan) s = { ...s, organizationPlan: await organizationPlan() };
      const project = await getProject(ref);
      if (!project) throw new PermanentError(`the Supabase project ${ref} no longer exists`);
      s = observe(s, project.status);
      if (TERMINAL.has(project.status)) throw new PermanentError(`Supabase reports ${project.status} for project ${ref}`);
      const details = { supabase_status: project.status, organization: org, organization_plan: s.organizationPlan, region: project.region };
      const sealedPassword = input.adopt ? input.adopt.sealedPassword : s.intent!.password;
      if (input.adopt && project.status === 'INACTIVE') {
        // Adopted while paused: it is suspended here too, and a resume restores it.
        const { apiUrl, credentials: creds } = await credentials(ctx, input.projectId, ref, project, sealedPassword);
        return { type: 'ready', result: { providerRef: ref, apiUrl, credentials: creds, paused: true, details: { ...details, imported: true, paused_at: null } } };
      }
      if (project.status !== 'ACTIVE_HEALTHY' && project.status !== 'ACTIVE_UNHEALTHY') return waitFor(s, 'waiting for the project to come up', false, ref);
      const health = await budgeted(`project:${ref}`, 'GET /v1/projects/{ref}/health', () => client.health(ref, [...REQUIRED_SERVICES]));
      const pending = REQUIRED_SERVICES.filter((name) => health.find((h) => h.name === name)?.status !== 'ACTIVE_HEALTHY');
      if (pending.length) {
        const dbUp = health.find((h) => h.name === 'db')?.status === 'ACTIVE_HEALTHY';
        return waitFor(s, `waiting for ${pending.join(', ')} to report healthy`, dbUp, ref);
      }
      const { apiUrl, credentials: creds } = await credentials(ctx, input.projectId, ref, project, sealedPassword);
      return {
        type: 'ready',
        result: {
          providerRef: ref, apiUrl, credentials: creds,
          details: { ...details, ...(input.adopt ? { imported: true } : {}) },
          ...(opts.logs ? { logSource: { provider: 'supabase' as const, config: { project_ref: ref }, credentials: { api_key: opts.logs.token }, pullIntervalS: opts.logs.pullIntervalS } } : {}),
        },
      };
    },

    async suspend(handle, ctx) {
      let s = (ctx.state ?? {}) as TransitionState;
      const ref = handle.providerRef;
      if (!ref) throw new PermanentError('the project has no Supabase project to pause');
      const project = await getProject(ref);
      if (!project) throw new PermanentError(`the Supabase project ${ref} no longer exists`);
      s = observe(s, project.status);
      if (project.status === 'INACTIVE') return { type: 'ready', result: undefined, details: { supabase_status: 'INACTIVE', paused_at: new Date().toISOString() } };
      if (TERMINAL.has(project.status)) throw new PermanentError(`Supabase reports ${project.status} for project ${ref}`);
      if (project.status === 'PAUSING') return waitFor(s, 'waiting for the pause to finish', false);
      if (!s.requested && (project.status === 'ACTIVE_HEALTHY' || project.status === 'ACTIVE_UNHEALTHY')) {
        await budgeted(`project:${ref}`, 'POST /v1/projects/{ref}/pause', () => client.pause(ref));
        s = observe({ ...s, requested: true }, 'PAUSING');
        return waitFor(s, 'pause requested', false);
      }
      return waitFor(s, 'waiting for the project to pause', project.status.startsWith('ACTIVE_'));
    },

    async resume(handle, ctx) {
      let s = (ctx.state ?? {}) as TransitionState;
      const ref = handle.providerRef;
      if (!ref) throw new PermanentError('the project has no Supabase project to restore');
      const project = await getProject(ref);
      if (!project) throw new PermanentError(`the Supabase project ${ref} no longer exists`);
      s = observe(s, project.status);
      if (TERMINAL.has(project.status)) throw new PermanentError(`Supabase reports ${project.status} for project ${ref}`);
      if (project.status === 'ACTIVE_HEALTHY') return { type: 'ready', result: undefined, details: { supabase_status: 'ACTIVE_HEALTHY', paused_at: null } };
      // A pause still going: Supabase refuses a restore until it has finished.
      if (project.status === 'PAUSING') return waitFor(s, 'waiting for the pause to finish before restoring', false);
      if (project.status === 'INACTIVE' && !s.requested) {
        try {
          await budgeted(`project:${ref}`, 'POST /v1/projects/{ref}/restore', () => client.restore(ref));
        } catch (err) {
          // The status read above can be a moment old: "no longer in a paused state, it is PAUSING".
          if (err instanceof PermanentError && /it is PAUSING/.test(err.message)) return waitFor(observe(s, 'PAUSING'), 'waiting for the pause to finish before restoring', false);
          throw err;
        }
        s = observe({ ...s, requested: true }, 'RESTORING');
        return waitFor(s, 'restore requested', false);
      }
      return waitFor(s, 'waiting for the project to come back', project.status === 'ACTIVE_UNHEALTHY');
    },

    async health(handle) {
      const ref = handle.providerRef;
      if (!ref) return { status: 'unknown', services: [], error: 'the project has no Supabase project' };
      const project = await getProject(ref);
      if (!project) return { status: 'unhealthy', services: [], providerStatus: 'REMOVED', error: `the Supabase project ${ref} no longer exists` };
      if (!project.status.startsWith('ACTIVE_')) return { status: 'unhealthy', services: [], providerStatus: project.status, error: `Supabase reports ${project.status}` };
      const services = await budgeted(`project:${ref}`, 'GET /v1/projects/{ref}/health', () => client.health(ref, [...REQUIRED_SERVICES, 'storage']));
      const list = services.map((s) => ({ name: s.name, status: s.status === 'ACTIVE_HEALTHY' ? 'healthy' : s.status.toLowerCase(), ...(s.error ? { error: s.error } : {}) }));
      const ok = REQUIRED_SERVICES.every((name) => list.find((s) => s.name === name)?.status === 'healthy');
      return { status: ok ? 'healthy' : 'unhealthy', services: list, providerStatus: project.status };
    },

    async remove(handle) {
      // Provisioning may have created a project without recording its ref (it died between the
      // two): look for it by name.
      const ref = handle.providerRef ?? (await find(supabaseName(handle.name, handle.projectId)))?.ref;
      if (!ref) return { type: 'ready', result: undefined };
      await budgeted(`project:${ref}`, 'DELETE /v1/projects/{ref}', () => client.deleteProject(ref));
      return { type: 'ready', result: undefined };
    },
  };
}
