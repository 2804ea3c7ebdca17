/**
 * What /metrics reads from the database when scraped: the queue's state, the platform's
 * inventory and this process's connections. Operator-wide by design (metrics carry no tenant
 * label); each is one aggregate over a partial index or a small table.
 */
import type { Sample } from '../core/metrics.ts';
import type { Sql } from './client.ts';

/** Queued and running jobs by kind, and the age of each kind's oldest due job (0 for kinds with none). */
export async function queueSamples(sql: Sql, kinds: readonly string[]): Promise<Sample[]> {
  const rows = await sql<Array<{ kind: string; status: string; n: number; oldestDueS: number | null }>>`
    select kind, status, count(*)::int as n,
           extract(epoch from now() - min(run_at) filter (where status = 'queued' and run_at <= now()))::float8 as oldest_due_s
      from jobs where status in ('queued', 'running') group by kind, status`;
  const out: Sample[] = [];
  const oldest = new Map<string, number>(kinds.map((k) => [k, 0]));
  const seen = new Set<string>();
  for (const r of rows) {
    out.push({ name: 'jobs', labels: { kind: r.kind, status: r.status }, value: r.n });
    seen.add(`${r.kind}/${r.status}`);
    if (r.oldestDueS !== null) oldest.set(r.kind, Math.max(oldest.get(r.kind) ?? 0, r.oldestDueS));
  }
  // Every known kind shows 0 rather than vanishing, so a rate or an alert sees the drop to nothing.
  for (const kind of kinds) for (const status of ['queued', 'running']) if (!seen.has(`${kind}/${status}`)) out.push({ name: 'jobs', labels: { kind, status }, value: 0 });
  for (const [kind, s] of oldest) out.push({ name: 'jobs_oldest_due_age_seconds', labels: { kind }, value: s });
  return out;
}

export async function platformSamples(sql: Sql): Promise<Sample[]> {
  const [tenants, projects, stores] = await Promise.all([
    sql<Array<{ plan: string; n: number }>>`select plan, count(*)::int as n from tenants group by plan`,
    sql<Array<{ status: string; plan: string; region: string; n: number }>>`
      select status, plan, region, count(*)::int as n from projects where status <> 'deleted' group by status, plan, region`,
    sql<Array<{ status: string; engine: string; runtime: string; n: number }>>`
      select status, engine, runtime, count(*)::int as n from stores where status <> 'deleted' group by status, engine, runtime`,
  ]);
  return [
    ...tenants.map((r) => ({ name: 'tenants' as const, labels: { plan: r.plan }, value: r.n })),
    ...projects.map((r) => ({ name: 'projects' as const, labels: { status: r.status, plan: r.plan, region: r.region }, value: r.n })),
    ...stores.map((r) => ({ name: 'stores' as const, labels: { status: r.status, engine: r.engine, runtime: r.runtime }, value: r.n })),
  ];
}

/** This process's pool connections as the server sees them, by the session's state. */
export async function poolSamples(sql: Sql, applicationName: string, size: number): Promise<Sample[]> {
  const rows = await sql<Array<{ state: string; n: number }>>`
    select coalesce(state, 'unknown') as state, count(*)::int as n from pg_stat_activity
     where application_name = ${applicationName} group by 1`;
  const by = new Map(rows.map((r) => [r.state.replace(/ /g, '_'), r.n]));
  return [
    { name: 'db_pool_size', labels: {}, value: size },
    ...['active', 'idle', 'idle_in_transaction'].map((state) => ({ name: 'db_pool_connections' as const, labels: { state }, value: by.get(state) ?? 0 })),
  ];
}
