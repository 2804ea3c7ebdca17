/**
 * The audit log of mutating /v1 requests (db/audit.repo.ts). Two parts:
 *
 * - `intent` runs after authentication and the rate limits, right before the handler: it commits
 *   a pending row naming who asked for what. Nothing the handler changes can commit before it, so
 *   every committed change has its record; if the row can't be written, the request fails (503).
 *   The routes in IN_STATEMENT (the hot creates) write no pending row: their handler hands the
 *   entry (`auditForStatement`) to the statement that makes the change, which writes the row
 *   complete in the same transaction (db/audit.repo.ts auditRowsCte), and says so
 *   (`auditWritten`). Two statements fewer per create, and the record is as sure: no change
 *   commits without it.
 * - `outcome` wraps everything from the body limit on: once the answer is known it fills in the
 *   pending row's status, or, for a request refused before its handler (401, 403 for a token,
 *   413, 429, an unknown version), writes the whole row at once. A failure here is logged and
 *   counted; the answer still goes out.
 *
 * Webhook deliveries are not here: they carry no key, and each is kept raw with its outcome
 * (webhook_deliveries). Nothing of a body, a secret or a token is recorded.
 */
import type { Context, MiddlewareHandler } from 'hono';
import { completeAudit, insertAudit, type AuditEntry } from '../../db/audit.repo.ts';
import type { AppDeps, AppEnv } from '../deps.ts';
import { clientAddress } from '../lib/client-address.ts';
import { ID_PATTERN as ID, newId } from '../../core/ids.ts';
import { routeTemplate } from './metrics.ts';

const MUTATING = new Set(['POST', 'PUT', 'PATCH', 'DELETE']);

/** Routes whose change is written by one statement that also writes the audit row. */
const IN_STATEMENT = new Set(['POST /v1/projects']);

const deferred = new WeakMap<Context, { entry: AuditEntry; written: boolean }>();

/** For an IN_STATEMENT route's handler: the entry its statement must write (undefined elsewhere). */
export function auditForStatement(c: Context<AppEnv>): AuditEntry | undefined {
  return deferred.get(c)?.entry;
}

/** The handler's statement committed the audit row (with the change). */
export function auditWritten(c: Context<AppEnv>): void {
  const d = deferred.get(c);
  if (d) d.written = true;
}

const audited = (c: Context<AppEnv>) => MUTATING.has(c.req.method) && !c.req.path.startsWith('/v1/webhooks/');

function entry(c: Context<AppEnv>, id: string): AuditEntry {
  const p = c.get('principal') as AppEnv['Variables']['principal'] | undefined;
  return {
    id,
    tenantId: p?.tenantId ?? null, keyId: p?.keyId ?? null, keyRole: p ? (p.via === 'event_token' ? 'event_token' : p.role) : null,
    keyPrefix: p?.keyPrefix ?? null,
    method: c.req.method, route: routeTemplate(c), resourceId: resourceInPath(c.req.path),
    requestId: c.get('requestId'), clientAddress: clientAddress(c), userAgent: c.req.header('User-Agent')?.slice(0, 512) ?? null,
  };
}

/** The most specific id in the path: `/v1/projects/prj_…/log-sources/src_…` → `src_…`. */
function resourceInPath(path: string): string | null {
  const ids = path.split('/').filter((s) => ID.test(s));
  return ids.at(-1) ?? null;
}

/** What a create made: its Location, else the one object's id in a 201's body. */
async function createdResource(res: Response): Promise<string | null> {
  const location = res.headers.get('Location');
  if (location) return resourceInPath(location.split('?')[0]!);
  if (res.status !== 201 || !(res.headers.get('Content-Type') ?? '').startsWith('application/json')) return null;
  try {
    const body = (await res.clone().json()) as Record<string, unknown>;
    for (const value of Object.values(body)) {
      const id = (value as { id?: unknown } | null)?.id;
      if (typeof id === 'string' && ID.test(id)) return id;
    }
  } catch {
    // not a body we can name a resource from
  }
  return null;
}

export function auditLog(deps: Pick<AppDeps, 'db' | 'log' | 'metrics'>) {
  const intent: MiddlewareHandler<AppEnv> = async (c, next) => {
    if (!audited(c)) return next();
    const id = newId('aud');
    if (IN_STATEMENT.has(`${c.req.method} ${routeTemplate(c)}`)) {
      deferred.set(c, { entry: entry(c, id), written: false });
      return next();
    }
    await insertAudit(deps.db.sql, entry(c, id), null);
    c.set('auditId', id);
    return next();
  };

  const outcome: MiddlewareHandler<AppEnv> = async (c, next) => {
    if (!audited(c)) return next();
    await next();
    const pending = c.get('auditId') as string | undefined;
    const inStatement = deferred.get(c);
    if (inStatement?.written) return;
    try {
      const created = c.req.method === 'POST' ? await createdResource(c.res) : null;
      if (pending) await completeAudit(deps.db.sql, pending, c.res.status, created);
      // Refused before its handler, or an IN_STATEMENT request whose statement wrote nothing (a
      // taken slug, a replay, a failure): the whole row now.
      else await insertAudit(deps.db.sql, { ...(inStatement?.entry ?? entry(c, newId('aud'))), resourceId: created ?? resourceInPath(c.req.path) }, c.res.status);
    } catch (err) {
      deps.metrics?.inc('audit_write_failures_total', { stage: pending ? 'outcome' : 'refusal' });
      deps.log.warn('could not write the audit record', { request_id: c.get('requestId'), method: c.req.method, path: c.req.path, err });
    }
  };

  return { intent, outcome };
}
