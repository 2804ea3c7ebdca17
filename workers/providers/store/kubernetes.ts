/**
 * The `kubernetes` store runtime. Provisioning is two kinds of step:
 *
 *   1. apply: server-side apply (one field manager, forced, as controllers do) of every object in
 *      manifests.ts, namespace first, plus the credentials Secret, created once with generated
 *      values and never overwritten. Applying the same objects again changes nothing, so a worker
 *      killed anywhere in this step and re-run converges to the same cluster state, with the
 *      same passwords.
 *   2. rollout: a short read of the database StatefulSet and app Deployment. Not ready yet: wait and
 *      poll again by continuation, reporting why from the pods (ImagePullBackOff, Unschedulable, …),
 *      which is the reason the store fails with if its deadline passes.
 *
 * Teardown deletes the namespace and polls until the cluster has finished terminating it.
 */
import { KubeConfig, KubernetesObjectApi, PatchStrategy, type KubernetesObject } from '@kubernetes/client-node';
import { z } from 'zod';
import { randomToken } from '../../../core/crypto.ts';
import { PermanentError } from '../../step.ts';
import type { ProvisionStep, StoreInput, StoreRuntime, TeardownStep } from './runtime.ts';
import type { Config } from '../../../core/env.ts';
import {
  CREDENTIALS_SECRET, DEFAULT_IMAGES, CREDENTIAL_KEYS, FIELD_MANAGER, PLAN_SIZES, namespaceFor, hostFor, storeLabels, storeManifests, urlsFor,
  type ClusterSettings, type KubeObject,
} from './manifests.ts';

export interface KubernetesRuntimeOptions extends ClusterSettings {
  kubeConfig: KubeConfig;
  /** How long to wait between rollout and teardown polls. */
  pollMs: number;
}

/** A kubeconfig file when given; else the in-cluster service account when running in a pod; else none. */
export function loadKubeConfig(opts: { kubeconfigPath?: string | undefined; inCluster: boolean }): KubeConfig | null {
  const kc = new KubeConfig();
  if (opts.kubeconfigPath) {
    kc.loadFromFile(opts.kubeconfigPath);
    return kc;
  }
  if (opts.inCluster) {
    kc.loadFromCluster();
    return kc;
  }
  return null;
}

const ProvisionState = z.discriminatedUnion('phase', [
  z.object({ phase: z.literal('apply') }),
  z.object({ phase: z.literal('rollout'), polls: z.number().int() }),
]);
const TeardownState = z.object({ phase: z.literal('terminating'), polls: z.number().int() });

interface ApiError { code: number; body?: unknown }
const isApiError = (e: unknown): e is ApiError => typeof e === 'object' && e !== null && typeof (e as ApiError).code === 'number';

function describe(e: ApiError): string {
  let body = e.body as { reason?: string; message?: string } | string | undefined;
  if (typeof body === 'string') {
    const text = body;
    try {
      body = JSON.parse(text) as { reason?: string; message?: string };
    } catch {
      return text.slice(0, 300);
    }
  }
  return [body?.reason, body?.message].filter(Boolean).join(': ') || 'no detail';
}

/** The cluster's answer, as our error taxonomy: refusals that retrying can't fix are permanent. */
async function call<T>(what: string, fn: () => Promise<T>): Promise<T> {
  try {
    return await fn();
  } catch (e) {
    if (!isApiError(e)) throw e;
    const msg = `Kubernetes ${what}: ${e.code} ${describe(e)}`;
    if (e.code === 401 || e.code === 403) throw new PermanentError(`${msg} (check the control plane's credentials and RBAC: infra/kubernetes/rbac.yaml)`);
    if (e.code === 400 || e.code === 415 || e.code === 422) throw new PermanentError(msg);
    throw new Error(msg);
  }
}

async function orNull<T>(fn: () => Promise<T>): Promise<T | null> {
  try {
    return await fn();
  } catch (e) {
    if (isApiError(e) && e.code === 404) return null;
    throw e;
  }
}

interface WorkloadStatus { name: string; ready: number; want: number; done: boolean }

function rolloutOf(kind: string, obj: KubernetesObject | null): WorkloadStatus {
  const o = obj as { metadata?: { generation?: number }; spec?: { replicas?: number }; status?: { observedGeneration?: number; readyReplicas?: number; updatedReplicas?: number } } | null;
  const want = o?.spec?.replicas ?? 1;
  const ready = o?.status?.readyReplicas ?? 0;
  const observed = (o?.status?.observedGeneration ?? 0) >= (o?.metadata?.generation ?? 1);
  const updated = kind === 'Deployment' ? (o?.status?.updatedReplicas ?? 0) >= want : true;
  return { name: kind, ready, want, done: !!o && observed && updated && ready >= want };
}

