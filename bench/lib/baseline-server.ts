/**
 * The intent-path baseline: the least a Hono + postgres.js service can do for a create — parse
 * JSON, one INSERT … RETURNING, answer 201. Run as its own process, like the real server.
 */
import { serve } from '@hono/node-server';
import { Hono } from 'hono';
import postgres from 'postgres';

const sql = postgres(process.env.DATABASE_URL!, { max: 10, onnotice: () => {} });
await sql`create table if not exists bench_items (id text primary key, name text not null, created_at timestamptz not null default now())`;
const app = new Hono();
app.post('/items', async (c) => {
  const body = await c.req.json<{ name: string }>();
  const [row] = await sql`insert into bench_items (id, name) values (${crypto.randomUUID()}, ${body.name}) returning *`;
  return c.json(row, 201);
});
serve({ fetch: app.fetch, hostname: '127.0.0.1', port: Number(process.env.PORT) }, () => console.log('ready'));
process.on('SIGTERM', () => process.exit(0));
