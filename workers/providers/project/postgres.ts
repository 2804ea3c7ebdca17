/**
 * The `postgres` project provisioner: one database and one login role per project on a data-plane
 * server. Identifiers derive from the project id (already lowercase and [0-9a-z_]), so every step
 * can find what an earlier, interrupted attempt created.
 *
 *   provision: role (SCRAM verifier, connection limit by plan) + database owned by it,
 *              CONNECT revoked from PUBLIC
 *   suspend:   database refuses connections, role NOLOGIN, live sessions terminated
 *   resume:    the reverse
 *   remove:    database dropped (FORCE), role dropped
 *
 * Every call finishes in one step (the port's `ready`): DDL on one server takes milliseconds.
 *
 * DDL can't take bind parameters, so identifiers are checked against a strict pattern and quoted.
 */
import postgres from 'postgres';
import { reconnectBackoff } from '../../../db/client.ts';
import { randomToken, scramSha256Verifier } from '../../../core/crypto.ts';
import { PermanentError } from '../../step.ts';
import { redactText } from '../../../core/log.ts';
import { createDatabase } from '../postgres-ddl.ts';
import { ready, type ProjectHandle, type ProjectProvider, type ProjectStep, type ProvisionInput, type Provisioned } from './provisioner.ts';

export const CONNECTION_LIMITS = { free: 5, pro: 20, enterprise: 60 } as const;

const IDENT = /^prj_[0-9a-z]{26}$/;

/** The database and role are named after the project, so a handle without a ref still finds them. */
const refOf = (h: ProjectHandle) => h.providerRef ?? h.projectId;

function ident(projectId: string): string {
  if (!IDENT.test(projectId)) throw new PermanentError(`invalid project id for provisioning: ${projectId}`);
  return projectId;
}

export interface PostgresProvisionerOptions {
  /** Superuser (or CREATEROLE + CREATEDB) URL of the data-plane server. */
  url: string;
  /** Host and port clients should use, when they differ from `url`'s. */
  publicHost?: string;
}

export function createPostgresProvisioner(opts: PostgresProvisionerOptions): ProjectProvider & { close(): Promise<void> } {
  const admin = postgres(opts.url, { max: 2, onnotice: () => {}, backoff: reconnectBackoff, connect_timeout: 5, connection: { application_name: 'switchyard-provisioner' } });
  const target = new URL(opts.url);
  const host = opts.publicHost ?? target.host;

  async function roleExists(name: string) {
    return (await admin`select 1 from pg_roles where rolname = ${name}`).length > 0;
  }
  async function databaseExists(name: string) {
    return (await admin`select 1 from pg_database where datname = ${name}`).length > 0;
  }
  async function terminateSessions(db: string) {
    await admin`select pg_terminate_backend(pid) from pg_stat_activity where datname = ${db} and pid <> pg_backend_pid()`;
  }

  return {
    name: 'postgres',

    async provision(input: ProvisionInput): Promise<ProjectStep<Provisioned>> {
      const name = ident(input.projectId);
      const limit = CONNECTION_LIMITS[input.plan];
      // A fresh password on every attempt: an interrupted attempt's password was never stored,
      // so setting a new one is how a retry converges.
      const password = randomToken(32);
      const verifier = await scramSha256Verifier(password);
      if (await roleExists(name)) {
        await admin.unsafe(`alter role "${name}" with login password '${verifier}' connection limit ${limit}`);
      } else {
        await admin.unsafe(`create role "${name}" with login password '${verifier}' connection limit ${limit}`)
          .catch((e) => (e.code === '42710' ? admin.unsafe(`alter role "${name}" with login password '${verifier}'`) : Promise.reject(e)));
      }
      if (!(await databaseExists(name))) {
        await createDatabase(admin, name, { owner: name, connectionLimit: limit });
      }
      await admin.unsafe(`alter database "${name}" with allow_connections true connection limit ${limit}`);
      await admin.unsafe(`revoke connect, temporary on database "${name}" from public`);
      await admin.unsafe(`grant connect on database "${name}" to "${name}"`);
      const url = new URL(`postgres://${host}/${name}`);
      url.username = name;
      url.password = password;
      return ready({ providerRef: name, credentials: { connection_string: url.toString() }, apiUrl: null, details: {} });
    },

    async suspend(handle) {
      // Defence in depth (the task never calls this for one): an imported database is not ours to change.
      if (handle.details.imported) throw new PermanentError('an imported Postgres database is not managed by this provider');
      const name = ident(refOf(handle));
      if (await databaseExists(name)) await admin.unsafe(`alter database "${name}" with allow_connections false`);
      if (await roleExists(name)) await admin.unsafe(`alter role "${name}" nologin`);
      await terminateSessions(name);
      return ready(undefined);
    },

    async resume(handle) {
      // Defence in depth (the task never calls this for one): an imported database is not ours to change.
      if (handle.details.imported) throw new PermanentError('an imported Postgres database is not managed by this provider');
      const name = ident(refOf(handle));
      if (!(await databaseExists(name))) throw new PermanentError(`database ${name} no longer exists`);
      await admin.unsafe(`alter role "${name}" login`);
      await admin.unsafe(`alter database "${name}" with allow_connections true`);
      return ready(undefined);
    },

    async remove(handle) {
      // Defence in depth (the task never calls this for one): an imported database is not ours to change.
      if (handle.details.imported) throw new PermanentError('an imported Postgres database is not managed by this provider');
      const name = ident(refOf(handle));
      await terminateSessions(name);
      await admin.unsafe(`drop database if exists "${name}" with (force)`);
      await admin.unsafe(`drop role if exists "${name}"`);
      return ready(undefined);
    },

    // The database answering its own role, over the project's own credentials.
    async health(_handle, { credentials }) {
      if (!credentials?.connection_string) return { status: 'unknown', services: [], error: 'the project has no credentials' };
      const client = postgres(credentials.connection_string, { max: 1, connect_timeout: 5, idle_timeout: 1, onnotice: () => {}, connection: { application_name: 'switchyard-health' } });
      try {
        await client`select 1`;
        return { status: 'healthy', services: [{ name: 'db', status: 'healthy' }] };
      } catch (err) {
        const error = redactText((err as Error).message);
        return { status: 'unhealthy', services: [{ name: 'db', status: 'unhealthy', error }], error };
      } finally {
        await client.end({ timeout: 1 }).catch(() => {});
      }
    },

    close: () => admin.end({ timeout: 5 }),
  };
}
