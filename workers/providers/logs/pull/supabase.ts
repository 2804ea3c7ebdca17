/**
 * Supabase logs through the Management API's analytics endpoint
 * (`GET /v1/projects/{ref}/analytics/endpoints/logs.all?sql=&iso_timestamp_start=&iso_timestamp_end=`).
 * Ranges are at most 24 h and minute-aligned, so the mark is a minute: each pull walks closed
 * windows from the mark to a minute behind the present (late lines get that minute to land),
 * paging inside a window by OFFSET. The endpoint allows 30 requests a minute: pages are at least
 * 2 s apart, and a 429's `X-RateLimit-Reset` is honoured by the task.
 */
import { maskText, maskValue } from '../mask.ts';
import { getJson } from './http.ts';
import { HOUR, levelFromText, str, type LogPuller, type PullerOptions, type PulledEvent } from './puller.ts';

const PAGE = 1000;
const MINUTE = 60_000;
const TABLES = ['edge_logs', 'postgres_logs', 'auth_logs', 'function_logs'] as const;

interface Cursor { mark?: string; window?: { start: string; end: string }; offset?: number }

/** One query over the project's log tables, oldest first, one page of it. */
export function logsSql(offset: number): string {
  const union = TABLES.map((t) => `select id, timestamp, event_message, '${t}' as log_type from ${t}`).join(' union all ');
  return `select id, timestamp, event_message, log_type from (${union}) order by timestamp asc, id asc limit ${PAGE} offset ${offset}`;
}

const floorMinute = (ms: number) => Math.floor(ms / MINUTE) * MINUTE;

/** Supabase timestamps are microseconds since the epoch (numbers), sometimes ISO strings. */
function isoFromSupabase(ts: unknown): string | null {
  if (typeof ts === 'number') return new Date(ts > 1e14 ? ts / 1000 : ts).toISOString();
  if (typeof ts === 'string') {
    const n = Number(ts);
    const d = Number.isFinite(n) ? new Date(n > 1e14 ? n / 1000 : n) : new Date(ts);
    return Number.isNaN(d.getTime()) ? null : d.toISOString();
  }
  return null;
}

export function normalizeSupabaseRow(row: Record<string, unknown>): PulledEvent | null {
  const ts = isoFromSupabase(row.timestamp);
  const id = str(row.id);
  if (!ts || !id) return null;
  const message = String(row.event_message ?? '');
  const service = str(row.log_type)?.replace(/_logs$/, '') ?? null;
  return {
    ts, service, environment: null, level: levelFromText(message), kind: 'log',
    message: maskText(message).slice(0, 8000),
    fingerprint: null,
    attrs: maskValue({ log_type: row.log_type }),
    sourceEventId: id,
  };
}

export function createSupabaseLogPuller(opts: PullerOptions & { minIntervalMs?: number }): LogPuller {
  // 30 requests a minute: one every 2 s.
  const pace = opts.minIntervalMs ?? 2000;
  return {
    provider: 'supabase',
    async pull({ config, apiKey, cursor: raw, now, signal }) {
      const ref = str(config.project_ref);
      if (!ref) throw new Error('config.project_ref is missing');
      const cursor = raw as Cursor;
      const horizon = floorMinute(now.getTime()) - MINUTE;
      let window = cursor.window;
      let offset = cursor.offset ?? 0;
      const mark = cursor.mark ?? new Date(floorMinute(now.getTime() - opts.initialLookbackMs)).toISOString();
      if (!window) {
        const start = Date.parse(mark);
        if (start >= horizon) return { events: [], cursor: { mark }, more: false, minDelayMs: 0, note: 'up to date' };
        window = { start: mark, end: new Date(Math.min(start + 24 * HOUR, horizon)).toISOString() };
        offset = 0;
      }
      const url = new URL(`/v1/projects/${encodeURIComponent(ref)}/analytics/endpoints/logs.all`, opts.baseUrl);
      url.searchParams.set('sql', logsSql(offset));
      url.searchParams.set('iso_timestamp_start', window.start);
      url.searchParams.set('iso_timestamp_end', window.end);
      const { body } = await getJson<{ result?: Record<string, unknown>[]; error?: unknown }>(url, { provider: 'supabase', token: apiKey, signal, fetch: opts.fetch });
      if (body.error) {
        const e = body.error as { message?: string } | string;
        throw new Error(`supabase logs query failed: ${typeof e === 'string' ? e : e.message ?? 'unknown error'}`);
      }
      const rows = body.result ?? [];
      const events = rows.map(normalizeSupabaseRow).filter((e): e is PulledEvent => e !== null);
      const note = `window ${window.start} – ${window.end}, offset ${offset}: ${rows.length} lines`;
      if (rows.length >= PAGE) {
        return { events, cursor: { mark, window, offset: offset + PAGE }, more: true, minDelayMs: pace, note };
      }
      return { events, cursor: { mark: window.end }, more: Date.parse(window.end) < horizon, minDelayMs: pace, note };
    },
  };
}
