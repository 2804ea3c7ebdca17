/**
 * Deadlines for transitional statuses: one table for projects and stores, by provider (or store
 * runtime) and the status the resource waits in. A job that moves a resource out of a transitional
 * status carries the deadline as its `deadline_at`; past it, the job ends and the resource is
 * `failed` (or, for a project still serving, `degraded`) with the provider's status and how long
 * it was stuck as the reason.
 *
 * Written as `resource.provider.status=duration` pairs, e.g.
 * `project.supabase.suspending=15m,store.kubernetes.provisioning=600s`, where `*` stands for any
 * provider or status and durations take `ms`, `s`, `m` or `h` (a bare number is seconds). The most
 * specific entry wins: the exact one, then any status of the provider, then the status on any
 * provider, then `resource.*.*`.
 */

export type DeadlineResource = 'project' | 'store';
export type Deadlines = ReadonlyMap<string, number>;

const MINUTE = 60_000;

/** Supabase's own progressions take minutes (reference §4: a create is "a few minutes"). */
export const DEFAULT_DEADLINES: Readonly<Record<string, number>> = {
  'project.supabase.provisioning': 20 * MINUTE,
  'project.supabase.suspending': 15 * MINUTE,
  'project.supabase.resuming': 20 * MINUTE,
  'project.supabase.deleting': 10 * MINUTE,
  'project.*.*': 10 * MINUTE,
  'store.*.*': 10 * MINUTE,
};

const ENTRY = /^(project|store)\.([a-z0-9_-]+|\*)\.([a-z_]+|\*)$/;
const DURATION = /^(\d+(?:\.\d+)?)(ms|s|m|h)?$/;
const UNIT = { ms: 1, s: 1000, m: MINUTE, h: 60 * MINUTE } as const;

/** The table from its text form over `base`; a message naming the bad entry when it doesn't parse. */
export function parseDeadlines(text: string, base: Readonly<Record<string, number>> = DEFAULT_DEADLINES): Deadlines | { error: string } {
  const table = new Map(Object.entries(base));
  for (const part of text.split(',').map((p) => p.trim()).filter(Boolean)) {
    const [key = '', value = ''] = part.split('=').map((s) => s.trim());
    if (!ENTRY.test(key)) return { error: `"${key}" is not resource.provider.status (resource project or store, * for any)` };
    const m = DURATION.exec(value);
    if (!m) return { error: `"${value}" for ${key} is not a duration (e.g. 90s, 15m, 2h)` };
    const ms = Number(m[1]) * UNIT[(m[2] ?? 's') as keyof typeof UNIT];
    if (ms < 1000) return { error: `${key} must be at least 1s` };
    table.set(key, ms);
  }
  return table;
}

export function deadlineMs(table: Deadlines, resource: DeadlineResource, provider: string, status: string): number {
  for (const key of [`${resource}.${provider}.${status}`, `${resource}.${provider}.*`, `${resource}.*.${status}`, `${resource}.*.*`]) {
    const v = table.get(key);
    if (v !== undefined) return v;
  }
  return DEFAULT_DEADLINES[`${resource}.*.*`]!;
}

export const deadlineAt = (table: Deadlines, resource: DeadlineResource, provider: string, status: string, now = Date.now()) =>
  new Date(now + deadlineMs(table, resource, provider, status)).toISOString();

/** "2h 5m", "12m 30s", "45s": how long something has been stuck, for a reason a person reads. */
export function formatDuration(ms: number): string {
  const s = Math.max(0, Math.round(ms / 1000));
  const h = Math.floor(s / 3600);
  const m = Math.floor((s % 3600) / 60);
  const sec = s % 60;
  if (h) return m ? `${h}h ${m}m` : `${h}h`;
  if (m) return sec ? `${m}m ${sec}s` : `${m}m`;
  return `${sec}s`;
}
