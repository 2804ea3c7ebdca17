import { defineConfig } from 'drizzle-kit';

// drizzle-kit writes straight into the one migration stream Supabase also reads.
// The `supabase` prefix names files <timestamp>_<name>.sql, the form `supabase db push` expects.
export default defineConfig({
  dialect: 'postgresql',
  schema: './db/schema.ts',
  out: './supabase/migrations',
  migrations: { prefix: 'supabase' },
});
