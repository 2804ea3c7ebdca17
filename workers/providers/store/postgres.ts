/**
 * The `postgres` store runtime (the embedded default): per store, a role and a database on the
 * data-plane server, the engine's template schema, and a first admin user whose password is
 * generated and kept only as a hash in the store. One step; every statement is idempotent, so a
 * step re-run after a crash converges (the role and admin get fresh passwords, since the
 * interrupted attempt's were never stored).
 */
import postgres from 'postgres';
import { reconnectBackoff } from '../../../db/client.ts';
import { hashPassword, randomToken, scramSha256Verifier } from '../../../core/crypto.ts';
import { PermanentError } from '../../step.ts';
import { createDatabase } from '../postgres-ddl.ts';
import type { StoreInput, StoreRuntime } from './runtime.ts';
import { STORE_TEMPLATES } from './templates.ts';

export const STORE_CONNECTION_LIMITS = { free: 5, pro: 20, enterprise: 60 } as const;

const IDENT = /^sto_[0-9a-z]{26}$/;
function ident(storeId: string): string {
  if (!IDENT.test(storeId)) throw new PermanentError(`invalid store id: ${storeId}`);
  return storeId;
}

export function createPostgresStoreRuntime(opts: { url: string; publicHost?: string }): StoreRuntime & { close(): Promise<void> } {
  const admin = postgres(opts.url, { max: 2, onnotice: () => {}, backoff: reconnectBackoff, connect_timeout: 5, connection: { application_name: 'switchyard-stores' } });
  const target = new URL(opts.url);
  const host = opts.publicHost ?? target.host;

  const exists = {
    role: async (n: string) => (await admin`select 1 from pg_roles where rolname = ${n}`).length > 0,
    db: async (n: string) => (await admin`select 1 from pg_database where datname = ${n}`).length > 0,
  };

  return {
    name: 'postgres',

    async provision(input: StoreInput) {
      const name = ident(input.storeId);
      const limit = STORE_CONNECTION_LIMITS[input.plan];
      const dbPassword = randomToken(32);
      const verifier = await scramSha256Verifier(dbPassword);
      if (await exists.role(name)) {
        await admin.unsafe(`alter role "${name}" with login password '${verifier}' connection limit ${limit}`);
      } else {
        await admin.unsafe(`create role "${name}" with login password '${verifier}' connection limit ${limit}`)
          .catch((e) => (e.code === '42710' ? admin.unsafe(`alter role "${name}" with login password '${verifier}'`) : Promise.reject(e)));
      }
      if (!(await exists.db(name))) {
        await createDatabase(admin, name, { owner: name, connectionLimit: limit });
      }
      await admin.unsafe(`revoke connect, temporary on database "${name}" from public`);
      await admin.unsafe(`grant connect on database "${name}" to "${name}"`);

      // The template, applied inside the new database as its owner's schema.
      const storeUrl = new URL(opts.url);
      storeUrl.pathname = `/${name}`;
      const store = postgres(storeUrl.toString(), { max: 1, onnotice: () => {}, connection: { application_name: 'switchyard-stores' } });
      const adminEmail = `admin@${input.name}.store`;
      const adminPassword = randomToken(24);
      try {
        await store.begin(async (tx) => {
          await tx.unsafe(`set local role "${name}"`);
          await tx.unsafe(STORE_TEMPLATES[input.engine]);
          await tx`insert into admin_users (email, password_hash) values (${adminEmail}, ${await hashPassword(adminPassword)})
                   on conflict (email) do update set password_hash = excluded.password_hash`;
        });
      } finally {
        await store.end({ timeout: 2 });
      }

      const databaseUrl = new URL(`postgres://${host}/${name}`);
      databaseUrl.username = name;
      databaseUrl.password = dbPassword;
      return {
        type: 'ready' as const,
        providerRef: name,
        urls: { storefront: null, admin: null },
        details: { database: name, host, engine: input.engine, connection_limit: limit },
        credentials: { admin_email: adminEmail, admin_password: adminPassword, database_url: databaseUrl.toString() },
      };
    },

    async teardown(input: StoreInput, providerRef: string | null) {
      const name = ident(providerRef ?? input.storeId);
      await admin`select pg_terminate_backend(pid) from pg_stat_activity where datname = ${name} and pid <> pg_backend_pid()`;
      await admin.unsafe(`drop database if exists "${name}" with (force)`);
      await admin.unsafe(`drop role if exists "${name}"`);
      return { type: 'gone' as const };
    },

    close: () => admin.end({ timeout: 5 }),
  };
}
