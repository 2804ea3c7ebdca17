// Creates without an Idempotency-Key share statements under load (functions/lib/batch.ts). These
// tests race many at once against the real API and check that each request still gets exactly its
// own outcome: its project and job, committed together, or its own error with nothing written.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import postgres from 'postgres';
import { createBatcher } from '../functions/lib/batch.ts';
import { writeSubjectsWithJobs } from '../db/jobs.repo.ts';
import { insertProjectsQuery, type NewProject, type Project } from '../db/projects.repo.ts';
import { newId } from '../core/ids.ts';
import { createTenant, one, startTestSystem, type Api, type TestSystem } from './helpers/system.ts';

let sys: TestSystem;
let sql: postgres.Sql;
let api: Api;
let tenantId: string;
beforeAll(async () => {
  // API only: the jobs stay queued, as the requests left them.
  sys = await startTestSystem({ SWITCHYARD_ROLE: 'api' });
  sql = sys.db.sql;
  ({ api, tenantId } = await createTenant(sys, 'batches'));
});
afterAll(async () => {
  await sys?.stop();
});

const race = (n: number, body: (i: number) => object) =>
  Promise.all(Array.from({ length: n }, (_, i) => api('POST', '/v1/projects', { body: body(i) })));

describe('concurrent creates without an Idempotency-Key', () => {
  it('share statements, and each request gets its own project and job, committed together', async () => {
    const responses = await race(60, (i) => ({ name: `Crowd ${i}` }));
    expect(responses.map((r) => r.status)).toEqual(Array(60).fill(202));
    responses.forEach((r, i) => {
      expect(r.body.project.name).toBe(`Crowd ${i}`);
      expect(r.body.job.subject).toEqual({ type: 'project', id: r.body.project.id });
      expect(r.headers.get('location')).toBe(`/v1/projects/${r.body.project.id}`);
    });
    const ids = responses.map((r) => r.body.project.id as string);
    expect(new Set(ids).size).toBe(60);

    const rows = await sql<{ id: string; ptx: string; jtx: string; jobId: string; status: string; created: number; events: number }[]>`
      select p.id, p.xmin::text as ptx, j.xmin::text as jtx, j.id as job_id, j.status,
             (select count(*)::int from job_events e where e.job_id = j.id and e.type = 'created') as created,
             (select count(*)::int from realtime_events r where r.topics && array['project:' || p.id, 'job:' || j.id]) as events
        from projects p join jobs j on j.subject_type = 'project' and j.subject_id = p.id
       where p.id = any(${ids})`;
    expect(rows).toHaveLength(60);
    for (const r of rows) {
      expect(r.jtx).toBe(r.ptx); // the project and its job in one transaction
      expect(r.status).toBe('queued');
      expect(r.created).toBe(1);
      expect(r.events).toBe(2); // the project's status event and the job's
      expect(responses.find((x) => x.body.project.id === r.id)!.body.job.id).toBe(r.jobId);
    }
    // Fewer transactions than requests: some statements carried several creates.
    expect(new Set(rows.map((r) => r.ptx)).size).toBeLessThan(60);
  });

  it('give a chosen slug to one request only; the others get 409 and write nothing', async () => {
    const responses = await race(12, (i) => ({ name: `Contender ${i}`, slug: 'contested' }));
    const statuses = responses.map((r) => r.status).sort();
    expect(statuses).toEqual([202, ...Array(11).fill(409)]);
    for (const r of responses.filter((x) => x.status === 409)) {
      expect(r.headers.get('content-type')).toContain('problem+json');
      expect(r.body.errors).toEqual([{ field: 'slug', message: 'already in use' }]);
    }
    const winner = responses.find((r) => r.status === 202)!.body.project;
    const { n } = await one(sql`select count(*)::int as n from projects where tenant_id = ${tenantId} and slug = 'contested'`);
    expect(n).toBe(1);
    const jobs = await sql`select subject_id from jobs j join projects p on p.id = j.subject_id where p.name like 'Contender %'`;
    expect(jobs.map((j) => j.subjectId)).toEqual([winner.id]);
  });

  it('give every request a slug of its own when they derive the same one from one name', async () => {
    const responses = await race(12, () => ({ name: 'Twin Name' }));
    expect(responses.map((r) => r.status)).toEqual(Array(12).fill(202));
    const slugs = responses.map((r) => r.body.project.slug as string);
    expect(new Set(slugs).size).toBe(12);
    expect(slugs.filter((s) => s === 'twin-name')).toHaveLength(1);
    for (const s of slugs) expect(s).toMatch(/^twin-name(-[a-z0-9]{6})?$/);
  });

  it('fail only the request whose text Postgres refuses; the rest of its statement is created', async () => {
    const { before } = await one(sql`select count(*)::int as before from projects where tenant_id = ${tenantId}`);
    const responses = await race(10, (i) => ({ name: i === 4 ? 'Nul \u0000 byte' : `Neighbour ${i}` }));
    expect(responses.map((r) => r.status)).toEqual([202, 202, 202, 202, 400, 202, 202, 202, 202, 202]);
    expect(responses[4]!.headers.get('content-type')).toContain('problem+json');
    expect(responses[4]!.body.detail).toContain('U+0000');
    const { after } = await one(sql`select count(*)::int as after from projects where tenant_id = ${tenantId}`);
    expect(after).toBe(before + 9);
    const { orphans } = await one(sql`
      select count(*)::int as orphans from jobs j where j.tenant_id = ${tenantId} and j.subject_type = 'project'
         and not exists (select 1 from projects p where p.id = j.subject_id)`);
    expect(orphans).toBe(0);
  });
});

describe('a shared statement that fails', () => {
  it('is retried one create at a time, so only the bad one fails', async () => {
    // A tenant that does not exist breaks the foreign key: the whole statement fails.
    const statements: number[] = [];
    const creates = createBatcher<{ project: NewProject; job: { id: string; subjectId: string; kind: string; payload: object; maxAttempts: number } }, string | null>({
      maxInFlight: 1,
      async run(items) {
        statements.push(items.length);
        const written = await writeSubjectsWithJobs<Project>(sql, 'project', insertProjectsQuery(sql, items.map((i) => i.project)), items.map((i) => i.job));
        return items.map((i) => written.get(i.project.id)?.job.id ?? null);
      },
    });
    const item = (tenant: string, n: number) => {
      const id = newId('prj');
      return {
        project: { id, tenantId: tenant, name: `Direct ${n}`, slug: `direct-${n}`, plan: 'free', region: 'local', provider: 'postgres' },
        job: { id: newId('job'), subjectId: id, kind: 'project.provision', payload: { project_id: id }, maxAttempts: 3 },
      };
    };
    const items = [item(tenantId, 1), item(tenantId, 2), item('ten_missing', 3), item(tenantId, 4)];
    const out = await Promise.allSettled(items.map((i) => creates.submit(i)));
    expect(out.map((o) => o.status)).toEqual(['fulfilled', 'fulfilled', 'rejected', 'fulfilled']);
    expect((out[2] as PromiseRejectedResult).reason.code).toBe('23503');
    expect(out.filter((o) => o.status === 'fulfilled').map((o) => (o as PromiseFulfilledResult<string>).value))
      .toEqual([items[0]!.job.id, items[1]!.job.id, items[3]!.job.id]);
    expect(statements).toEqual([4, 1, 1, 1, 1]);
    const rows = await sql`select id from projects where name like 'Direct %' order by name`;
    expect(rows.map((r) => r.id)).toEqual([items[0]!.project.id, items[1]!.project.id, items[3]!.project.id]);
  });
});
