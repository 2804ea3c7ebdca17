/**
 * What a store is on Kubernetes, as plain objects: one namespace per store, labelled with its
 * tenant and store, holding a quota and limit range sized by plan, default-deny network policies
 * with the few allowances a store needs, the engine's database (a StatefulSet with a volume) and
 * app (a Deployment), and an Ingress with TLS from cert-manager. Pure functions, so a re-run after
 * a crash renders exactly the same objects, and tests can read them.
 *
 * Passwords are never here: the workloads read them from the `store-credentials` Secret by
 * reference (secretKeyRef), and that Secret is created once, with generated values, by the runtime.
 */
import type {
  KubernetesObject, V1Deployment, V1EnvVar, V1Ingress, V1LimitRange, V1Namespace, V1NetworkPolicy, V1ObjectMeta, V1Probe,
  V1ResourceQuota, V1Service, V1StatefulSet,
} from '@kubernetes/client-node';
import type { Engine, StoreInput, StorePlan } from './runtime.ts';

/**
 * Objects are written as the client's typed models (checked by the compiler), because the client
 * serializes through them: a field the model spells differently (`_from`, `_default`) would
 * otherwise be dropped on the way out without a word.
 */
export type KubeObject = KubernetesObject & { metadata: V1ObjectMeta & { name: string }; [field: string]: unknown };

export interface ClusterSettings {
  /** Stores are served at `<name>-<short id>.<baseDomain>`. */
  baseDomain: string;
  /** The ingress controller's namespace: the only one allowed to reach a store's app pods. */
  ingressNamespace: string;
  ingressClass: string;
  /** cert-manager ClusterIssuer for the store's TLS certificate. */
  clusterIssuer: string;
  images: Record<Engine, { app: string; db: string }>;
}

export const DEFAULT_IMAGES: ClusterSettings['images'] = {
  woocommerce: { app: 'wordpress:6.8-apache', db: 'mysql:8.4' },
  medusa: { app: 'medusajs/medusa:2', db: 'postgres:17-alpine' },
};

export const CREDENTIALS_SECRET = 'store-credentials';
export const FIELD_MANAGER = 'switchyard';

interface PlanSize {
  replicas: number;
  volume: string;
  quota: Record<string, string>;
  limits: { default: Record<string, string>; defaultRequest: Record<string, string>; max: Record<string, string> };
}

export const PLAN_SIZES: Record<StorePlan, PlanSize> = {
  free: {
    replicas: 1,
    volume: '2Gi',
    quota: {
      'requests.cpu': '1', 'requests.memory': '2Gi', 'limits.cpu': '2', 'limits.memory': '4Gi',
      'requests.storage': '5Gi', persistentvolumeclaims: '2', pods: '10',
      'services.loadbalancers': '0', 'services.nodeports': '0',
    },
    limits: { default: { cpu: '500m', memory: '512Mi' }, defaultRequest: { cpu: '100m', memory: '256Mi' }, max: { cpu: '1', memory: '2Gi' } },
  },
  pro: {
    replicas: 2,
    volume: '20Gi',
    quota: {
      'requests.cpu': '4', 'requests.memory': '8Gi', 'limits.cpu': '8', 'limits.memory': '16Gi',
      'requests.storage': '50Gi', persistentvolumeclaims: '4', pods: '20',
      'services.loadbalancers': '0', 'services.nodeports': '0',
    },
    limits: { default: { cpu: '1', memory: '1Gi' }, defaultRequest: { cpu: '250m', memory: '512Mi' }, max: { cpu: '2', memory: '4Gi' } },
  },
  enterprise: {
    replicas: 3,
    volume: '100Gi',
    quota: {
      'requests.cpu': '16', 'requests.memory': '32Gi', 'limits.cpu': '32', 'limits.memory': '64Gi',
      'requests.storage': '250Gi', persistentvolumeclaims: '8', pods: '50',
      'services.loadbalancers': '0', 'services.nodeports': '0',
    },
    limits: { default: { cpu: '2', memory: '2Gi' }, defaultRequest: { cpu: '500m', memory: '1Gi' }, max: { cpu: '4', memory: '8Gi' } },
  },
};

const ENGINES: Record<Engine, { appPort: number; dbPort: number; adminPath: string }> = {
  woocommerce: { appPort: 80, dbPort: 3306, adminPath: '/wp-admin/' },
  medusa: { appPort: 9000, dbPort: 5432, adminPath: '/app' },
};

/** `store-<name>-<last 8 of the id>`: readable, unique across tenants, at most 55 characters. */
export function namespaceFor(input: Pick<StoreInput, 'name' | 'storeId'>): string {
  return `store-${input.name}-${input.storeId.slice(-8)}`;
}

export function hostFor(input: Pick<StoreInput, 'name' | 'storeId'>, settings: Pick<ClusterSettings, 'baseDomain'>): string {
  return `${input.name}-${input.storeId.slice(-8)}.${settings.baseDomain}`;
}

