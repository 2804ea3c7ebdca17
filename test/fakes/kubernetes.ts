/**
 * A contract fake of the Kubernetes API server: real HTTP, speaking what @kubernetes/client-node
 * sends and expects. Discovery (`/api/v1`, `/apis/<group>/<version>` → APIResourceList), server-side
 * apply (PATCH with `application/apply-patch+yaml`, `fieldManager` required, conflicts between
 * managers unless `force`), create (POST, 409 AlreadyExists), GET, list with label selectors, and
 * DELETE. Errors are `Status` objects with the API server's reasons and codes.
 *
 * It plays the controllers too: a Deployment or StatefulSet reports its replicas ready after
 * `readyAfterPolls` reads of it, unless an image is set to fail, in which case its pods wait in
 * `ImagePullBackOff`; a deleted namespace stays `Terminating` for `terminatingPolls` reads, refuses
 * new content meanwhile, and then disappears with everything in it.
 *
 * For crash tests, `dropRequest(n)` makes the n-th request from now die with its connection reset,
 * as the process making it would look to the server if it were killed mid-request.
 */
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { randomUUID } from 'node:crypto';
import { mkdtemp, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

interface ResourceType { name: string; singularName: string; kind: string; namespaced: boolean }
const GROUPS: Record<string, ResourceType[]> = {
  v1: [
    { name: 'namespaces', singularName: 'namespace', kind: 'Namespace', namespaced: false },
    { name: 'secrets', singularName: 'secret', kind: 'Secret', namespaced: true },
    { name: 'services', singularName: 'service', kind: 'Service', namespaced: true },
    { name: 'resourcequotas', singularName: 'resourcequota', kind: 'ResourceQuota', namespaced: true },
    { name: 'limitranges', singularName: 'limitrange', kind: 'LimitRange', namespaced: true },
    { name: 'pods', singularName: 'pod', kind: 'Pod', namespaced: true },
  ],
  'apps/v1': [
    { name: 'deployments', singularName: 'deployment', kind: 'Deployment', namespaced: true },
    { name: 'statefulsets', singularName: 'statefulset', kind: 'StatefulSet', namespaced: true },
  ],
  'networking.k8s.io/v1': [
    { name: 'networkpolicies', singularName: 'networkpolicy', kind: 'NetworkPolicy', namespaced: true },
    { name: 'ingresses', singularName: 'ingress', kind: 'Ingress', namespaced: true },
  ],
};
const VERBS = ['create', 'delete', 'get', 'list', 'patch', 'update', 'watch'];

type Obj = { apiVersion: string; kind: string; metadata: Record<string, any>; spec?: any; status?: any; [k: string]: any };

export interface RequestRecord {
  method: string;
  path: string;
  contentType: string | undefined;
  fieldManager: string | null;
  force: string | null;
  namespace: string | null;
}

export interface FakeKubernetesOptions {
  token?: string;
  /** Reads of a Deployment/StatefulSet before it reports ready. */
  readyAfterPolls?: number;
  /** Reads of a terminating namespace before it is gone. */
  terminatingPolls?: number;
  /** Images that never pull. */
  failingImages?: string[];
}

class HttpError extends Error {
  constructor(readonly code: number, readonly reason: string, message: string) {
    super(message);
  }
}

export class FakeKubernetes {
  readonly token: string;
  readonly requests: RequestRecord[] = [];
  readonly failingImages: Set<string>;
  readyAfterPolls: number;
  terminatingPolls: number;
  /** Most requests seen in flight at once, and the most namespaces with requests in flight at once. */
  maxInFlight = 0;
  maxNamespacesInFlight = 0;
  private inFlight = new Map<string, number>();
  private inFlightCount = 0;
  private objects = new Map<string, Obj>();
  private polls = new Map<string, number>();
  private dropAt: number | null = null;
  private seen = 0;
  private rv = 1;
  private server: Server;
  url = '';

  constructor(opts: FakeKubernetesOptions = {}) {
    this.token = opts.token ?? `fake-${randomUUID()}`;
    this.readyAfterPolls = opts.readyAfterPolls ?? 2;
    this.terminatingPolls = opts.terminatingPolls ?? 2;
    this.failingImages = new Set(opts.failingImages ?? []);
    this.server = createServer((req, res) => {
      this.handle(req, res).catch((err) => this.send(res, 500, status(500, 'InternalError', String(err))));
    });
  }

  async start(): Promise<this> {
    await new Promise<void>((r) => this.server.listen(0, '127.0.0.1', r));
    this.url = `http://127.0.0.1:${(this.server.address() as AddressInfo).port}`;
    return this;
  }

  async stop(): Promise<void> {
    this.server.closeAllConnections();
    await new Promise<void>((r) => this.server.close(() => r()));
  }

  /** A kubeconfig file for this server (plain HTTP needs insecure-skip-tls-verify, as with kubectl). */
  async writeKubeconfig(token = this.token): Promise<string> {
    const dir = await mkdtemp(join(tmpdir(), 'kubeconfig-'));
    const file = join(dir, 'config');
    await writeFile(file, JSON.stringify({
      apiVersion: 'v1', kind: 'Config', 'current-context': 'fake',
      clusters: [{ name: 'fake', cluster: { server: this.url, 'insecure-skip-tls-verify': true } }],
      users: [{ name: 'switchyard', user: { token } }],
      contexts: [{ name: 'fake', context: { cluster: 'fake', user: 'switchyard' } }],
    }));
    return file;
  }

  /** The n-th request from now (1 = the next) is cut off before the server acts on it. */
  dropRequest(n: number): void {
    this.dropAt = this.seen + n;
  }

  reset(): void {
    this.objects.clear();
    this.polls.clear();
    this.requests.length = 0;
    this.dropAt = null;
  }

  get(apiVersion: string, kind: string, name: string, namespace?: string): Obj | undefined {
    return this.objects.get(key(apiVersion, kind, namespace ?? null, name));
  }

  namespaces(): string[] {
    return [...this.objects.values()].filter((o) => o.kind === 'Namespace').map((o) => o.metadata.name);
  }

  /** Everything in a namespace (and the namespace), without server-set fields: what a re-run must reproduce. */
  snapshot(namespace: string): Record<string, unknown> {
    const out: Record<string, unknown> = {};
    for (const o of this.objects.values()) {
      if (o.metadata.name !== namespace && o.metadata.namespace !== namespace) continue;
      const { uid: _u, resourceVersion: _r, creationTimestamp: _c, managedFields, generation: _g, ...metadata } = o.metadata;
      const { status: _s, ...rest } = o;
      out[`${o.kind}/${o.metadata.name}`] = { ...rest, metadata: { ...metadata, managers: managedFields?.map((m: { manager: string }) => m.manager) } };
    }
    return out;
  }

  private resolve(apiVersion: string, resource: string): ResourceType {
    const t = GROUPS[apiVersion]?.find((r) => r.name === resource);
    if (!t) throw new HttpError(404, 'NotFound', `the server could not find the requested resource (${apiVersion} ${resource})`);
    return t;
  }

  private async handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    this.seen++;
    if (this.dropAt !== null && this.seen === this.dropAt) {
      this.dropAt = null;
      req.socket.destroy();
      return;
    }
    const url = new URL(req.url ?? '/', this.url);
    const body = await readBody(req);
    const nsMatch = /\/namespaces\/([^/]+)/.exec(url.pathname);
    const record: RequestRecord = {
      method: req.method ?? 'GET', path: url.pathname, contentType: req.headers['content-type'],
      fieldManager: url.searchParams.get('fieldManager'), force: url.searchParams.get('force'), namespace: nsMatch?.[1] ?? null,
    };
    this.requests.push(record);
    const flightKey = record.namespace ?? '(cluster)';
    this.inFlightCount++;
    this.inFlight.set(flightKey, (this.inFlight.get(flightKey) ?? 0) + 1);
    this.maxInFlight = Math.max(this.maxInFlight, this.inFlightCount);
    this.maxNamespacesInFlight = Math.max(this.maxNamespacesInFlight, [...this.inFlight.keys()].filter((k) => k !== '(cluster)').length);
    // A little latency, so that concurrent clients really overlap.
    await new Promise((r) => setTimeout(r, 2));
    try {
      if (req.headers.authorization !== `Bearer ${this.token}`) throw new HttpError(401, 'Unauthorized', 'Unauthorized');
      const [code, payload] = this.route(req.method ?? 'GET', url, body, req.headers['content-type']);
      this.send(res, code, payload);
    } catch (e) {
      if (e instanceof HttpError) this.send(res, e.code, status(e.code, e.reason, e.message));
      else throw e;
    } finally {
      this.inFlightCount--;
      const n = (this.inFlight.get(flightKey) ?? 1) - 1;
      if (n === 0) this.inFlight.delete(flightKey);
      else this.inFlight.set(flightKey, n);
    }
  }

  private route(method: string, url: URL, body: string, contentType: string | undefined): [number, unknown] {
    const parts = url.pathname.split('/').filter(Boolean);
    // Discovery.
    let apiVersion: string;
    let rest: string[];
    if (parts[0] === 'api' && parts[1] === 'v1') {
      apiVersion = 'v1';
      rest = parts.slice(2);
    } else if (parts[0] === 'apis' && parts.length >= 3) {
      apiVersion = `${parts[1]}/${parts[2]}`;
      rest = parts.slice(3);
    } else {
      throw new HttpError(404, 'NotFound', 'the server could not find the requested resource');
    }
    if (rest.length === 0) {
      const types = GROUPS[apiVersion];
      if (!types || method !== 'GET') throw new HttpError(404, 'NotFound', 'the server could not find the requested resource');
      return [200, { kind: 'APIResourceList', apiVersion: 'v1', groupVersion: apiVersion, resources: types.map((t) => ({ ...t, verbs: VERBS })) }];
    }

    let namespace: string | null = null;
    let resource: string;
    let name: string | null;
    if (rest[0] === 'namespaces' && rest.length >= 3) {
      namespace = rest[1]!;
      resource = rest[2]!;
      name = rest[3] ?? null;
    } else {
      resource = rest[0]!;
      name = rest[1] ?? null;
    }
    const type = this.resolve(apiVersion, resource);
    if (type.namespaced && !namespace) throw new HttpError(404, 'NotFound', `${resource} must be addressed in a namespace`);

    if (method === 'GET' && !name) return [200, this.list(apiVersion, type, namespace, url.searchParams.get('labelSelector'))];
    if (method === 'GET') return [200, this.read(apiVersion, type, namespace, name!)];
    if (method === 'PATCH' && name) return this.apply(apiVersion, type, namespace, name, body, contentType, url.searchParams);
    if (method === 'POST' && !name) return this.create(apiVersion, type, namespace, body);
    if (method === 'DELETE' && name) return this.remove(apiVersion, type, namespace, name);
    throw new HttpError(405, 'MethodNotAllowed', `${method} is not supported here`);
  }

  private requireNamespace(namespace: string | null, writing: boolean): void {
    if (!namespace) return;
    const ns = this.objects.get(key('v1', 'Namespace', null, namespace));
    if (!ns) throw new HttpError(404, 'NotFound', `namespaces "${namespace}" not found`);
    if (writing && ns.status?.phase === 'Terminating') {
      throw new HttpError(403, 'Forbidden', `unable to create new content in namespace ${namespace} because it is being terminated`);
    }
  }

  private read(apiVersion: string, type: ResourceType, namespace: string | null, name: string): Obj {
    const k = key(apiVersion, type.kind, namespace, name);
    const obj = this.objects.get(k);
    if (!obj) throw new HttpError(404, 'NotFound', `${type.name} "${name}" not found`);
    if (type.kind === 'Namespace' && obj.status?.phase === 'Terminating') {
      const left = (this.polls.get(k) ?? this.terminatingPolls) - 1;
      this.polls.set(k, left);
      if (left < 0) {
        for (const [ok, o] of this.objects) if (o.metadata.namespace === name || ok === k) this.objects.delete(ok);
        throw new HttpError(404, 'NotFound', `namespaces "${name}" not found`);
      }
    }
    if (type.kind === 'Deployment' || type.kind === 'StatefulSet') {
      this.polls.set(k, (this.polls.get(k) ?? 0) + 1);
      obj.status = this.workloadStatus(k, obj);
    }
    return obj;
  }

  private failingImage(obj: Obj): string | null {
    for (const c of obj.spec?.template?.spec?.containers ?? []) if (this.failingImages.has(c.image)) return c.image;
    return null;
  }

  private workloadStatus(k: string, obj: Obj) {
    const want = obj.spec?.replicas ?? 1;
    const ready = !this.failingImage(obj) && (this.polls.get(k) ?? 0) >= this.readyAfterPolls;
    return {
      observedGeneration: obj.metadata.generation,
      replicas: want,
      readyReplicas: ready ? want : 0,
      updatedReplicas: want,
      availableReplicas: ready ? want : 0,
    };
  }

  /** Pods are the controllers' work: one per replica of each workload, in the state its workload is in. */
  private pods(namespace: string): Obj[] {
    const pods: Obj[] = [];
    for (const [k, o] of this.objects) {
      if (o.metadata.namespace !== namespace || (o.kind !== 'Deployment' && o.kind !== 'StatefulSet')) continue;
      const failing = this.failingImage(o);
      const ready = !failing && (this.polls.get(k) ?? 0) >= this.readyAfterPolls;
      for (let i = 0; i < (o.spec?.replicas ?? 1); i++) {
        const name = o.kind === 'StatefulSet' ? `${o.metadata.name}-${i}` : `${o.metadata.name}-7d9f8c6b5-${'abcde'[i % 5]}x${i}`;
        pods.push({
          apiVersion: 'v1', kind: 'Pod',
          metadata: { name, namespace, labels: o.spec?.template?.metadata?.labels ?? {}, uid: randomUUID() },
          spec: o.spec?.template?.spec,
          status: {
            phase: ready ? 'Running' : 'Pending',
            conditions: [{ type: 'PodScheduled', status: 'True' }, { type: 'Ready', status: ready ? 'True' : 'False' }],
            containerStatuses: (o.spec?.template?.spec?.containers ?? []).map((c: { name: string; image: string }) => ({
              name: c.name, image: c.image, imageID: '', ready, restartCount: 0,
              state: ready
                ? { running: { startedAt: new Date().toISOString() } }
                : { waiting: failing === c.image
                    ? { reason: 'ImagePullBackOff', message: `Back-off pulling image "${c.image}"` }
                    : { reason: 'ContainerCreating' } },
            })),
          },
        });
      }
    }
    return pods;
  }

  private list(apiVersion: string, type: ResourceType, namespace: string | null, selector: string | null) {
    if (namespace) this.requireNamespace(namespace, false);
    const items = type.kind === 'Pod'
      ? this.pods(namespace!)
      : [...this.objects.values()].filter((o) => o.apiVersion === apiVersion && o.kind === type.kind && (!namespace || o.metadata.namespace === namespace));
    const wanted = (selector ?? '').split(',').filter(Boolean).map((s) => s.split('=') as [string, string]);
    const matched = items.filter((o) => wanted.every(([k, v]) => o.metadata.labels?.[k] === v));
    return { kind: `${type.kind}List`, apiVersion, metadata: { resourceVersion: String(this.rv) }, items: matched };
  }

  private parse(body: string): Obj {
    try {
      const obj = JSON.parse(body) as Obj;
      if (typeof obj !== 'object' || obj === null || typeof obj.metadata !== 'object') throw new Error('not an object');
      return obj;
    } catch {
      throw new HttpError(400, 'BadRequest', 'the body of the request was in an unknown format');
    }
  }

  private stamp(obj: Obj, existing: Obj | undefined, manager: string, operation: 'Apply' | 'Update'): Obj {
    const specChanged = !existing || JSON.stringify(existing.spec) !== JSON.stringify(obj.spec);
    const generation = existing ? (existing.metadata.generation ?? 1) + (specChanged ? 1 : 0) : 1;
    const out: Obj = {
      ...obj,
      metadata: {
        ...obj.metadata,
        uid: existing?.metadata.uid ?? randomUUID(),
        resourceVersion: String(++this.rv),
        creationTimestamp: existing?.metadata.creationTimestamp ?? new Date().toISOString(),
        generation,
        managedFields: [{ manager, operation, apiVersion: obj.apiVersion, time: new Date().toISOString() }],
        ...(existing?.metadata.deletionTimestamp ? { deletionTimestamp: existing.metadata.deletionTimestamp } : {}),
      },
    };
    if (out.kind === 'Secret' && out.stringData) {
      out.data = { ...(out.data ?? {}) };
      for (const [k, v] of Object.entries(out.stringData as Record<string, string>)) out.data[k] = Buffer.from(v).toString('base64');
      delete out.stringData;
    }
    if (out.kind === 'Namespace') out.status = existing?.status ?? { phase: 'Active' };
    else if (existing?.status) out.status = existing.status;
    return out;
  }

  private apply(apiVersion: string, type: ResourceType, namespace: string | null, name: string, body: string, contentType: string | undefined, q: URLSearchParams): [number, Obj] {
    if (contentType?.split(';')[0]?.trim() !== 'application/apply-patch+yaml') {
      throw new HttpError(415, 'UnsupportedMediaType', `the body of the request was in an unknown format - accepted media types include: application/apply-patch+yaml`);
    }
    const manager = q.get('fieldManager');
    if (!manager) throw new HttpError(400, 'BadRequest', 'PatchOptions.meta.k8s.io "" is invalid: fieldManager: Required value: is required for apply patch');
    const obj = this.parse(body);
    if (obj.apiVersion !== apiVersion || obj.kind !== type.kind) {
      throw new HttpError(400, 'BadRequest', `the API version in the data (${obj.apiVersion}) and kind (${obj.kind}) do not match the URL`);
    }
    if (obj.metadata.name !== name) throw new HttpError(400, 'BadRequest', 'the name of the object does not match the name on the URL');
    if (type.namespaced && obj.metadata.namespace && obj.metadata.namespace !== namespace) {
      throw new HttpError(400, 'BadRequest', 'the namespace of the provided object does not match the namespace sent on the request');
    }
    const k = key(apiVersion, type.kind, namespace, name);
    const existing = this.objects.get(k);
    // NamespaceLifecycle: a terminating namespace refuses new objects (updates still go through).
    this.requireNamespace(namespace, !existing);
    const owner = existing?.metadata.managedFields?.[0]?.manager;
    if (existing && owner !== manager && q.get('force') !== 'true' && JSON.stringify(existing.spec) !== JSON.stringify(obj.spec)) {
      throw new HttpError(409, 'Conflict', `Apply failed with 1 conflict: conflict with "${owner}": .spec`);
    }
    const stored = this.stamp({ ...obj, metadata: { ...obj.metadata, ...(type.namespaced ? { namespace } : {}) } }, existing, manager, 'Apply');
    this.objects.set(k, stored);
    return [existing ? 200 : 201, stored];
  }

  private create(apiVersion: string, type: ResourceType, namespace: string | null, body: string): [number, Obj] {
    const obj = this.parse(body);
    const name = obj.metadata.name as string | undefined;
    if (!name) throw new HttpError(422, 'Invalid', `${type.kind} "" is invalid: metadata.name: Required value`);
    this.requireNamespace(namespace, true);
    const k = key(apiVersion, type.kind, namespace, name);
    if (this.objects.has(k)) throw new HttpError(409, 'AlreadyExists', `${type.name} "${name}" already exists`);
    const stored = this.stamp({ ...obj, metadata: { ...obj.metadata, ...(type.namespaced ? { namespace } : {}) } }, undefined, 'switchyard-create', 'Update');
    this.objects.set(k, stored);
    return [201, stored];
  }

  private remove(apiVersion: string, type: ResourceType, namespace: string | null, name: string): [number, unknown] {
    const k = key(apiVersion, type.kind, namespace, name);
    const obj = this.objects.get(k);
    if (!obj) throw new HttpError(404, 'NotFound', `${type.name} "${name}" not found`);
    if (type.kind === 'Namespace') {
      if (obj.status?.phase === 'Terminating') {
        throw new HttpError(409, 'Conflict', 'Operation cannot be fulfilled on namespaces: The system is ensuring all content is removed from this namespace.  Upon completion, this namespace will automatically be purged by the system.');
      }
      obj.metadata.deletionTimestamp = new Date().toISOString();
      obj.status = { phase: 'Terminating' };
      this.polls.set(k, this.terminatingPolls);
      return [200, obj];
    }
    this.objects.delete(k);
    return [200, { kind: 'Status', apiVersion: 'v1', metadata: {}, status: 'Success', details: { name, kind: type.name } }];
  }

  private send(res: ServerResponse, code: number, payload: unknown): void {
    res.writeHead(code, { 'content-type': 'application/json' });
    res.end(JSON.stringify(payload));
  }
}

function key(apiVersion: string, kind: string, namespace: string | null, name: string): string {
  return `${apiVersion}|${kind}|${namespace ?? ''}|${name}`;
}

function status(code: number, reason: string, message: string) {
  return { kind: 'Status', apiVersion: 'v1', metadata: {}, status: 'Failure', message, reason, code };
}

async function readBody(req: IncomingMessage): Promise<string> {
  const chunks: Buffer[] = [];
  for await (const c of req) chunks.push(c as Buffer);
  return Buffer.concat(chunks).toString('utf8');
}
