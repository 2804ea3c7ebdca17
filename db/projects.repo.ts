/**
 * Projects. Status changes go through `transitionProject`, which takes a named transition from
 * db/status.ts and turns it into a conditional UPDATE.
 */
import type { Sql } from './client.ts';
import type { projects } from './schema.ts';
import { projectTransitions, type ProjectStatus, type ProjectTransition } from './status.ts';

export type Project = typeof projects.$inferSelect & { status: ProjectStatus };

export interface NewProject {
  id: string;
  tenantId: string;
  name: string;
  slug: string;
  plan: string;
  region: string;
  provider: string;
}

/** The INSERT of new projects; a project whose slug is taken by a live project is left out of what it returns. */
export function insertProjectsQuery(sql: Sql, list: NewProject[]) {
  const col = <T>(f: (p: NewProject) => T) => list.map(f);
  return sql`
    insert into projects (id, tenant_id, name, slug, plan, region, provider, status)
    select i.*, 'provisioning'
      from unnest(${col((p) => p.id)}::text[], ${col((p) => p.tenantId)}::text[], ${col((p) => p.name)}::text[], ${col((p) => p.slug)}::text[],
                  ${col((p) => p.plan)}::text[], ${col((p) => p.region)}::text[], ${col((p) => p.provider)}::text[]) as i
    on conflict (tenant_id, slug) where status <> 'deleted' do nothing
    returning *`;
}

export interface ImportedProject extends NewProject {
  /** `provisioning` while a Supabase project is adopted; `active` for a verified Postgres. */
  status: 'provisioning' | 'active';
  providerRef: string | null;
  connection: string | null;
  providerDetails: Record<string, unknown>;
}

/**
 * The INSERT of an imported project; nothing is returned when its slug is taken, or when its
 * provider project is already a live project here (projects_provider_ref_live_idx).
 */
export function insertImportedProjectQuery(sql: Sql, p: ImportedProject) {
  return sql`
    insert into projects (id, tenant_id, name, slug, plan, region, provider, status, provider_ref, connection, provider_details)
    values (${p.id}, ${p.tenantId}, ${p.name}, ${p.slug}, ${p.plan}, ${p.region}, ${p.provider}, ${p.status}, ${p.providerRef},
            ${p.connection}, ${JSON.stringify(p.providerDetails)}::jsonb)
    on conflict do nothing
    returning *`;
}

/** Whether a live project (of any tenant) already holds this provider project. */
export async function providerRefTaken(sql: Sql, provider: string, ref: string): Promise<boolean> {
  const rows = await sql`select 1 from projects where provider = ${provider} and provider_ref = ${ref} and status <> 'deleted' limit 1`;
  return rows.length > 0;
}

export async function getProject(sql: Sql, tenantId: string, id: string): Promise<Project | null> {
  const [row] = await sql<Project[]>`select * from projects where id = ${id} and tenant_id = ${tenantId}`;
  return row ?? null;
}

/** Newest first; deleted projects only when asked for by status. */
export async function listProjects(
  sql: Sql,
  tenantId: string,
  opts: { status?: ProjectStatus; after?: string; limit: number },
): Promise<Project[]> {
  return sql<Project[]>`
    select * from projects
     where tenant_id = ${tenantId}
       ${opts.status ? sql`and status = ${opts.status}` : sql`and status <> 'deleted'`}
       ${opts.after ? sql`and id < ${opts.after}` : sql``}
     order by id desc limit ${opts.limit}`;
}

export interface ProjectPatch {
  providerRef?: string | null;
  connection?: string | null;
  apiUrl?: string | null;
  lastError?: string | null;
  /** Merged into what the row has. */
  providerDetails?: Record<string, unknown>;
}

/**
 * Applies a named transition; null when the project is not in one of its `from` statuses (a
 * duplicate or stale signal, or a request the caller must refuse).
 */
export async function transitionProject(
  sql: Sql,
  tenantId: string,
  id: string,
  name: ProjectTransition,
  patch: ProjectPatch = {},
): Promise<Project | null> {
  const [row] = await transitionProjectQuery(sql, tenantId, id, name, patch);
  return (row as Project | undefined) ?? null;
}

/** The conditional UPDATE behind a named transition, to run alone or inside a larger statement. */
export function transitionProjectQuery(sql: Sql, tenantId: string, id: string, name: ProjectTransition, patch: ProjectPatch = {}) {
  const t = projectTransitions[name];
  return sql`
    update projects
       set status = ${t.to}, updated_at = now(),
           provider_ref = ${'providerRef' in patch ? patch.providerRef ?? null : sql`provider_ref`},
           connection = ${'connection' in patch ? patch.connection ?? null : sql`connection`},
           api_url = ${'apiUrl' in patch ? patch.apiUrl ?? null : sql`api_url`},
           last_error = ${'lastError' in patch ? patch.lastError ?? null : name === 'fail' || name === 'degrade' ? sql`last_error` : null},
           provider_details = provider_details || ${JSON.stringify(patch.providerDetails ?? {})}::jsonb
     where id = ${id} and tenant_id = ${tenantId} and status = any(${t.from as unknown as string[]})
     returning *`;
}

/** The latest health reading, with what the provider reported merged into its details. */
export async function setProjectHealth(sql: Sql, tenantId: string, id: string, health: Record<string, unknown>, details: Record<string, unknown> = {}) {
  await sql`
    update projects set health = ${JSON.stringify(health)}::jsonb,
           provider_details = provider_details || ${JSON.stringify(details)}::jsonb, updated_at = now()
     where id = ${id} and tenant_id = ${tenantId}`;
}

/** Progress while a transition waits: the provider's ref and what it reports, merged in. */
export async function patchProjectDetails(sql: Sql, tenantId: string, id: string, patch: { providerRef?: string; providerDetails?: Record<string, unknown> }) {
  await sql`
    update projects set
      provider_ref = coalesce(${patch.providerRef ?? null}, provider_ref),
      provider_details = provider_details || ${JSON.stringify(patch.providerDetails ?? {})}::jsonb,
      updated_at = now()
     where id = ${id} and tenant_id = ${tenantId}`;
}

export async function getProjectConnection(sql: Sql, tenantId: string, id: string) {
  const [row] = await sql<{ connection: string | null; status: ProjectStatus }[]>`
    select connection, status from projects where id = ${id} and tenant_id = ${tenantId}`;
  return row ?? null;
}
