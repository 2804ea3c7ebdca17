/**
 * Render logs (`GET /v1/logs?ownerId=&resource=…&startTime=&endTime=&direction=forward&limit=`).
 * Time-window paging: while `hasMore`, the next page is `nextStartTime`/`nextEndTime` sent back
 * as `startTime`/`endTime`. The mark is the end of the last window fully read; a window in
 * progress is kept in the mark too, so a crash resumes at the page it was on.
 */
import { maskText, maskValue } from '../mask.ts';
import { getJson } from './http.ts';
import { levelFrom, levelFromText, str, type LogPuller, type PullerOptions, type PulledEvent } from './puller.ts';

interface Cursor { mark?: string; page?: { startTime: string; endTime: string }; windowEnd?: string }
interface RenderLog { id?: string; message?: string; timestamp?: string; labels?: { name: string; value: string }[] }
interface RenderLogs { hasMore?: boolean; nextStartTime?: string; nextEndTime?: string; logs?: RenderLog[] }

export function normalizeRenderLog(log: RenderLog): PulledEvent | null {
  const ts = log.timestamp ? new Date(log.timestamp) : null;
  if (!log.id || !ts || Number.isNaN(ts.getTime())) return null;
  const labels = Object.fromEntries((log.labels ?? []).map((l) => [l.name, l.value]));
  const message = String(log.message ?? '');
  const type = labels.type;
  const level = levelFrom(labels.level, levelFromText(message));
  return {
    ts: ts.toISOString(),
    service: labels.resource ?? labels.service ?? null,
    environment: null,
    level,
    kind: type === 'build' ? 'deploy' : 'log',
    message: maskText(message).slice(0, 8000),
    fingerprint: null,
    attrs: maskValue(labels),
    sourceEventId: log.id,
  };
}

export function createRenderLogPuller(opts: PullerOptions & { pageSize?: number }): LogPuller {
  const limit = Math.min(opts.pageSize ?? 100, 100);
  return {
    provider: 'render',
    async pull({ config, apiKey, cursor: raw, now, signal }) {
      const owner = str(config.owner_id);
      if (!owner) throw new Error('config.owner_id is missing');
      const resources = Array.isArray(config.resources) ? config.resources.filter((r): r is string => typeof r === 'string') : [];
      const cursor = raw as Cursor;
      const mark = cursor.mark ?? new Date(now.getTime() - opts.initialLookbackMs).toISOString();
      const page = cursor.page ?? { startTime: mark, endTime: now.toISOString() };
      const windowEnd = cursor.windowEnd ?? page.endTime;
      if (!cursor.page && Date.parse(page.startTime) >= Date.parse(page.endTime)) {
        return { events: [], cursor: { mark }, more: false, minDelayMs: 0, note: 'up to date' };
      }
      const url = new URL('logs', opts.baseUrl.endsWith('/') ? opts.baseUrl : `${opts.baseUrl}/`);
      url.searchParams.set('ownerId', owner);
      for (const r of resources) url.searchParams.append('resource', r);
      url.searchParams.set('startTime', page.startTime);
      url.searchParams.set('endTime', page.endTime);
      url.searchParams.set('direction', 'forward');
      url.searchParams.set('limit', String(limit));
      const { body } = await getJson<RenderLogs>(url, { provider: 'render', token: apiKey, signal, fetch: opts.fetch });
      const logs = body.logs ?? [];
      const events = logs.map(normalizeRenderLog).filter((e): e is PulledEvent => e !== null);
      const note = `${page.startTime} – ${page.endTime}: ${logs.length} lines`;
      if (body.hasMore && body.nextStartTime && body.nextEndTime) {
        return { events, cursor: { mark, page: { startTime: body.nextStartTime, endTime: body.nextEndTime }, windowEnd }, more: true, minDelayMs: 0, note };
      }
      return { events, cursor: { mark: windowEnd }, more: false, minDelayMs: 0, note };
    },
  };
}
