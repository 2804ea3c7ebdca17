/**
 * `npm run migrate`: for deployments where no Node process starts first (Cloudflare Workers,
 * Supabase Edge Functions). Applies supabase/migrations to DATABASE_URL and, on the first run,
 * creates the operator tenant and prints its admin key once (also saved to
 * $SWITCHYARD_DATA_DIR/admin-key, mode 0600). Safe to run again and from CI: it takes the same
 * advisory lock as every Node start.
 */
import { createDb } from '../../db/client.ts';
import { ConfigError, parseConfig } from '../../core/env.ts';
import { migrate } from './migrate.ts';
import { bootstrapOperator } from './server.ts';
import { resolve } from 'node:path';

let config;
try {
  config = parseConfig(process.env);
} catch (err) {
  console.error(err instanceof ConfigError ? `migrate: ${err.message}` : err);
  process.exit(2);
}
if (!config.DATABASE_URL) {
  console.error('migrate: set DATABASE_URL (the direct connection, not a transaction pooler)');
  process.exit(2);
}

const db = createDb(config.DATABASE_URL, { max: 1 });
try {
  const applied = await migrate(db.sql);
  console.log(applied.length ? `applied ${applied.join(', ')}` : 'migrations: up to date');
  const dataDir = resolve(config.SWITCHYARD_DATA_DIR);
  const op = await bootstrapOperator(db, dataDir);
  if (op.created && op.key) {
    console.log(`\noperator admin key (shown once; saved to ${resolve(dataDir, 'admin-key')}):\n\n  ${op.key}\n`);
  }
} catch (err) {
  console.error(`migrate: ${(err as Error).message}`);
  process.exitCode = 1;
} finally {
  await db.close();
}
