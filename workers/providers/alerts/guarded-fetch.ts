/**
 * Node only: a `fetch` for tenant-given URLs that checks every address at connect time. The host
 * is resolved by our own lookup, which refuses the connection when any resolved address is not
 * public; IP literals are checked before connecting. So a name that resolved to a public address
 * when the rule was created, and to 127.0.0.1 now (DNS rebinding), never gets a connection.
 *
 * Why not the global fetch: it resolves inside undici with no hook short of a custom dispatcher
 * from the `undici` package; node:http(s) take a `lookup` option directly.
 */
import { lookup as dnsLookup, type LookupAddress, type LookupOptions } from 'node:dns';
import { request as httpRequest, type IncomingMessage } from 'node:http';
import { request as httpsRequest } from 'node:https';
import { isIpLiteral, nonPublicReason, normalizeHost } from '../../../core/addresses.ts';

export class BlockedAddressError extends Error {
  override name = 'BlockedAddressError';
}

type LookupCallback = (err: NodeJS.ErrnoException | null, address: string | LookupAddress[], family?: number) => void;

function guardedLookup(hostname: string, options: LookupOptions, callback: LookupCallback): void {
  dnsLookup(hostname, { ...options, all: true }, (err, addresses) => {
    if (err) return callback(err, []);
    for (const a of addresses) {
      const why = nonPublicReason(a.address);
      if (why) return callback(Object.assign(new BlockedAddressError(`${hostname} resolves to ${a.address}, which is not public (${why})`), { code: 'EBLOCKED' }), []);
    }
    if (options.all) return callback(null, addresses);
    const first = addresses[0];
    if (!first) return callback(Object.assign(new Error(`${hostname} has no address`), { code: 'ENOTFOUND' }), []);
    callback(null, first.address, first.family);
  });
}

export function createGuardedFetch(opts: { allowPrivate: boolean }): typeof fetch {
  return (async (input: string | URL | Request, init: RequestInit = {}) => {
    const url = new URL(typeof input === 'string' || input instanceof URL ? input : input.url);
    const host = normalizeHost(url.hostname);
    if (!opts.allowPrivate && isIpLiteral(host)) {
      const why = nonPublicReason(host);
      if (why) throw new BlockedAddressError(`${host} is not public (${why})`);
    }
    const send = url.protocol === 'https:' ? httpsRequest : httpRequest;
    const headers = Object.fromEntries(new Headers(init.headers).entries());
    const body = typeof init.body === 'string' ? init.body : init.body == null ? undefined : String(init.body);
    return new Promise<Response>((resolve, reject) => {
      const req = send(url, {
        method: init.method ?? 'GET', headers, signal: init.signal ?? undefined,
        ...(opts.allowPrivate ? {} : { lookup: guardedLookup as never }),
      }, (res: IncomingMessage) => {
        res.resume(); // a notification's answer body is not used
        res.once('end', () => resolve(new Response(null, { status: res.statusCode && res.statusCode >= 200 ? res.statusCode : 502 })));
        res.once('error', reject);
      });
      req.once('error', reject);
      req.end(body);
    });
  }) as typeof fetch;
}
