/**
 * Shared pieces of the HTTP contract: validation errors, keyset pagination, Idempotency-Key.
 */
import { z } from '@hono/zod-openapi';
import type { Context } from 'hono';
import type { Sql } from '../../db/client.ts';
import { findIdempotencyKey, insertIdempotencyKey, isStoredKeyConflict, tryLockIdempotencyKey } from '../../db/idempotency.repo.ts';
import { EVENTS_CHANNEL } from '../../db/notify.repo.ts';
import type { AppDeps, AppEnv } from '../deps.ts';
import type { DispatchableJob } from '../../workers/queue/queue.ts';
import { badRequest, conflict, notFound, Problem, unprocessable, type FieldError } from '../errors.ts';
import { fromBase64Url, sha256Hex, toBase64Url } from '../../core/crypto.ts';
import { ID_PATTERN } from '../../core/ids.ts';

/** The zod-openapi hook: a failed validation becomes a 400 problem naming each bad field. */
export function validationHook(result: { success: boolean; error?: z.ZodError; target?: string }) {
  if (result.success || !result.error) return;
  // A path id that can't be an id names nothing that exists: 404, as for an unknown id.
  if (result.target === 'param') throw notFound('the resource');
  const errors: FieldError[] = result.error.issues.flatMap((i) => {
    if (i.code === 'unrecognized_keys') {
      return i.keys.map((k) => ({ field: [...i.path, k].join('.'), message: 'unknown field' }));
    }
    return [{ field: i.path.join('.') || '(body)', message: i.message }];
  });
  throw badRequest(`the request ${result.target ?? 'input'} is not valid`, errors);
}

/** RFC 9457 problem details, with this API's extension members (each only on the problems that say so). */
export const ProblemSchema = z.object({
  type: z.string().openapi({ description: 'a URI naming the kind of problem', example: 'https://switchyard.dev/problems/conflict' }),
  title: z.string(),
  status: z.number().int(),
  detail: z.string().optional().openapi({ description: 'what happened this time, in a sentence' }),
  instance: z.string().openapi({ description: 'the request path (never the query, which may hold an event token)' }),
  request_id: z.string().nullable(),
  trace_id: z.string().nullable().optional().openapi({ description: 'the W3C trace id of this request' }),
  errors: z.array(z.object({ field: z.string(), message: z.string() }).passthrough()).optional().openapi({ description: 'on 400 and some 409/422: each bad field' }),
  supported: z.array(z.string()).optional().openapi({ description: 'on an unknown API-Version: the versions this server speaks' }),
  current: z.union([z.string(), z.number()]).optional().openapi({ description: 'the current API version (unknown API-Version), or the tenant\'s live store count (store cap)' }),
  allow: z.array(z.string()).optional().openapi({ description: 'on 405: the methods the path accepts' }),
  current_status: z.string().optional().openapi({ description: 'on a 409 about status: the resource\'s status now' }),
  rollout_status: z.string().optional().openapi({ description: 'on a refused rollout action: the rollout\'s status now' }),
}).openapi('Problem');

export const problemContent = (description: string) => ({
  description,
  content: { 'application/problem+json': { schema: ProblemSchema } },
});

/** A path `{id}`: the prefixed id format (see lib/ids.ts). */
export const idParam = (prefix: string) => z.object({
  id: z.string().regex(new RegExp(`^${prefix}_[0-9a-z]{26}$`)).openapi({ param: { name: 'id', in: 'path' }, example: `${prefix}_01jd2x3y4z5a6b7c8d9e0f1g2h` }),
});

/**
 * A query integer written in decimal digits only: z.coerce alone reads `0x10` as 16 and `1e1`
 * as 10, and accepts spaces.
 */
export const queryInt = (min: number, max: number, def: number) =>
  z.preprocess((v) => (typeof v === 'string' && !/^\d{1,9}$/.test(v) ? Number.NaN : v), z.coerce.number({ error: 'must be a whole number in decimal digits' }).int().min(min).max(max)).default(def);

const FIRST_MS = Date.parse('0001-01-01T00:00:00Z');
const LAST_MS = Date.parse('9999-12-31T23:59:59.999Z');

/** True for a time Postgres's timestamptz can hold and the API can print as RFC 3339 (years 0001–9999). */
export function storableTime(ms: number): boolean {
  return ms >= FIRST_MS && ms <= LAST_MS;
}

