/**
 * The log-puller port. One call fetches one page after the source's high-water mark and returns
 * the page's events with the mark that covers them; the pull task commits both in one
 * transaction, so a crash between pages neither skips nor repeats a page. Marks are opaque JSON
 * to everything but the puller that wrote them.
 */
import type { NewEvent } from '../../../../db/events.repo.ts';

export type PulledEvent = Omit<NewEvent, 'tenantId' | 'projectId' | 'sourceId' | 'provider'>;

export interface PullRequest {
  config: Record<string, unknown>;
  apiKey: string;
  /** The source's committed mark; `{}` before the first pull. */
  cursor: Record<string, unknown>;
  now: Date;
  signal: AbortSignal;
}

export interface PullPage {
  events: PulledEvent[];
  cursor: Record<string, unknown>;
  /** More pages are due now (a full page, or windows left before the present). */
  more: boolean;
  /** The least wait before the next page, to stay inside the provider's budget. */
  minDelayMs: number;
  /** Progress for the job timeline, e.g. "window 2026-11-22T10:00Z–11:00Z, offset 1000". */
  note: string;
}

export interface LogPuller {
  readonly provider: 'supabase' | 'render' | 'sentry';
  pull(req: PullRequest): Promise<PullPage>;
}

export interface PullerOptions {
  baseUrl: string;
  /** How far back the first pull of a new source reaches. */
  initialLookbackMs: number;
  fetch?: typeof fetch;
}

export const HOUR = 3_600_000;

export function str(v: unknown): string | undefined {
  return typeof v === 'string' && v.length > 0 ? v : undefined;
}

export function levelFromText(text: string): NewEvent['level'] {
  if (/\b(FATAL|PANIC|CRITICAL)\b/i.test(text)) return 'fatal';
  if (/\bERROR\b/i.test(text)) return 'error';
  if (/\bWARN(ING)?\b/i.test(text)) return 'warn';
  if (/\bDEBUG\b/.test(text)) return 'debug';
  return 'info';
}

export function levelFrom(value: unknown, fallback: NewEvent['level']): NewEvent['level'] {
  switch (typeof value === 'string' ? value.toLowerCase() : '') {
    case 'fatal': case 'panic': case 'critical': return 'fatal';
    case 'error': return 'error';
    case 'warn': case 'warning': return 'warn';
    case 'info': case 'log': case 'notice': return 'info';
    case 'debug': case 'trace': return 'debug';
    default: return fallback;
  }
}
