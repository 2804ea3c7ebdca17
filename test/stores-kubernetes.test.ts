/**
 * Stores on the `kubernetes` runtime, end to end: the HTTP API, jobs, the local runner and the
 * runtime, with @kubernetes/client-node pointed at the contract fake API server by KUBECONFIG.
 * Happy path to `ready` over SSE and back to `deleted`; 20 stores at once; the deadline failing a
 * store with the cluster's reason, and the failed store cleaned up by delete.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { namespaceFor } from '../workers/providers/store/manifests.ts';
import { FakeKubernetes } from './fakes/kubernetes.ts';
import { openSse } from './helpers/sse.ts';
import { createTenant, startTestSystem, waitFor, type Api, type TestSystem } from './helpers/system.ts';

const BROKEN_IMAGE = 'registry.example.test/medusa:does-not-exist';

const storeOf = async (api: Api, id: string) => (await api('GET', `/v1/stores/${id}`)).body.store;

describe('stores on the kubernetes runtime', () => {
  let fake: FakeKubernetes;
  let sys: TestSystem;
  beforeAll(async () => {
    fake = await new FakeKubernetes({ readyAfterPolls: 2, terminatingPolls: 3 }).start();
    sys = await startTestSystem({
      KUBECONFIG: await fake.writeKubeconfig(),
      SWITCHYARD_STORE_POLL_MS: '50',
      SWITCHYARD_STORE_BASE_DOMAIN: 'shops.example.test',
      SWITCHYARD_STORE_CREATES_PER_MIN: '100',
      SWITCHYARD_STORE_CAP_PRO: '50',
      SWITCHYARD_WORKER_CONCURRENCY: '8',
    });
  });
  afterAll(async () => {
    await sys?.stop();
    await fake?.stop();
  });

  it('provisions a store into its own namespace, streams it to ready, and tears it down', async () => {
    const { key, tenantId, api } = await createTenant(sys, 'k8s-shopper');
    const created = await api('POST', '/v1/stores', { body: { name: 'k8s-shop', engine: 'woocommerce', runtime: 'kubernetes' } });
    expect(created.status, JSON.stringify(created.body)).toBe(202);
    expect(created.body.store).toMatchObject({ runtime: 'kubernetes', status: 'provisioning' });
    const id: string = created.body.store.id;
    const ns = namespaceFor({ name: 'k8s-shop', storeId: id });

    const stream = openSse(`${sys.url}/v1/events?topic=store:${id}&last_event_id=0`, { Authorization: `Bearer ${key}` });
    await stream.ready;
    await stream.waitFor((e) => e.event === 'status' && e.data.resource.status === 'ready', 20_000);
    stream.close();

    const host = `k8s-shop-${id.slice(-8)}.shops.example.test`;
    const store = await storeOf(api, id);
    expect(store).toMatchObject({
      status: 'ready',
      urls: { storefront: `https://${host}/`, admin: `https://${host}/wp-admin/` },
      runtime_details: { namespace: ns, host, replicas: 2, rollout: 'ready' },
      credentials_available: true,
      last_error: null,
    });
    expect(fake.get('v1', 'Namespace', ns)!.metadata.labels).toMatchObject({ 'switchyard.dev/tenant': tenantId, 'switchyard.dev/store': id });

    // The credentials shown once are the Secret's, which is the only place they live in the cluster.
    const creds = await api('GET', `/v1/stores/${id}/credentials`);
    expect(creds.status).toBe(200);
    const data = fake.get('v1', 'Secret', 'store-credentials', ns)!.data as Record<string, string>;
    expect(creds.body.admin_password).toBe(Buffer.from(data['admin-password']!, 'base64').toString());
    expect((await api('GET', `/v1/stores/${id}/credentials`)).status).toBe(410);

    // The timeline shows the continuation steps with what they waited for.
    const timeline = (await api('GET', `/v1/stores/${id}/events`)).body.data as Array<{ type: string; data: { note?: string } }>;
    expect(timeline[0]!.type).toBe('created');
    expect(timeline.at(-1)!.type).toBe('succeeded');
    expect(timeline.filter((e) => e.type === 'progress').map((e) => (e.data as { message?: string }).message)).toContainEqual(expect.stringContaining('waiting for the rollout'));

    const del = await api('DELETE', `/v1/stores/${id}`);
    expect(del.status).toBe(202);
    await waitFor(async () => (await storeOf(api, id)).status === 'deleted', 20_000, 'store deleted');
    expect(fake.namespaces()).not.toContain(ns);
    expect(fake.snapshot(ns)).toEqual({});
  });

  it('provisions 20 stores at once, in parallel, each in its own namespace', async () => {
    const { tenantId, api } = await createTenant(sys, 'k8s-fleet');
    fake.maxNamespacesInFlight = 0;
    const results = await Promise.all(Array.from({ length: 20 }, (_, i) =>
      api('POST', '/v1/stores', { body: { name: `fleet-${i}`, engine: i % 2 ? 'medusa' : 'woocommerce', runtime: 'kubernetes' } })));
    expect(results.map((r) => r.status)).toEqual(Array(20).fill(202));
    const ids = results.map((r) => r.body.store.id as string);

    await waitFor(async () => {
      const rows = await sys.db.sql<{ status: string }[]>`select status from stores where tenant_id = ${tenantId}`;
      return rows.length === 20 && rows.every((r) => r.status === 'ready');
    }, 60_000, '20 stores ready');

    const namespaces = ids.map((id, i) => namespaceFor({ name: `fleet-${i}`, storeId: id }));
    expect(new Set(namespaces).size).toBe(20);
    for (const [i, ns] of namespaces.entries()) {
      expect(fake.get('v1', 'Namespace', ns)!.metadata.labels!['switchyard.dev/store']).toBe(ids[i]);
      expect(fake.get('v1', 'ResourceQuota', 'store-quota', ns)).toBeTruthy();
    }
    // No global lock: the cluster saw several stores' requests in flight at the same moment.
    expect(fake.maxNamespacesInFlight).toBeGreaterThanOrEqual(3);
  });
});

describe('a kubernetes store that cannot start', () => {
  let fake: FakeKubernetes;
  let sys: TestSystem;
  beforeAll(async () => {
    fake = await new FakeKubernetes({ readyAfterPolls: 2, terminatingPolls: 2, failingImages: [BROKEN_IMAGE] }).start();
    sys = await startTestSystem({
      KUBECONFIG: await fake.writeKubeconfig(),
      SWITCHYARD_STORE_POLL_MS: '100',
      SWITCHYARD_STORE_DEADLINE_MS: '1500',
      SWITCHYARD_STORE_IMAGE_MEDUSA: BROKEN_IMAGE,
    });
  });
  afterAll(async () => {
    await sys?.stop();
    await fake?.stop();
  });

  it('fails at the provisioning deadline with the reason from the cluster, and can then be deleted', async () => {
    const { api } = await createTenant(sys, 'unlucky');
    const created = await api('POST', '/v1/stores', { body: { name: 'pull-fail', engine: 'medusa', runtime: 'kubernetes' } });
    expect(created.status).toBe(202);
    const id: string = created.body.store.id;
    const failed = await waitFor(async () => {
      const s = await storeOf(api, id);
      return s.status === 'failed' ? s : null;
    }, 20_000, 'store failed');
    expect(failed.last_error).toMatch(/deadline/);
    expect(failed.last_error).toContain('ImagePullBackOff');
    expect(failed.last_error).toContain(BROKEN_IMAGE);
    expect(failed.runtime_details).toMatchObject({ reason: expect.stringContaining('ImagePullBackOff') });
    const job = (await api('GET', `/v1/jobs/${created.body.job.id}`)).body.job;
    expect(job.status).toBe('dead');

    // Whatever it left in the cluster goes with a delete.
    const ns = namespaceFor({ name: 'pull-fail', storeId: id });
    expect(fake.namespaces()).toContain(ns);
    expect((await api('DELETE', `/v1/stores/${id}`)).status).toBe(202);
    await waitFor(async () => (await storeOf(api, id)).status === 'deleted', 20_000, 'failed store deleted');
    expect(fake.namespaces()).not.toContain(ns);
  });
});
