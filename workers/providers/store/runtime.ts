/**
 * The StoreRuntime port. Provisioning and teardown are step functions: each call does a short,
 * idempotent piece of work and says whether the store is ready (or gone), or what to wait for.
 * A runtime that has to wait (Kubernetes rolling out pods) returns `wait` and is called again
 * by a continuation with the state it returned; nothing blocks for long.
 */
export type Engine = 'woocommerce' | 'medusa';
export type StorePlan = 'free' | 'pro' | 'enterprise';

export interface StoreInput {
  storeId: string;
  tenantId: string;
  name: string;
  engine: Engine;
  plan: StorePlan;
}

export interface StoreCredentials {
  admin_email: string;
  /** Generated, shown once; only a hash of it is kept by the store itself. */
  admin_password: string;
  database_url?: string;
}

export type ProvisionStep =
  | {
      type: 'ready';
      providerRef: string;
      urls: { storefront: string | null; admin: string | null };
      details: Record<string, unknown>;
      credentials: StoreCredentials;
    }
  | { type: 'wait'; delayMs: number; state: unknown; note: string; providerRef?: string; details?: Record<string, unknown> };

export type TeardownStep = { type: 'gone' } | { type: 'wait'; delayMs: number; state: unknown; note: string };

export interface StoreRuntime {
  readonly name: 'postgres' | 'kubernetes';
  provision(input: StoreInput, state: unknown, signal: AbortSignal): Promise<ProvisionStep>;
  teardown(input: StoreInput, providerRef: string | null, state: unknown, signal: AbortSignal): Promise<TeardownStep>;
}
