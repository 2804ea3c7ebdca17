/**
 * A tenant's own Postgres, registered by connection string (`POST /v1/projects/import`): checked
 * before it is accepted, and again before every later connection (health, metrics), because the
 * string is tenant input and the connection comes from inside our network.
 *
 * - Only `postgres://` / `postgresql://` URLs with a host and a user; no `host`/`hostaddr` query
 *   parameters (they would override the host that was checked).
 * - The host must be public: an IP literal in any form, a local name, or a name resolving to a
 *   loopback, private, link-local or other special-use address is refused, unless the deployment
 *   allows private hosts (development, tests).
 * - It must connect and answer within the timeout.
 */
import postgres from 'postgres';
import { isIpLiteral, isLocalName, nonPublicReason, normalizeHost } from './addresses.ts';
import { redactText } from './log.ts';

export class DatabaseRefused extends Error {
  override name = 'DatabaseRefused';
}

export interface DatabaseTarget {
  allowPrivate: boolean;
  /** Resolves a host name to its addresses (Node's lookup); without it only literals are checked. */
  resolve?: (host: string) => Promise<string[]>;
}

/** Throws DatabaseRefused when the connection string may not be used; returns its parsed URL. */
export async function assertConnectable(connectionString: string, target: DatabaseTarget): Promise<URL> {
  let u: URL;
  try {
    u = new URL(connectionString);
  } catch {
    throw new DatabaseRefused('not a URL: give postgresql://user:password@host:5432/database');
  }
  if (u.protocol !== 'postgres:' && u.protocol !== 'postgresql:') throw new DatabaseRefused('must be a postgres:// or postgresql:// URL');
  if (!u.hostname) throw new DatabaseRefused('names no host');
  if (!u.username) throw new DatabaseRefused('names no user');
  for (const p of ['host', 'hostaddr']) if (u.searchParams.has(p)) throw new DatabaseRefused(`may not carry a ${p} parameter`);
  if (target.allowPrivate) return u;
  const host = normalizeHost(u.hostname);
  if (isIpLiteral(host)) {
    const why = nonPublicReason(host);
    if (why) throw new DatabaseRefused(`the host ${host} is a private address: ${why}`);
    return u;
  }
  if (isLocalName(host)) throw new DatabaseRefused(`the host ${host} is not public`);
  let addresses: string[] = [];
  try {
    addresses = (await target.resolve?.(host)) ?? [];
  } catch {
    throw new DatabaseRefused(`the host ${host} does not resolve`);
  }
  for (const a of addresses) {
    const why = nonPublicReason(a);
    if (why) throw new DatabaseRefused(`the host ${host} resolves to a private address (${a}: ${why})`);
  }
  return u;
}

export interface VerifiedDatabase { database: string; user: string; server_version: string; host: string }

/** Checks the string, connects with it and asks who it is; DatabaseRefused with the reason otherwise. */
export async function verifyDatabase(connectionString: string, target: DatabaseTarget & { timeoutS?: number }): Promise<VerifiedDatabase> {
  const u = await assertConnectable(connectionString, target);
  const sql = postgres(connectionString, {
    max: 1, connect_timeout: target.timeoutS ?? 5, idle_timeout: 1, onnotice: () => {}, prepare: false,
    connection: { application_name: 'switchyard-import', statement_timeout: 5000 },
  });
  try {
    const [row] = await sql<{ database: string; user: string; version: string }[]>`
      select current_database() as database, current_user as user, current_setting('server_version') as version`;
    return { database: row!.database, user: row!.user, server_version: row!.version, host: u.host };
  } catch (err) {
    // The server's own words (a wrong password, no such database), never the string itself.
    throw new DatabaseRefused(`could not connect: ${redactText((err as Error).message).replaceAll(u.password || '\0', '***')}`);
  } finally {
    await sql.end({ timeout: 1 }).catch(() => {});
  }
}
