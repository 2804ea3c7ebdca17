/**
 * The `kubernetes` store runtime against the contract fake API server, through the real
 * @kubernetes/client-node and a kubeconfig file: what it applies, how it reports readiness and
 * failure, that a crash at any request of the apply step converges on re-run, and teardown.
 */
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { loadAllYaml } from '@kubernetes/client-node';
import { readFile } from 'node:fs/promises';
import { createKubernetesStoreRuntime, loadKubeConfig } from '../workers/providers/store/kubernetes.ts';
import { DEFAULT_IMAGES, FIELD_MANAGER, PLAN_SIZES, namespaceFor, type ClusterSettings } from '../workers/providers/store/manifests.ts';
import type { ProvisionStep, StoreInput, StoreRuntime } from '../workers/providers/store/runtime.ts';
import { PermanentError } from '../workers/step.ts';
import { FakeKubernetes } from './fakes/kubernetes.ts';

const settings: ClusterSettings = {
  baseDomain: 'shops.example.test', ingressNamespace: 'ingress-nginx', ingressClass: 'nginx', clusterIssuer: 'letsencrypt-prod',
  images: { ...DEFAULT_IMAGES, medusa: { app: 'registry.example.test/medusa:broken', db: 'postgres:17-alpine' } },
};
const signal = new AbortController().signal;

let fake: FakeKubernetes;
let runtime: StoreRuntime;
let kubeconfigPath: string;
beforeAll(async () => {
  fake = await new FakeKubernetes({ readyAfterPolls: 2, terminatingPolls: 2 }).start();
  kubeconfigPath = await fake.writeKubeconfig();
  runtime = createKubernetesStoreRuntime({ ...settings, kubeConfig: loadKubeConfig({ kubeconfigPath, inCluster: false })!, pollMs: 10 });
});
afterAll(async () => {
  await fake?.stop();
});
beforeEach(() => {
  fake.reset();
  fake.failingImages.clear();
  fake.failingImages.add('registry.example.test/medusa:broken');
});

let n = 0;
const storeInput = (over: Partial<StoreInput> = {}): StoreInput => ({
  storeId: `sto_01jz${String(++n).padStart(22, '0')}`, tenantId: 'ten_01jzaaaaaaaaaaaaaaaaaaaaaa', name: 'acme-shop', engine: 'woocommerce', plan: 'pro', ...over,
});

async function provisionToEnd(rt: StoreRuntime, input: StoreInput, maxSteps = 20): Promise<{ last: ProvisionStep; steps: ProvisionStep[] }> {
  const steps: ProvisionStep[] = [];
  let state: unknown = null;
  for (let i = 0; i < maxSteps; i++) {
    const step = await rt.provision(input, state, signal);
    steps.push(step);
    if (step.type === 'ready') return { last: step, steps };
    state = step.state;
  }
  return { last: steps.at(-1)!, steps };
}

const secretValues = (ns: string) => {
  const data = fake.get('v1', 'Secret', 'store-credentials', ns)?.data as Record<string, string>;
  return Object.fromEntries(Object.entries(data).map(([k, v]) => [k, Buffer.from(v, 'base64').toString()]));
};

