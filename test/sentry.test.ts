/**
 * Errors to Sentry, through the real @sentry/node client and its HTTP transport, into a contract
 * fake of Sentry's envelope endpoint: a 500 and a dead job each arrive once, tagged with what
 * identifies them, and no secret the test planted (in the request, its body, its key, the job's
 * error) is in any byte that was sent.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { z } from 'zod';
import { insertJob } from '../db/jobs.repo.ts';
import { newId } from '../core/ids.ts';
import { defineTask } from '../workers/registry.ts';
import { startSentryFake, type SentryFake } from './fakes/sentry.ts';
import { serverUrl, startTestSystem, waitFor, type TestSystem } from './helpers/system.ts';

const PLANTED = ['PLANTED_PW_91', 'sk_live_PLANTEDKEY123456', 'whsec_PLANTEDSECRET0123456789==', 'alice.planted@example.com'];
const failing = defineTask({
  kind: 'test.provider_refuses',
  payload: z.object({}),
  async run() {
    throw new Error(`the provider refused alice.planted@example.com on postgres://admin:${PLANTED[0]}@db.internal/x with ${PLANTED[1]} and ${PLANTED[2]}`);
  },
});

let fake: SentryFake;
let sys: TestSystem;
beforeAll(async () => {
  fake = await startSentryFake();
  sys = await startTestSystem({ SENTRY_DSN: fake.dsn, SWITCHYARD_RELEASE: 'switchyard@test-release', SENTRY_ENVIRONMENT: 'ci' }, { extraTasks: [failing] });
});
afterAll(async () => {
  await sys?.stop();
  await fake?.close();
});

const tagged = (key: string, value: string) => fake.events().filter((e) => e.tags?.[key] === value);

describe('errors to Sentry', () => {
  it('sends a 500 once, with its request id, route, tenant and release, and nothing the request carried', async () => {
    // A real 500: the table the handler writes to has lost a column.
    await sys.db.sql`alter table projects rename column name to name_gone`;
    try {
      const res = await sys.api('POST', '/v1/projects', {
        body: { name: `owner ${PLANTED[3]} ${PLANTED[2]}` },
        headers: { 'X-Debug': `Bearer ${PLANTED[1]}`, Cookie: `session=${PLANTED[0]}` },
      });
      expect(res.status).toBe(500);
      const requestId = res.body.request_id as string;
      const [event] = await waitFor(async () => {
        const hits = tagged('request_id', requestId);
        return hits.length ? hits : null;
      }, 10_000, 'the 500 to reach Sentry');
      const me = await sys.api('GET', '/v1/me');
      expect(event.tags).toMatchObject({ request_id: requestId, route: '/v1/projects', method: 'POST', tenant_id: me.body.tenant.id, status: '500' });
      expect(event.release).toBe('switchyard@test-release');
      expect(event.environment).toBe('ci');
      expect(event.level).toBe('error');
      expect(event.exception.values.at(-1).value).toMatch(/name/);
      expect(event.request).toBeUndefined();
      expect(event.user).toBeUndefined();
    } finally {
      await sys.db.sql`alter table projects rename column name_gone to name`;
    }
    // Once: another moment, still one.
    await new Promise((r) => setTimeout(r, 500));
    expect(fake.events().filter((e) => e.tags?.route === '/v1/projects')).toHaveLength(1);
  });

  it('sends a dead job once, grouped by kind, with its id, attempts and (scrubbed) last error', async () => {
    const [tenant] = await sys.db.sql<{ id: string }[]>`select id from tenants limit 1`;
    const tenantId = tenant!.id;
    const job = await insertJob(sys.db.sql, { id: newId('job'), tenantId, kind: 'test.provider_refuses', payload: {}, maxAttempts: 2 });
    await sys.runnerDeps.queue.dispatch([job]);
    const [event] = await waitFor(async () => {
      const hits = tagged('job_id', job.id);
      return hits.length ? hits : null;
    }, 20_000, 'the dead job to reach Sentry');
    expect(event.tags).toMatchObject({ job_id: job.id, kind: 'test.provider_refuses', tenant_id: tenantId });
    expect(event.extra).toMatchObject({ attempts: 2, max_attempts: 2 });
    expect(event.fingerprint).toEqual(['job-dead', 'test.provider_refuses']);
    expect(event.exception.values.at(-1).value).toMatch(/^job test\.provider_refuses is dead: the provider refused \[email\] on postgres:\/\/admin:\[redacted\]@db\.internal/);
    // Its retry was not an event; only the death is.
    await new Promise((r) => setTimeout(r, 500));
    expect(fake.events().filter((e) => e.tags?.kind === 'test.provider_refuses')).toHaveLength(1);
  });

  it('never sent a planted secret, the API key or the database URL, in any envelope', async () => {
    expect(fake.raw.length).toBeGreaterThanOrEqual(2);
    const everything = fake.raw.join('\n');
    for (const secret of [...PLANTED, sys.adminKey, serverUrl()]) {
      expect(everything).not.toContain(secret);
    }
    // The envelopes are what Sentry's SDK sends (its name and version in each header).
    expect(fake.envelopes[0]!.header.sdk?.name).toBe('sentry.javascript.node');
  });
});
