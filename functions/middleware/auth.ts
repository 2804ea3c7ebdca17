/**
 * Bearer API keys. Keys are looked up by SHA-256 hash; a short in-process cache (default 10 s)
 * keeps the lookup off the hot path, which bounds how long a revoked key keeps working.
 * `requireRole` guards mutations; `operatorOnly` guards tenant management.
 */
import type { MiddlewareHandler } from 'hono';
import { findPrincipalByKeyHash, touchApiKey, unusableKeyIds, type Role } from '../../db/tenants.repo.ts';
import type { AppDeps, AppEnv, Principal } from '../deps.ts';
import { forbidden, notFound, unauthorized } from '../errors.ts';
import { sha256Hex } from '../../core/crypto.ts';
import { CURRENT_API_VERSION } from '../../core/api-versions.ts';

export interface AuthOptions {
  /** Accept `?token=` event tokens (SSE only: browsers can't set headers on EventSource). */
  allowEventToken?: boolean;
}

interface CacheEntry {
  principal: Principal | null;
  expires: number;
}

export function createAuthCache(ttlMs: number, maxEntries = 10_000) {
  const entries = new Map<string, CacheEntry>();
  const touched = new Map<string, number>();
  return {
    get(key: string) {
      const e = entries.get(key);
      if (!e || e.expires < Date.now()) return undefined;
      return e.principal;
    },
    set(key: string, principal: Principal | null) {
      if (entries.size >= maxEntries) entries.clear();
      entries.set(key, { principal, expires: Date.now() + ttlMs });
    },
    /** True at most once a minute per key: last_used_at is a hint, not an audit log. */
    shouldTouch(keyId: string) {
      const now = Date.now();
      if ((touched.get(keyId) ?? 0) > now - 60_000) return false;
      if (touched.size >= maxEntries) touched.clear();
      touched.set(keyId, now);
      return true;
    },
    clear: () => entries.clear(),
  };
}
export type AuthCache = ReturnType<typeof createAuthCache>;

export function auth(deps: AppDeps, cache: AuthCache, options: AuthOptions = {}): MiddlewareHandler<AppEnv> {
  return async function authenticate(c, next) {
    const header = c.req.header('Authorization');
    const token = options.allowEventToken ? c.req.query('token') : undefined;
    if (!header && token) {
      const claims = await deps.box.verify<{ typ: string; t: string; k: string; exp: number; op: boolean; p: string; v?: string }>(token);
      if (!claims || claims.typ !== 'events' || claims.exp * 1000 < Date.now()) {
        throw unauthorized('the event token is invalid or has expired; request a new one from POST /v1/events/token');
      }
      // A token lives no longer than the key that minted it (cached like key lookups).
      const cacheKey = `token-key:${claims.k}`;
      let usable = cache.get(cacheKey);
      if (usable === undefined) {
        usable = (await unusableKeyIds(deps.db.sql, [claims.k])).length === 0 ? ({} as Principal) : null;
        cache.set(cacheKey, usable);
      }
      if (!usable) throw unauthorized('the key that minted this event token has been revoked');
      c.set('principal', { keyId: claims.k, tenantId: claims.t, role: 'viewer', isOperator: claims.op, plan: claims.p as 'free', apiVersion: claims.v ?? CURRENT_API_VERSION, via: 'event_token' });
      return next();
    }
    if (!header) throw unauthorized('send an API key as "Authorization: Bearer sk_…"');
    const match = /^Bearer\s+(\S+)$/i.exec(header);
    if (!match || !match[1]!.startsWith('sk_')) throw unauthorized('the Authorization header must be "Bearer sk_…"');
    // The cache is keyed by the presented key itself: a hit then costs no hashing (WebCrypto
    // digests were a measurable share of the API's CPU). The key is in this process's memory for
    // the request anyway; the database only ever sees its hash.
    const presented = match[1]!;
    let principal = cache.get(presented);
    if (principal === undefined) {
      const found = await findPrincipalByKeyHash(deps.db.sql, await sha256Hex(presented));
      principal = found ? { ...found, via: 'api_key' } : null;
      cache.set(presented, principal);
    }
    if (!principal) throw unauthorized('the API key is not valid (unknown or revoked)');
    if (cache.shouldTouch(principal.keyId)) {
      const p = touchApiKey(deps.db.sql, principal.keyId).catch((err) => deps.log.warn('could not record key use', { err }));
      deps.waitUntil?.(p);
    }
    c.set('principal', principal);
    return next();
  };
}

const RANK: Record<Role, number> = { viewer: 0, member: 1, admin: 2 };

export function requireRole(role: Role): MiddlewareHandler<AppEnv> {
  return async function checkRole(c, next) {
    const p = c.get('principal');
    if (p.via !== 'api_key' || RANK[p.role] < RANK[role]) {
      throw forbidden(`this action needs the ${role} role; the key used has ${p.via === 'api_key' ? p.role : 'an event token (read-only)'}`);
    }
    return next();
  };
}

export function operatorOnly(): MiddlewareHandler<AppEnv> {
  return async function checkOperator(c, next) {
    const p = c.get('principal');
    // Other tenants get a 404: the route's existence is not theirs to learn about.
    if (!p.isOperator || p.via !== 'api_key') throw notFound('this resource');
    if (p.role !== 'admin') throw forbidden('managing tenants needs an admin key of the operator tenant');
    return next();
  };
}