export function storeLabels(input: StoreInput): Record<string, string> {
  return {
    'app.kubernetes.io/managed-by': FIELD_MANAGER,
    'app.kubernetes.io/part-of': input.name,
    'switchyard.dev/tenant': input.tenantId,
    'switchyard.dev/store': input.storeId,
  };
}

export function urlsFor(input: StoreInput, settings: ClusterSettings) {
  const host = hostFor(input, settings);
  return { storefront: `https://${host}/`, admin: `https://${host}${ENGINES[input.engine].adminPath}` };
}

const secretEnv = (name: string, key: string): V1EnvVar => ({ name, valueFrom: { secretKeyRef: { name: CREDENTIALS_SECRET, key } } });

/** The Secret's keys; values are generated by the runtime (see kubernetes.ts), never rendered here. */
export const CREDENTIAL_KEYS = ['admin-email', 'admin-password', 'db-password', 'db-root-password'] as const;

function database(input: StoreInput, ns: string, labels: Record<string, string>, size: PlanSize, settings: ClusterSettings): KubeObject[] {
  const { dbPort } = ENGINES[input.engine];
  const podLabels = { ...labels, 'app.kubernetes.io/component': 'db' };
  const env: V1EnvVar[] = input.engine === 'woocommerce'
    ? [
        secretEnv('MYSQL_ROOT_PASSWORD', 'db-root-password'),
        { name: 'MYSQL_DATABASE', value: 'store' },
        { name: 'MYSQL_USER', value: 'store' },
        secretEnv('MYSQL_PASSWORD', 'db-password'),
      ]
    : [
        { name: 'POSTGRES_DB', value: 'store' },
        { name: 'POSTGRES_USER', value: 'store' },
        secretEnv('POSTGRES_PASSWORD', 'db-password'),
        { name: 'PGDATA', value: '/var/lib/postgresql/data/pgdata' },
      ];
  const mountPath = input.engine === 'woocommerce' ? '/var/lib/mysql' : '/var/lib/postgresql/data';
  const probe: V1Probe = input.engine === 'woocommerce'
    ? { tcpSocket: { port: dbPort }, periodSeconds: 5 }
    : { exec: { command: ['pg_isready', '-U', 'store', '-d', 'store'] }, periodSeconds: 5 };
  return [
    {
      apiVersion: 'v1', kind: 'Service',
      metadata: { name: 'db', namespace: ns, labels: podLabels },
      spec: { clusterIP: 'None', selector: { 'switchyard.dev/store': input.storeId, 'app.kubernetes.io/component': 'db' }, ports: [{ name: 'db', port: dbPort, targetPort: dbPort }] },
    } satisfies V1Service,
    {
      apiVersion: 'apps/v1', kind: 'StatefulSet',
      metadata: { name: 'db', namespace: ns, labels: podLabels },
      spec: {
        serviceName: 'db',
        replicas: 1,
        selector: { matchLabels: { 'switchyard.dev/store': input.storeId, 'app.kubernetes.io/component': 'db' } },
        template: {
          metadata: { labels: podLabels },
          spec: {
            automountServiceAccountToken: false,
            containers: [{
              name: 'db', image: settings.images[input.engine].db, env,
              ports: [{ name: 'db', containerPort: dbPort }],
              readinessProbe: probe,
              volumeMounts: [{ name: 'data', mountPath }],
            }],
          },
        },
        volumeClaimTemplates: [{
          metadata: { name: 'data', labels: podLabels },
          spec: { accessModes: ['ReadWriteOnce'], resources: { requests: { storage: size.volume } } },
        }],
      },
    } satisfies V1StatefulSet,
  ];
}

