/**
 * The audit log of mutating /v1 requests (db/audit.repo.ts). Two parts:
 *
 * - `intent` runs after authentication and the rate limits, right before the handler: it commits
 *   a pending row naming who asked for what. Nothing the handler changes can commit before it, so
 *   every committed change has its record; if the row can't be written, the request fails (503).
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
    await insertAudit(deps.db.sql, entry(c, id), null);
    c.set('auditId', id);
    return next();
  };

  const outcome: MiddlewareHandler<AppEnv> = async (c, next) => {
    if (!audited(c)) return next();
    await next();
    const pending = c.get('auditId') as string | undefined;
    try {
      const created = c.req.method === 'POST' ? await createdResource(c.res) : null;
      if (pending) await completeAudit(deps.db.sql, pending, c.res.status, created);
      else await insertAudit(deps.db.sql, { ...entry(c, newId('aud')), resourceId: created ?? resourceInPath(c.req.path) }, c.res.status);
    } catch (err) {
      deps.metrics?.inc('audit_write_failures_total', { stage: pending ? 'outcome' : 'refusal' });
      deps.log.warn('could not write the audit record', { request_id: c.get('requestId'), method: c.req.method, path: c.req.path, err });
    }
  };

  return { intent, outcome };
}