/** Why pods aren't ready, in the cluster's own words: the first waiting reason or scheduling failure. */
function podReason(pods: KubernetesObject[]): string | null {
  for (const pod of pods as Array<{ metadata?: { name?: string }; status?: { conditions?: Array<{ type: string; status: string; reason?: string; message?: string }>; containerStatuses?: Array<{ name: string; state?: { waiting?: { reason?: string; message?: string } } }>; initContainerStatuses?: Array<{ name: string; state?: { waiting?: { reason?: string; message?: string } } }> } }>) {
    const statuses = [...(pod.status?.initContainerStatuses ?? []), ...(pod.status?.containerStatuses ?? [])];
    for (const c of statuses) {
      const w = c.state?.waiting;
      if (w?.reason && w.reason !== 'ContainerCreating' && w.reason !== 'PodInitializing') {
        return `pod ${pod.metadata?.name} container ${c.name}: ${w.reason}${w.message ? ` (${w.message})` : ''}`;
      }
    }
    const unscheduled = pod.status?.conditions?.find((c) => c.type === 'PodScheduled' && c.status === 'False');
    if (unscheduled) return `pod ${pod.metadata?.name}: ${unscheduled.reason ?? 'Unschedulable'}${unscheduled.message ? ` (${unscheduled.message})` : ''}`;
  }
  return null;
}