/** An RFC 3339 time with an offset, in years 0001–9999 (Postgres has no year 0; JS prints 5+ digit years as ±YYYYYY). */
export const Timestamp = z.string().datetime({ offset: true }).refine((v) => storableTime(Date.parse(v)), 'must be between years 0001 and 9999');

export const ListQuery = z.object({
  limit: queryInt(1, 100, 20).openapi({ description: 'page size, 1–100' }),
  cursor: z.string().max(200).optional().openapi({ description: 'pagination.next_cursor of the previous page (next_cursor before API version 2026-12-02)' }),
});

export function decodeCursor(cursor: string | undefined): string | undefined {
  if (!cursor) return undefined;
  try {
    const id = new TextDecoder().decode(fromBase64Url(cursor));
    if (ID_PATTERN.test(id)) return id;
  } catch {
    // fall through
  }
  throw badRequest('the cursor is not valid; use pagination.next_cursor from a previous page', [{ field: 'cursor', message: 'malformed' }]);
}

export const PaginationSchema = z.object({
  next_cursor: z.string().nullable().openapi({ description: 'pass as ?cursor= for the next page; null on the last page' }),
  has_more: z.boolean(),
}).openapi('Pagination');

/** A list response in the newest version's shape (older pins get theirs from core/api-versions.ts). */
export function pageOf<T extends z.ZodTypeAny>(item: T) {
  return z.object({ data: z.array(item), pagination: PaginationSchema });
}

export interface Pagination {
  next_cursor: string | null;
  has_more: boolean;
}

/**
 * One page of a keyset listing. `rows` were fetched with `limit + 1`: the extra row says whether
 * there is more, so `has_more` is the truth and the last page carries no cursor to an empty one.
 * Sets the RFC 8288 Link header when there is a next page.
 */
export function page<T extends { id: string }>(c: Context, rows: T[], limit: number, cursorOf: (row: T) => string = (r) => r.id): { rows: T[]; pagination: Pagination } {
  if (rows.length <= limit) return { rows, pagination: { next_cursor: null, has_more: false } };
  const shown = rows.slice(0, limit);
  const next = toBase64Url(new TextEncoder().encode(cursorOf(shown[shown.length - 1]!)));
  const url = new URL(c.req.url);
  url.searchParams.set('cursor', next);
  url.searchParams.set('limit', String(limit));
  c.header('Link', `<${url.pathname}${url.search}>; rel="next"`);
  return { rows: shown, pagination: { next_cursor: next, has_more: true } };
}

/** A request's Idempotency-Key and the fingerprint of what it asked, for a work that stores it itself. */
export interface KeyedRequest { key: string; fingerprint: string }

export interface Accepted {
  status: 200 | 201 | 202;
  body: unknown;
  headers: Record<string, string>;
  /** Jobs to signal once the transaction has committed. */
  jobs?: DispatchableJob[];
}

function canonicalJson(value: unknown): string {
  if (Array.isArray(value)) return `[${value.map(canonicalJson).join(',')}]`;
  if (value && typeof value === 'object') {
    return `{${Object.keys(value).sort().map((k) => `${JSON.stringify(k)}:${canonicalJson((value as Record<string, unknown>)[k])}`).join(',')}}`;
  }
  return JSON.stringify(value ?? null);
}

/**
 * Runs a mutation in one transaction, honouring Idempotency-Key (DESIGN.md "Idempotency"):
 * same key + same request → the stored response with `Idempotent-Replayed: true`; same key +
 * different request → 422; same key while the first is still running → 409. The key is stored
 * in the mutation's own transaction, so it exists exactly when the mutation committed.
 */
