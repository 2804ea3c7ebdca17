import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import postgres from 'postgres';
import { one, startTestSystem, type TestSystem } from './helpers/system.ts';

let sys: TestSystem;
let sql: postgres.Sql;
beforeAll(async () => {
  sys = await startTestSystem();
  sql = sys.db.sql;
});
afterAll(async () => {
  await sys?.stop();
});

describe('Idempotency-Key', () => {
  it('makes one project from 20 concurrent creates with the same key', async () => {
    const body = { name: 'Once only', slug: 'once-only' };
    const responses = await Promise.all(
      Array.from({ length: 20 }, () => sys.api('POST', '/v1/projects', { body, headers: { 'Idempotency-Key': 'race-1' } })),
    );
    const statuses = responses.map((r) => r.status);
    // Each response is the created project (first or replayed) or "still in flight" (409): never a second project.
    expect(statuses.every((s) => s === 202 || s === 409)).toBe(true);
    const accepted = responses.filter((r) => r.status === 202);
    expect(accepted.length).toBeGreaterThanOrEqual(1);
    const ids = new Set(accepted.map((r) => r.body.project.id));
    expect(ids.size).toBe(1);
    expect(accepted.filter((r) => r.headers.get('idempotent-replayed') !== 'true')).toHaveLength(1);
    for (const r of responses.filter((r) => r.status === 409)) {
      expect(r.headers.get('content-type')).toContain('problem+json');
    }
    const { n } = await one(sql`select count(*)::int as n from projects where slug = 'once-only'`);
    expect(n).toBe(1);
    const { j } = await one(sql`select count(*)::int as j from jobs where subject_id = ${[...ids][0]!}`);
    expect(j).toBe(1);

    // After the race, the key replays the original response exactly.
    const replay = await sys.api('POST', '/v1/projects', { body, headers: { 'Idempotency-Key': 'race-1' } });
    expect(replay.status).toBe(202);
    expect(replay.headers.get('idempotent-replayed')).toBe('true');
    expect(replay.headers.get('location')).toBe(`/v1/projects/${[...ids][0]}`);
    expect(replay.body).toEqual(accepted.find((r) => r.headers.get('idempotent-replayed') !== 'true')!.body);
  });

  it('keeps other creates of a shared batch when one key repeats in it (derived slugs)', async () => {
    // Creates that arrive together share one statement; a key repeated inside it fails that
    // statement, and each create must still get its own answer.
    const dup = Array.from({ length: 10 }, () => sys.api('POST', '/v1/projects', { body: { name: 'Dup batch' }, headers: { 'Idempotency-Key': 'dup-batch' } }));
    const distinct = Array.from({ length: 10 }, (_, i) => sys.api('POST', '/v1/projects', { body: { name: `Own batch ${i}` }, headers: { 'Idempotency-Key': `own-batch-${i}` } }));
    const [d, o] = [await Promise.all(dup), await Promise.all(distinct)];
    expect(o.map((r) => r.status)).toEqual(Array(10).fill(202));
    expect(new Set(o.map((r) => r.body.project.id)).size).toBe(10);
    expect(d.every((r) => r.status === 202 || r.status === 409)).toBe(true);
    expect(new Set(d.filter((r) => r.status === 202).map((r) => r.body.project.id)).size).toBe(1);
    const { n } = await one(sql`select count(*)::int as n from projects where name = 'Dup batch'`);
    expect(n).toBe(1);
    const { k } = await one(sql`select count(*)::int as k from idempotency_keys where key like 'own-batch-%' or key = 'dup-batch'`);
    expect(k).toBe(11);
  });

  it('answers 422 for the same key with a different body, and writes nothing', async () => {
    const first = await sys.api('POST', '/v1/projects', { body: { name: 'Key A' }, headers: { 'Idempotency-Key': 'k-422' } });
    expect(first.status).toBe(202);
    const { before } = await one(sql`select count(*)::int as before from projects`);
    const second = await sys.api('POST', '/v1/projects', { body: { name: 'Key B' }, headers: { 'Idempotency-Key': 'k-422' } });
    expect(second.status).toBe(422);
    expect(second.body.title).toBe('Unprocessable request');
    const { after } = await one(sql`select count(*)::int as after from projects`);
    expect(after).toBe(before);
  });

  it('keys are per tenant: another tenant may use the same key', async () => {
    const t = await sys.api('POST', '/v1/tenants', { body: { name: 'other' } });
    const other = t.body.api_key.secret;
    const a = await sys.api('POST', '/v1/projects', { body: { name: 'Shared key' }, headers: { 'Idempotency-Key': 'shared' } });
    const b = await sys.api('POST', '/v1/projects', { key: other, body: { name: 'Shared key' }, headers: { 'Idempotency-Key': 'shared' } });
    expect(a.status).toBe(202);
    expect(b.status).toBe(202);
    expect(b.headers.get('idempotent-replayed')).toBeNull();
    expect(b.body.project.id).not.toBe(a.body.project.id);
  });

  it('does not store a key when the request failed, so a corrected retry can use it', async () => {
    await sys.api('POST', '/v1/projects', { body: { name: 'Taken', slug: 'taken-slug' } });
    const clash = await sys.api('POST', '/v1/projects', { body: { name: 'Taken', slug: 'taken-slug' }, headers: { 'Idempotency-Key': 'after-409' } });
    expect(clash.status).toBe(409);
    expect(clash.body.errors).toEqual([{ field: 'slug', message: 'already in use' }]);
    const { n } = await one(sql`select count(*)::int as n from idempotency_keys where key = 'after-409'`);
    expect(n).toBe(0);
  });
});