export function createKubernetesStoreRuntime(opts: KubernetesRuntimeOptions): StoreRuntime {
  const api = KubernetesObjectApi.makeApiClient(opts.kubeConfig);

  const apply = (obj: KubeObject) =>
    call(`apply ${obj.kind}/${obj.metadata.name}`, () =>
      api.patch(obj as KubernetesObject, undefined, undefined, FIELD_MANAGER, true, PatchStrategy.ServerSideApply));

  const read = (apiVersion: string, kind: string, name: string, namespace?: string) =>
    call(`read ${kind}/${name}`, () => orNull(() => api.read({ apiVersion, kind, metadata: { name, ...(namespace ? { namespace } : {}) } })));

  /** Created once with fresh values; a re-run finds it and keeps it, so passwords never change under a store. */
  async function ensureSecret(input: StoreInput, namespace: string): Promise<void> {
    if (await read('v1', 'Secret', CREDENTIALS_SECRET, namespace)) return;
    const values: Record<(typeof CREDENTIAL_KEYS)[number], string> = {
      'admin-email': `admin@${input.name}.store`,
      'admin-password': randomToken(24),
      'db-password': randomToken(32),
      'db-root-password': randomToken(32),
    };
    await call(`create Secret/${CREDENTIALS_SECRET}`, async () => {
      try {
        await api.create({
          apiVersion: 'v1', kind: 'Secret',
          metadata: { name: CREDENTIALS_SECRET, namespace, labels: storeLabels(input) },
          type: 'Opaque', stringData: values,
        } as KubernetesObject);
      } catch (e) {
        // Another attempt created it first: theirs stands.
        if (!(isApiError(e) && e.code === 409)) throw e;
      }
    });
  }

  async function readCredentials(namespace: string) {
    const secret = (await read('v1', 'Secret', CREDENTIALS_SECRET, namespace)) as { data?: Record<string, string> } | null;
    const value = (k: string) => {
      const v = secret?.data?.[k];
      if (!v) throw new Error(`secret ${namespace}/${CREDENTIALS_SECRET} has no ${k}`);
      return Buffer.from(v, 'base64').toString('utf8');
    };
    return { admin_email: value('admin-email'), admin_password: value('admin-password') };
  }

  function details(input: StoreInput, namespace: string, extra: Record<string, unknown> = {}) {
    return {
      namespace, host: hostFor(input, opts), engine: input.engine, plan: input.plan,
      replicas: PLAN_SIZES[input.plan].replicas, ...extra,
    };
  }

  return {
    name: 'kubernetes',

    async provision(input, rawState): Promise<ProvisionStep> {
      const state = ProvisionState.parse(rawState ?? { phase: 'apply' });
      const objects = storeManifests(input, opts);
      const namespace = namespaceFor(input);

      if (state.phase === 'apply') {
        const [ns, ...rest] = objects;
        await apply(ns!);
        await ensureSecret(input, namespace);
        for (const obj of rest) await apply(obj);
        return {
          type: 'wait', delayMs: opts.pollMs, state: { phase: 'rollout', polls: 0 },
          note: `applied ${objects.length + 1} objects to namespace ${namespace}; waiting for the rollout`,
          providerRef: namespace,
          details: details(input, namespace, { rollout: 'applied' }),
        };
      }

      const [db, app] = await Promise.all([
        read('apps/v1', 'StatefulSet', 'db', namespace),
        read('apps/v1', 'Deployment', 'app', namespace),
      ]);
      const rollout = [rolloutOf('StatefulSet', db), rolloutOf('Deployment', app)];
      if (rollout.every((r) => r.done)) {
        return {
          type: 'ready',
          providerRef: namespace,
          urls: urlsFor(input, opts),
          details: details(input, namespace, { rollout: 'ready' }),
          credentials: await readCredentials(namespace),
        };
      }
      const pods = await call('list pods', () =>
        api.list('v1', 'Pod', namespace, undefined, undefined, undefined, undefined, `switchyard.dev/store=${input.storeId}`));
      const reason = podReason(pods.items);
      const progress = rollout.map((r) => `${r.name} ${r.ready}/${r.want}`).join(', ');
      return {
        type: 'wait', delayMs: opts.pollMs, state: { phase: 'rollout', polls: state.polls + 1 },
        note: `waiting for the rollout (${progress} ready)${reason ? `: ${reason}` : ''}`,
        providerRef: namespace,
        details: details(input, namespace, { rollout: progress, ...(reason ? { reason } : {}) }),
      };
    },

    async teardown(input, providerRef, rawState): Promise<TeardownStep> {
      const namespace = providerRef ?? namespaceFor(input);
      const spec = { apiVersion: 'v1', kind: 'Namespace', metadata: { name: namespace } };
      let polls = 0;
      if (rawState == null) {
        const deleted = await call(`delete Namespace/${namespace}`, async () => {
          try {
            return await api.delete(spec, undefined, undefined, undefined, undefined, 'Background');
          } catch (e) {
            if (isApiError(e) && e.code === 404) return null;
            // Already terminating (an earlier attempt's delete went through): wait for it like ours.
            if (isApiError(e) && e.code === 409) return true;
            throw e;
          }
        });
        if (!deleted) return { type: 'gone' };
      } else {
        polls = TeardownState.parse(rawState).polls + 1;
      }
      const ns = (await read('v1', 'Namespace', namespace)) as { status?: { phase?: string } } | null;
      if (!ns) return { type: 'gone' };
      return {
        type: 'wait', delayMs: opts.pollMs, state: { phase: 'terminating', polls },
        note: `namespace ${namespace} is ${ns.status?.phase ?? 'terminating'}`,
      };
    },
  };
}

/** The runtime as configured, or null when this deployment has no cluster (KUBECONFIG unset, not in a pod). */
export function kubernetesRuntimeFromConfig(config: Config): StoreRuntime | null {
  const kubeConfig = loadKubeConfig({ kubeconfigPath: config.KUBECONFIG, inCluster: !!config.KUBERNETES_SERVICE_HOST });
  if (!kubeConfig) return null;
  return createKubernetesStoreRuntime({
    kubeConfig,
    pollMs: config.SWITCHYARD_STORE_POLL_MS,
    baseDomain: config.SWITCHYARD_STORE_BASE_DOMAIN,
    ingressNamespace: config.SWITCHYARD_STORE_INGRESS_NAMESPACE,
    ingressClass: config.SWITCHYARD_STORE_INGRESS_CLASS,
    clusterIssuer: config.SWITCHYARD_STORE_CLUSTER_ISSUER,
    images: {
      woocommerce: {
        app: config.SWITCHYARD_STORE_IMAGE_WOOCOMMERCE ?? DEFAULT_IMAGES.woocommerce.app,
        db: config.SWITCHYARD_STORE_IMAGE_WOOCOMMERCE_DB ?? DEFAULT_IMAGES.woocommerce.db,
      },
      medusa: {
        app: config.SWITCHYARD_STORE_IMAGE_MEDUSA ?? DEFAULT_IMAGES.medusa.app,
        db: config.SWITCHYARD_STORE_IMAGE_MEDUSA_DB ?? DEFAULT_IMAGES.medusa.db,
      },
    },
  });
}
