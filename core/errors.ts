/**
 * The error-reporting port: what goes to an error tracker (Sentry) and with which context. Code
 * that meets a failure worth a person's attention (a 500, a dead job, an outbound call that gave
 * up) calls `report`; the composition root decides where it goes (functions/entry/sentry.ts on
 * Node), or nowhere (`noReports`).
 *
 * Context is explicit and bounded: tags are ids and names (request id, route template, tenant id,
 * job id and kind), never bodies, headers, keys or URLs with credentials. The reporter scrubs
 * again before anything leaves the process.
 */
export interface ReportContext {
  /** Short, indexed values: request_id, route, tenant_id, job_id, kind… */
  tags?: Record<string, string | number | undefined>;
  /** Longer values shown with the event (attempts, the last error's text). */
  extra?: Record<string, string | number | boolean | null | undefined>;
  level?: 'error' | 'warning';
  /** Groups events that are one problem (e.g. a job kind's dead jobs) whatever their message. */
  fingerprint?: string[];
}

export interface ErrorReporter {
  report(error: unknown, context?: ReportContext): void;
  /** Waits (at most `timeoutMs`) for queued events to be sent: before exiting, or on the edge before the invocation ends. */
  flush(timeoutMs: number): Promise<boolean>;
}

export const noReports: ErrorReporter = { report() {}, flush: async () => true };
