/**
 * The pool's query timing (db/client.ts): every query sent is observed once, by command, when it
 * settles; a fragment that is never sent is not; failures are counted by SQLSTATE class, once
 * even when a transaction fails with them; nothing stays in flight.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createDb, type Db } from '../db/client.ts';
import type { Metrics } from '../core/metrics.ts';
import { createTestDatabase } from './helpers/system.ts';

const seen: Array<[string, string, Record<string, string>, number]> = [];
const gauges = new Map<string, number>();
const recording: Metrics = {
  inc: (name, labels, by = 1) => void seen.push(['inc', name, labels as Record<string, string>, by]),
  observe: (name, labels, v) => void seen.push(['observe', name, labels as Record<string, string>, v]),
  add: (name, _labels, d) => void gauges.set(name, (gauges.get(name) ?? 0) + d),
  set: (name, _labels, v) => void gauges.set(name, v),
};

let db: Db;
beforeAll(async () => {
  db = createDb(await createTestDatabase(), { max: 2, metrics: recording });
});
afterAll(async () => {
  await db?.close();
});

const observed = (operation: string) => seen.filter(([t, n, l]) => t === 'observe' && n === 'db_query_duration_seconds' && l.operation === operation).length;
const errors = (cls: string) => seen.filter(([t, n, l]) => t === 'inc' && n === 'db_query_errors_total' && l.sqlstate_class === cls).reduce((a, s) => a + s[3], 0);

describe('query timing', () => {
  it('observes each query sent once, fragments never, failures by class once, and leaves nothing in flight', async () => {
    seen.length = 0;
    const where = db.sql`where x > ${0}`;
    const rows = await db.sql`select x from (values (1), (2)) v(x) ${where}`;
    expect(rows).toHaveLength(2);
    await Promise.all([1, 2, 3, 4, 5].map((i) => db.sql`select ${i}::int as i`)); // more than the pool: some wait
    await db.sql.unsafe('update pg_settings set setting = setting where false');
    await expect(db.sql`select 1 / 0`).rejects.toMatchObject({ code: '22012' });
    await expect(db.sql.begin(async (tx) => {
      await tx`select 1`;
      await tx`insert into no_such_table values (1)`;
    })).rejects.toMatchObject({ code: '42P01' });
    expect(observed('select')).toBe(1 + 5 + 1 + 1);
    expect(observed('update')).toBe(1);
    expect(observed('insert')).toBe(1);
    expect(observed('transaction')).toBe(1);
    expect(errors('22')).toBe(1);
    expect(errors('42')).toBe(1);
    expect(gauges.get('db_queries_in_flight')).toBe(0);
    expect(gauges.get('db_pool_waiting')).toBe(0);
    // A query awaited twice is still one query.
    seen.length = 0;
    const q = db.sql`select 1`;
    await q;
    await q;
    expect(observed('select')).toBe(1);
  });
});
