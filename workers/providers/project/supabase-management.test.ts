/** The Management API client against the contract fake: every call, the two error shapes, 429s and 404s. */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startSupabaseManagementFake, type FakeManagement } from '../../../test/fakes/supabase-management.ts';
import { waitFor } from '../../../test/helpers/system.ts';
import { ManagementApiError, ManagementRateLimited, createManagementClient } from './supabase-management.ts';

let fake: FakeManagement;
beforeAll(async () => {
  fake = await startSupabaseManagementFake({ comingUpMs: 30, pausingMs: 30, restoringMs: 30 });
});
afterAll(async () => {
  await fake?.close();
});

describe('the Management API client', () => {
  it('creates, reads, pauses, restores and deletes a project, with its health, keys and pooler', async () => {
    const api = createManagementClient({ token: fake.token, baseUrl: fake.url });
    const p = await api.createProject({ name: 'acme', organizationSlug: 'acme-org', dbPass: 'pw-0123456789abcdef', region: 'eu-central-1', instanceSize: 'micro' });
    expect(p).toMatchObject({ name: 'acme', region: 'eu-central-1', status: 'COMING_UP' });
    expect((await api.listProjects()).map((x) => x.ref)).toContain(p.ref);
    await waitFor(async () => (await api.getProject(p.ref))?.status === 'ACTIVE_HEALTHY', 5000, 'active');
    expect((await api.health(p.ref, ['db', 'rest'])).map((h) => h.status)).toEqual(['ACTIVE_HEALTHY', 'ACTIVE_HEALTHY']);
    expect((await api.apiKeys(p.ref, false)).find((k) => k.type === 'secret')?.api_key).toBeNull();
    expect((await api.apiKeys(p.ref, true)).find((k) => k.type === 'secret')?.api_key).toMatch(/^sb_secret_/);
    expect((await api.pooler(p.ref))[0]).toMatchObject({ db_port: 6543, pool_mode: 'transaction' });

    await api.pause(p.ref);
    // Restore while pausing: Supabase's message, from its {error: {message}} shape.
    const early = await api.restore(p.ref).catch((e: unknown) => e);
    expect(early).toBeInstanceOf(ManagementApiError);
    expect(early).toMatchObject({ status: 400, message: 'This project is no longer in a paused state, it is PAUSING' });
    await waitFor(async () => (await api.getProject(p.ref))?.status === 'INACTIVE', 5000, 'paused');
    await api.restore(p.ref);
    await waitFor(async () => (await api.getProject(p.ref))?.status === 'ACTIVE_HEALTHY', 5000, 'restored');

    await api.deleteProject(p.ref);
    expect(await api.getProject(p.ref)).toBeNull();
    await api.deleteProject(p.ref); // already gone: nothing to do
  });

  it('refuses a bad token, names Supabase\'s reason, and turns a 429 into the seconds to wait', async () => {
    await expect(createManagementClient({ token: 'sbp_wrong', baseUrl: fake.url }).listProjects()).rejects.toMatchObject({ status: 401 });
    const api = createManagementClient({ token: fake.token, baseUrl: fake.url });
    await expect(api.createProject({ name: 'x', organizationSlug: 'nope', dbPass: 'pw', region: 'us-east-1' })).rejects.toMatchObject({ status: 404, message: 'Organization not found' });
    await expect(api.getProject('NOT-A-REF')).rejects.toBeInstanceOf(ManagementApiError);

    const tight = await startSupabaseManagementFake({ rateLimitPerMinute: 1 });
    try {
      const limited = createManagementClient({ token: tight.token, baseUrl: tight.url });
      await limited.listProjects();
      const err = await limited.listProjects().catch((e: unknown) => e);
      expect(err).toBeInstanceOf(ManagementRateLimited);
      expect((err as ManagementRateLimited).resetS).toBeGreaterThan(0);
      expect((err as ManagementRateLimited).resetS).toBeLessThanOrEqual(60);
    } finally {
      await tight.close();
    }
  });

  it('refuses an answer that is not the documented shape', async () => {
    const api = createManagementClient({ token: 't', baseUrl: 'http://fake.invalid', fetch: (async () => new Response(JSON.stringify([{ ref: 'short' }]), { status: 200 })) as typeof fetch });
    await expect(api.listProjects()).rejects.toThrow(/not the documented shape/);
  });
});