describe('kubernetes store runtime', () => {
  it('applies namespace, quota, limits, network policies, workloads and ingress by server-side apply, with secrets by reference', async () => {
    const input = storeInput();
    const ns = namespaceFor(input);
    const first = await runtime.provision(input, null, signal);
    expect(first).toMatchObject({ type: 'wait', providerRef: ns, state: { phase: 'rollout', polls: 0 } });

    // One field manager, server-side apply for every write but the Secret's one-time create.
    const writes = fake.requests.filter((r) => r.method !== 'GET');
    const patches = writes.filter((r) => r.method === 'PATCH');
    expect(patches.length).toBe(12);
    for (const p of patches) expect(p).toMatchObject({ contentType: 'application/apply-patch+yaml', fieldManager: FIELD_MANAGER, force: 'true' });
    expect(writes.filter((r) => r.method === 'POST').map((r) => r.path)).toEqual([`/api/v1/namespaces/${ns}/secrets`]);
    expect(fake.requests[0]!.path).toBe('/api/v1'); // discovery, as the client does it

    const namespace = fake.get('v1', 'Namespace', ns)!;
    expect(namespace.metadata.labels).toMatchObject({
      'switchyard.dev/tenant': input.tenantId, 'switchyard.dev/store': input.storeId, 'app.kubernetes.io/managed-by': 'switchyard',
    });
    expect(fake.get('v1', 'ResourceQuota', 'store-quota', ns)!.spec.hard).toEqual(PLAN_SIZES.pro.quota);
    expect(fake.get('v1', 'LimitRange', 'store-limits', ns)!.spec.limits[0]).toEqual({ type: 'Container', ...PLAN_SIZES.pro.limits });
    // The wire has Kubernetes' own field names, not the client model's (`_from`, `_default`).
    expect(JSON.stringify(fake.snapshot(ns))).not.toMatch(/"_[a-zA-Z]+":/);

    const deny = fake.get('networking.k8s.io/v1', 'NetworkPolicy', 'default-deny', ns)!;
    expect(deny.spec).toEqual({ podSelector: {}, policyTypes: ['Ingress', 'Egress'] });
    const fromIngress = fake.get('networking.k8s.io/v1', 'NetworkPolicy', 'allow-ingress-controller', ns)!;
    expect(fromIngress.spec.ingress[0].from).toEqual([{ namespaceSelector: { matchLabels: { 'kubernetes.io/metadata.name': 'ingress-nginx' } } }]);
    const dns = fake.get('networking.k8s.io/v1', 'NetworkPolicy', 'allow-dns', ns)!;
    expect(dns.spec.egress[0].ports).toEqual([{ protocol: 'UDP', port: 53 }, { protocol: 'TCP', port: 53 }]);
    const sameNs = fake.get('networking.k8s.io/v1', 'NetworkPolicy', 'allow-same-namespace', ns)!;
    expect(sameNs.spec.egress).toEqual([{ to: [{ podSelector: {} }] }]);

    const app = fake.get('apps/v1', 'Deployment', 'app', ns)!;
    expect(app.spec.replicas).toBe(PLAN_SIZES.pro.replicas);
    const db = fake.get('apps/v1', 'StatefulSet', 'db', ns)!;
    expect(db.spec.volumeClaimTemplates[0].spec.resources.requests.storage).toBe(PLAN_SIZES.pro.volume);
    expect(db.spec.template.spec.containers[0].image).toBe('mysql:8.4');
    const ingress = fake.get('networking.k8s.io/v1', 'Ingress', 'storefront', ns)!;
    const host = `acme-shop-${input.storeId.slice(-8)}.shops.example.test`;
    expect(ingress.spec.rules[0].host).toBe(host);
    expect(ingress.spec.tls).toEqual([{ hosts: [host], secretName: 'storefront-tls' }]);
    expect(ingress.metadata.annotations).toEqual({ 'cert-manager.io/cluster-issuer': 'letsencrypt-prod' });

    // Passwords: generated into the Secret, and everything else refers to them by key.
    const secret = secretValues(ns);
    expect(Object.keys(secret).sort()).toEqual(['admin-email', 'admin-password', 'db-password', 'db-root-password']);
    expect(secret['admin-password']!.length).toBeGreaterThanOrEqual(24);
    for (const w of [app, db]) {
      for (const env of w.spec.template.spec.containers[0].env as Array<{ name: string; value?: string; valueFrom?: unknown }>) {
        if (/PASSWORD/.test(env.name)) expect(env, env.name).toEqual({ name: env.name, valueFrom: { secretKeyRef: { name: 'store-credentials', key: expect.any(String) } } });
      }
    }
    const everythingElse = JSON.stringify(Object.entries(fake.snapshot(ns)).filter(([k]) => !k.startsWith('Secret/')));
    for (const v of [secret['admin-password'], secret['db-password'], secret['db-root-password']]) expect(everythingElse).not.toContain(v);
  });

  it('polls the rollout by continuation and returns urls and the Secret’s credentials when ready', async () => {
    const input = storeInput({ engine: 'woocommerce', plan: 'free' });
    const { last, steps } = await provisionToEnd(runtime, input);
    expect(last.type).toBe('ready');
    // apply, then reads until the workloads report ready (after 2 reads each).
    expect(steps.map((s) => s.type)).toEqual(['wait', 'wait', 'ready']);
    expect(steps[1]).toMatchObject({ type: 'wait', note: expect.stringMatching(/StatefulSet 0\/1, Deployment 0\/1 ready/) });
    if (last.type !== 'ready') throw new Error('unreachable');
    const ns = namespaceFor(input);
    const secret = secretValues(ns);
    expect(last.credentials).toEqual({ admin_email: secret['admin-email'], admin_password: secret['admin-password'] });
    expect(last.urls).toEqual({
      storefront: `https://acme-shop-${input.storeId.slice(-8)}.shops.example.test/`,
      admin: `https://acme-shop-${input.storeId.slice(-8)}.shops.example.test/wp-admin/`,
    });
    expect(last.details).toMatchObject({ namespace: ns, replicas: 1, rollout: 'ready' });
  });

  it('reports the cluster’s reason while pods cannot start (ImagePullBackOff)', async () => {
    const input = storeInput({ engine: 'medusa' });
    const { last, steps } = await provisionToEnd(runtime, input, 5);
    expect(last.type).toBe('wait');
    expect(steps.length).toBe(5);
    if (last.type !== 'wait') throw new Error('unreachable');
    expect(last.note).toContain('ImagePullBackOff');
    expect(last.note).toContain('registry.example.test/medusa:broken');
    expect(last.details).toMatchObject({ reason: expect.stringContaining('ImagePullBackOff') });
  });

  it('converges to the same objects when the apply step dies at any request and is run again', async () => {
    const input = storeInput({ engine: 'medusa', plan: 'enterprise' });
    const ns = namespaceFor(input);
    await runtime.provision(input, null, signal);
    const clean = fake.snapshot(ns);
    const requestsPerApply = fake.requests.length;
    const withoutSecretData = (s: Record<string, unknown>) =>
      JSON.stringify(s, (k, v) => (k === 'data' ? Object.keys(v as object).sort() : v));
    expect(requestsPerApply).toBeGreaterThan(12);

    for (let k = 1; k <= requestsPerApply; k++) {
      fake.reset();
      fake.dropRequest(k);
      await expect(runtime.provision(input, null, signal), `crash at request ${k}`).rejects.toThrow();
      const secretBefore = fake.get('v1', 'Secret', 'store-credentials', ns)?.data;
      const rerun = await runtime.provision(input, null, signal);
      expect(rerun.type).toBe('wait');
      expect(withoutSecretData(fake.snapshot(ns)), `crash at request ${k}`).toBe(withoutSecretData(clean));
      // A Secret made before the crash is kept: the passwords a store runs with never change under it.
      if (secretBefore) expect(fake.get('v1', 'Secret', 'store-credentials', ns)!.data).toEqual(secretBefore);
      // And a re-run of a whole, finished step changes nothing either.
      const before = JSON.stringify(fake.snapshot(ns));
      await runtime.provision(input, null, signal);
      expect(JSON.stringify(fake.snapshot(ns))).toBe(before);
    }
  });

  it('tears down by deleting the namespace and waiting until it is gone, also after a crash mid-teardown', async () => {
    const input = storeInput();
    const ns = namespaceFor(input);
    await provisionToEnd(runtime, input);
    expect(fake.namespaces()).toContain(ns);

    const first = await runtime.teardown(input, ns, null, signal);
    expect(first).toMatchObject({ type: 'wait', note: `namespace ${ns} is Terminating` });
    // A worker that crashed after its delete and runs the first teardown step again waits too.
    const again = await runtime.teardown(input, ns, null, signal);
    expect(again.type).toBe('wait');
    let step = again;
    for (let i = 0; i < 5 && step.type === 'wait'; i++) step = await runtime.teardown(input, ns, step.state, signal);
    expect(step).toEqual({ type: 'gone' });
    expect(fake.namespaces()).not.toContain(ns);
    expect(fake.snapshot(ns)).toEqual({});
    // Nothing there at all (never provisioned, or already gone): gone at once.
    expect(await runtime.teardown(input, ns, null, signal)).toEqual({ type: 'gone' });
  });

  it('turns a refusal by the cluster into a permanent error that names the RBAC to check', async () => {
    const path = await fake.writeKubeconfig('not-the-token');
    const kc = loadKubeConfig({ kubeconfigPath: path, inCluster: false })!;
    const intruder = createKubernetesStoreRuntime({ ...settings, kubeConfig: kc, pollMs: 10 });
    const err = await intruder.provision(storeInput(), null, signal).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(PermanentError);
    expect(String(err)).toMatch(/401.*rbac\.yaml/);
    expect(fake.namespaces()).toEqual([]);
  });

  it('needs no permission beyond the ClusterRole documented in infra/kubernetes/rbac.yaml', async () => {
    const docs = loadAllYaml(await readFile(new URL('../infra/kubernetes/rbac.yaml', import.meta.url), 'utf8')) as Array<{ kind: string; rules?: Array<{ apiGroups: string[]; resources: string[]; verbs: string[] }> }>;
    const role = docs.find((d) => d.kind === 'ClusterRole')!;
    const granted = new Set(role.rules!.flatMap((r) => r.apiGroups.flatMap((g) => r.resources.flatMap((res) => r.verbs.map((v) => `${g}/${res}:${v}`)))));

    // A store's whole life, good and bad: provision to ready, a failing one, a crash re-run, teardown.
    const good = storeInput();
    await provisionToEnd(runtime, good);
    await runtime.provision(good, null, signal);
    await provisionToEnd(runtime, storeInput({ engine: 'medusa' }), 3);
    let step = await runtime.teardown(good, null, null, signal);
    while (step.type === 'wait') step = await runtime.teardown(good, null, step.state, signal);

    const needed = new Set<string>();
    for (const r of fake.requests) {
      const ns = /^\/api\/v1\/namespaces(?:\/([^/]+))?$/.exec(r.path); // the namespaces themselves
      const m = ns ? null : /^\/(?:api\/v1|apis\/([^/]+)\/[^/]+)(?:\/namespaces\/[^/]+)?\/([^/]+)(?:\/([^/]+))?$/.exec(r.path);
      if (!ns && !m) continue; // discovery: non-resource URLs every authenticated user may read
      const [group, resource, name] = ns ? ['', 'namespaces', ns[1]] : [m![1] ?? '', m![2]!, m![3]];
      const verb = r.method === 'PATCH' ? 'patch' : r.method === 'POST' ? 'create' : r.method === 'DELETE' ? 'delete' : name ? 'get' : 'list';
      needed.add(`${group}/${resource}:${verb}`);
      if (r.method === 'PATCH') needed.add(`${group}/${resource}:create`); // an apply that creates needs create too
    }
    expect(needed.size).toBeGreaterThan(10);
    for (const n of needed) expect(granted, n).toContain(n);
    // And nothing granted that the runtime never uses.
    for (const g of granted) expect(needed, `${g} is granted but never used`).toContain(g);
  });
});
