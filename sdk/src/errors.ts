/** Every failed call throws a SwitchyardError: the server's problem (RFC 9457), typed. */
import type { components } from './schema.js';

export type Problem = components['schemas']['Problem'];

export class SwitchyardError extends Error {
  override readonly name = 'SwitchyardError';
  constructor(
    readonly problem: Problem,
    /** Seconds the server asked to wait (Retry-After), when it said. */
    readonly retryAfter: number | null = null,
  ) {
    super(problem.detail ? `${problem.title}: ${problem.detail}` : problem.title);
  }
  get status(): number {
    return this.problem.status;
  }
  /** The id to quote to the operator: it is in the server's logs, traces and audit log. */
  get requestId(): string | null {
    return this.problem.request_id;
  }
  get type(): string {
    return this.problem.type;
  }
  /** Field errors as `field → message` (the first for each field). */
  fieldErrors(): Record<string, string> {
    const out: Record<string, string> = {};
    for (const e of this.problem.errors ?? []) out[e.field.replace(/^body\./, '')] ??= e.message;
    return out;
  }

  /** The error for an answer that is not a success; a body that is not a problem still gives one. */
  static async from(response: Response, parsed?: unknown): Promise<SwitchyardError> {
    let body = parsed;
    if (body === undefined) {
      const text = await response.clone().text().catch(() => '');
      try {
        body = text ? JSON.parse(text) : undefined;
      } catch {
        body = text;
      }
    }
    const p = (body && typeof body === 'object' ? body : {}) as Partial<Problem>;
    const retryAfter = Number(response.headers.get('Retry-After'));
    return new SwitchyardError({
      ...p,
      type: p.type ?? 'about:blank',
      title: p.title ?? (response.statusText || `HTTP ${response.status}`),
      status: response.status,
      ...(p.detail ? { detail: p.detail } : typeof body === 'string' && body ? { detail: body.slice(0, 500) } : {}),
      instance: p.instance ?? (response.url ? new URL(response.url).pathname : ''),
      request_id: p.request_id ?? response.headers.get('X-Request-Id'),
    }, Number.isFinite(retryAfter) && response.headers.has('Retry-After') ? retryAfter : null);
  }

  /** For a request that got no answer at all. */
  static network(cause: unknown, path: string): SwitchyardError {
    const err = new SwitchyardError({ type: 'about:blank', title: 'Network error', status: 0, detail: `the API could not be reached (${String(cause)})`, instance: path, request_id: null });
    (err as { cause?: unknown }).cause = cause;
    return err;
  }
}
