/**
 * The version layer for /v1 (core/api-versions.ts). Runs before authentication, so a request
 * naming a version we don't serve is a 400 whatever its key. After the handler it knows who
 * asked: the version is the request's `API-Version`, else the tenant's pin, else the current one.
 * Every answer says which version served it; a deprecated one also says so (`Deprecation`,
 * `Sunset`, `Link rel="deprecation"`); and a JSON success built in the newest shape is turned
 * back into the older version's.
 */
import type { MiddlewareHandler } from 'hono';
import { API_VERSIONS, CURRENT_API_VERSION, changesAfter, deprecationHeaders, findApiVersion, toVersion } from '../../core/api-versions.ts';
import type { AppEnv } from '../deps.ts';
import { Problem } from '../errors.ts';

const SUPPORTED = API_VERSIONS.map((v) => v.version);

export function apiVersions(): MiddlewareHandler<AppEnv> {
  return async function versioned(c, next) {
    const asked = c.req.header('API-Version')?.trim();
    if (asked !== undefined && !findApiVersion(asked)) {
      throw new Problem(400, 'Unsupported API version', `API-Version "${asked.slice(0, 40)}" is not one this server serves; send one of ${SUPPORTED.join(', ')}, or none for your tenant's pin`, { supported: SUPPORTED, current: CURRENT_API_VERSION });
    }
    await next();
    const principal = c.get('principal') as AppEnv['Variables']['principal'] | undefined;
    const version = findApiVersion(asked ?? principal?.apiVersion ?? CURRENT_API_VERSION) ?? API_VERSIONS[0]!;
    const res = c.res;
    res.headers.set('API-Version', version.version);
    for (const [name, value] of Object.entries(deprecationHeaders(version))) res.headers.set(name, value);
    if (version.deprecated) res.headers.append('Link', '</versions>; rel="deprecation"; type="application/json"');
    if (changesAfter(version.version).length === 0) return;
    if (res.status >= 300 || !(res.headers.get('Content-Type') ?? '').startsWith('application/json')) return;
    const newest: unknown = await res.clone().json();
    const body = toVersion(newest, version.version);
    // No change concerns this answer: it goes out as it is, not rebuilt.
    if (body === newest) return;
    const headers = new Headers(res.headers);
    headers.delete('Content-Length');
    c.res = undefined;
    c.res = new Response(JSON.stringify(body), { status: res.status, headers });
  };
}