export async function mutate(
  c: Context<AppEnv>,
  deps: AppDeps,
  input: unknown,
  // Runs in a transaction when an Idempotency-Key is given, and on the pool otherwise: without a
  // key it must be atomic by itself (one statement, as writeSubjectWithJob is).
  work: (sql: Sql, keyed?: KeyedRequest) => Promise<Accepted>,
  // `transaction: true` runs `work` in a transaction even without a key (several statements).
  // `inStatement`: with a key, `work` first gets it (on the pool) and stores it in its own single
  // statement, with the rows it wrote; `render` turns those rows into the response on a replay.
  // A key already stored fails that statement (nothing written), and the request then goes the
  // transactional way below: replay, 422 or 409.
  opts: { transaction?: boolean; inStatement?: { render(rows: { subject: Record<string, unknown>; job: Record<string, unknown> }): unknown } } = {},
  // `never` lets route handlers return this where zod-openapi expects its typed response; the
  // body's shape is fixed by the `work` callback, which builds it from the same schemas.
): Promise<never> {
  const tenantId = c.get('principal').tenantId;
  const key = c.req.header('Idempotency-Key');
  if (key !== undefined && !/^[\x21-\x7e]{1,255}$/.test(key)) {
    throw badRequest('Idempotency-Key must be 1–255 visible ASCII characters', [{ field: 'Idempotency-Key', message: 'invalid' }]);
  }
  const fingerprint = key === undefined ? '' : await sha256Hex(`${c.req.method} ${c.req.path}\n${canonicalJson(input)}`);

  if (key === undefined) {
    const res = opts.transaction ? await deps.db.sql.begin((tx) => work(tx)) : await work(deps.db.sql);
    return respondAccepted(c, deps, res);
  }

  if (opts.inStatement) {
    // The common case, a new key: one statement, batched with other creates, no transaction held
    // across round trips (bench: keyed creates were a fifth of plain ones that way).
    try {
      return respondAccepted(c, deps, await work(deps.db.sql, { key, fingerprint }));
    } catch (err) {
      // A refusal (a taken slug, say) may hide a stored key: the statement that refused wrote no
      // key. Nothing was written, so the transactional way below answers it, key first.
      if (!isStoredKeyConflict(err) && !(err instanceof Problem)) throw err;
    }
  }

  const keyedTransaction = () => deps.db.sql.begin(async (tx) => {
    if (!(await tryLockIdempotencyKey(tx, tenantId, key))) {
      throw conflict('a request with this Idempotency-Key is still in progress; retry shortly');
    }
    const stored = await findIdempotencyKey(tx, tenantId, key);
    if (stored) {
      if (stored.fingerprint !== fingerprint) {
        throw unprocessable('this Idempotency-Key was already used with a different request');
      }
      return { replayed: true as const, stored };
    }
    const res = await work(tx);
    await insertIdempotencyKey(tx, tenantId, key, {
      fingerprint,
      responseStatus: res.status,
      responseHeaders: res.headers,
      responseBody: res.body,
    });
    return { replayed: false as const, res };
  });
  // A key stored meanwhile by another request's single statement (which takes no advisory lock)
  // fails ours on the key's index: nothing of ours stays, and the next try replays it.
  const outcome = await keyedTransaction().catch((err) => {
    if (opts.inStatement && isStoredKeyConflict(err)) return keyedTransaction();
    throw err;
  });

  if (outcome.replayed) {
    const s = outcome.stored;
    const stored = s.responseBody as { $rows?: { subject: Record<string, unknown>; job: Record<string, unknown> } };
    let body: unknown = s.responseBody;
    if (stored && typeof stored === 'object' && '$rows' in stored) {
      if (!opts.inStatement) throw new Error('a key stored with its rows was replayed by a route that cannot render them');
      body = opts.inStatement.render(stored.$rows!);
    }
    return c.json(body as object, s.responseStatus as 202, { ...s.responseHeaders, 'Idempotent-Replayed': 'true' }) as never;
  }
  return respondAccepted(c, deps, outcome.res);
}

function respondAccepted(c: Context<AppEnv>, deps: AppDeps, res: Accepted): never {
  afterCommit(deps, res.jobs ?? []);
  return c.json(res.body as object, res.status, res.headers) as never;
}

/**
 * Signals after commit (flow ③ and ⑥); neither is awaited by the client, and losing either only
 * delays work or an event until the next poll or sweep.
 */
export function afterCommit(deps: AppDeps, jobs: NonNullable<Accepted['jobs']>): void {
  const signals = Promise.all([
    jobs.length ? deps.queue.dispatch(jobs) : null,
    deps.signals.signal(EVENTS_CHANNEL),
  ]).catch((err) => deps.log.warn('signal after commit failed; pollers will pick the change up', { err }));
  deps.waitUntil?.(signals);
}

/**
 * An operation's own error answers, by status. functions/openapi.ts adds the ones every operation
 * shares (400, 401, 404 for a path id, 409/422 for Idempotency-Key, 413, 429, 500, 503).
 */
export const problems = (spec: Partial<Record<403 | 404 | 409 | 410 | 415 | 422 | 501, string>>) =>
  Object.fromEntries(Object.entries(spec).map(([status, description]) => [status, problemContent(description!)])) as Record<string, ReturnType<typeof problemContent>>;
