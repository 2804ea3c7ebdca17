/**
 * The one way the dashboard talks to the API: openapi-fetch typed by schema.d.ts, which is
 * generated from the app's own OpenAPI document. Every failure becomes an ApiError carrying the
 * problem's title, detail, field errors and request id, for the UI to show as they are.
 */
import createClient from 'openapi-fetch';
import type { components, paths } from './schema';

export type Project = components['schemas']['Project'];
export type Store = components['schemas']['Store'];
export type Job = components['schemas']['Job'];
export type JobEvent = components['schemas']['JobEvent'];
export type Rollout = components['schemas']['Rollout'];
export type Decision = components['schemas']['RolloutDecision'];
export type Problem = components['schemas']['Problem'];
export type Me = paths['/v1/me']['get']['responses'][200]['content']['application/json'];

export class ApiError extends Error {
  constructor(readonly problem: Problem) {
    super(problem.detail ? `${problem.title}: ${problem.detail}` : problem.title);
  }
  get status() {
    return this.problem.status;
  }
  /** Field errors as `field → message`, with the `body.` prefix some validators add removed. */
  fieldErrors(): Record<string, string> {
    const out: Record<string, string> = {};
    for (const e of this.problem.errors ?? []) out[e.field.replace(/^body\./, '')] ??= e.message;
    return out;
  }
}

/** The API version web/src/api/schema.d.ts describes (npm run gen:api). */
export const API_VERSION = '2026-12-02';

export function createApi(getKey: () => string | null) {
  const client = createClient<paths>({ baseUrl: globalThis.location?.origin ?? '' });
  client.use({
    onRequest({ request }) {
      const key = getKey();
      if (key) request.headers.set('Authorization', `Bearer ${key}`);
      // The version these types were generated for, whatever the tenant's pin.
      request.headers.set('API-Version', API_VERSION);
      return request;
    },
  });
  return client;
}
export type Api = ReturnType<typeof createApi>;

/** The data of a successful call, or an ApiError (network failures included). */
export async function call<T>(request: Promise<{ data?: T; error?: unknown; response: Response }>): Promise<T> {
  let result: { data?: T; error?: unknown; response: Response };
  try {
    result = await request;
  } catch (e) {
    throw new ApiError({ type: 'about:blank', title: 'Network error', status: 0, detail: `The API could not be reached (${String(e)})`, instance: '', request_id: null });
  }
  const { data, error, response } = result;
  if (response.ok) return data as T;
  const p = error as Partial<Problem> | undefined;
  throw new ApiError({
    type: p?.type ?? 'about:blank',
    title: p?.title ?? (response.statusText || `HTTP ${response.status}`),
    status: response.status,
    ...(p?.detail ? { detail: p.detail } : typeof error === 'string' && error ? { detail: error } : {}),
    instance: p?.instance ?? (response.url ? new URL(response.url).pathname : ''),
    request_id: p?.request_id ?? response.headers.get('x-request-id'),
    ...(p?.errors ? { errors: p.errors } : {}),
  });
}