function app(input: StoreInput, ns: string, labels: Record<string, string>, size: PlanSize, settings: ClusterSettings): KubeObject[] {
  const { appPort } = ENGINES[input.engine];
  const podLabels = { ...labels, 'app.kubernetes.io/component': 'app' };
  const host = hostFor(input, settings);
  const env: V1EnvVar[] = [
    { name: 'STORE_URL', value: `https://${host}` },
    secretEnv('ADMIN_EMAIL', 'admin-email'),
    secretEnv('ADMIN_PASSWORD', 'admin-password'),
    ...(input.engine === 'woocommerce'
      ? [
          { name: 'WORDPRESS_DB_HOST', value: 'db:3306' },
          { name: 'WORDPRESS_DB_NAME', value: 'store' },
          { name: 'WORDPRESS_DB_USER', value: 'store' },
          secretEnv('WORDPRESS_DB_PASSWORD', 'db-password'),
        ]
      : [
          { name: 'DATABASE_HOST', value: 'db' },
          { name: 'DATABASE_NAME', value: 'store' },
          { name: 'DATABASE_USER', value: 'store' },
          secretEnv('DATABASE_PASSWORD', 'db-password'),
        ]),
  ];
  const readiness: V1Probe = input.engine === 'woocommerce'
    ? { httpGet: { path: '/wp-login.php', port: appPort }, periodSeconds: 5 }
    : { httpGet: { path: '/health', port: appPort }, periodSeconds: 5 };
  return [
    {
      apiVersion: 'v1', kind: 'Service',
      metadata: { name: 'app', namespace: ns, labels: podLabels },
      spec: { selector: { 'switchyard.dev/store': input.storeId, 'app.kubernetes.io/component': 'app' }, ports: [{ name: 'http', port: 80, targetPort: appPort }] },
    } satisfies V1Service,
    {
      apiVersion: 'apps/v1', kind: 'Deployment',
      metadata: { name: 'app', namespace: ns, labels: podLabels },
      spec: {
        replicas: size.replicas,
        selector: { matchLabels: { 'switchyard.dev/store': input.storeId, 'app.kubernetes.io/component': 'app' } },
        template: {
          metadata: { labels: podLabels },
          spec: {
            automountServiceAccountToken: false,
            containers: [{
              name: 'app', image: settings.images[input.engine].app, env,
              ports: [{ name: 'http', containerPort: appPort }],
              readinessProbe: readiness,
            }],
          },
        },
      },
    } satisfies V1Deployment,
    {
      apiVersion: 'networking.k8s.io/v1', kind: 'Ingress',
      metadata: {
        name: 'storefront', namespace: ns, labels: podLabels,
        annotations: { 'cert-manager.io/cluster-issuer': settings.clusterIssuer },
      },
      spec: {
        ingressClassName: settings.ingressClass,
        tls: [{ hosts: [host], secretName: 'storefront-tls' }],
        rules: [{
          host,
          http: { paths: [{ path: '/', pathType: 'Prefix', backend: { service: { name: 'app', port: { name: 'http' } } } }] },
        }],
      },
    } satisfies V1Ingress,
  ];
}

function guardrails(input: StoreInput, ns: string, labels: Record<string, string>, size: PlanSize, settings: ClusterSettings): KubeObject[] {
  const meta = (name: string) => ({ name, namespace: ns, labels });
  return [
    { apiVersion: 'v1', kind: 'ResourceQuota', metadata: meta('store-quota'), spec: { hard: size.quota } } satisfies V1ResourceQuota,
    {
      apiVersion: 'v1', kind: 'LimitRange', metadata: meta('store-limits'),
      spec: { limits: [{ type: 'Container', _default: size.limits.default, defaultRequest: size.limits.defaultRequest, max: size.limits.max }] },
    } satisfies V1LimitRange,
    // Deny everything, then allow only what a store needs.
    {
      apiVersion: 'networking.k8s.io/v1', kind: 'NetworkPolicy', metadata: meta('default-deny'),
      spec: { podSelector: {}, policyTypes: ['Ingress', 'Egress'] },
    } satisfies V1NetworkPolicy,
    {
      apiVersion: 'networking.k8s.io/v1', kind: 'NetworkPolicy', metadata: meta('allow-same-namespace'),
      spec: {
        podSelector: {}, policyTypes: ['Ingress', 'Egress'],
        ingress: [{ _from: [{ podSelector: {} }] }],
        egress: [{ to: [{ podSelector: {} }] }],
      },
    } satisfies V1NetworkPolicy,
    {
      apiVersion: 'networking.k8s.io/v1', kind: 'NetworkPolicy', metadata: meta('allow-ingress-controller'),
      spec: {
        podSelector: { matchLabels: { 'app.kubernetes.io/component': 'app' } },
        policyTypes: ['Ingress'],
        ingress: [{
          _from: [{ namespaceSelector: { matchLabels: { 'kubernetes.io/metadata.name': settings.ingressNamespace } } }],
          ports: [{ protocol: 'TCP', port: ENGINES[input.engine].appPort }],
        }],
      },
    } satisfies V1NetworkPolicy,
    {
      apiVersion: 'networking.k8s.io/v1', kind: 'NetworkPolicy', metadata: meta('allow-dns'),
      spec: {
        podSelector: {}, policyTypes: ['Egress'],
        egress: [{
          to: [{
            namespaceSelector: { matchLabels: { 'kubernetes.io/metadata.name': 'kube-system' } },
            podSelector: { matchLabels: { 'k8s-app': 'kube-dns' } },
          }],
          ports: [{ protocol: 'UDP', port: 53 }, { protocol: 'TCP', port: 53 }],
        }],
      },
    } satisfies V1NetworkPolicy,
  ];
}

/** Every object of a store except its Secret, in apply order (the namespace first). */
export function storeManifests(input: StoreInput, settings: ClusterSettings): KubeObject[] {
  const ns = namespaceFor(input);
  const labels = storeLabels(input);
  const size = PLAN_SIZES[input.plan];
  return [
    {
      apiVersion: 'v1', kind: 'Namespace',
      metadata: { name: ns, labels: { ...labels, 'pod-security.kubernetes.io/enforce': 'baseline' } },
    } satisfies V1Namespace,
    ...guardrails(input, ns, labels, size, settings),
    ...database(input, ns, labels, size, settings),
    ...app(input, ns, labels, size, settings),
  ];
}
