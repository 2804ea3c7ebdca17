/**
 * The ProjectProvider port, step-based like the store runtime's: each call does a short, idempotent
 * piece of work and says whether the project has arrived (`ready`) or what it is waiting for
 * (`wait`, with the state the next call starts from). A provider whose projects take minutes
 * (Supabase) is called again by continuations; none waits inside a call.
 *
 * A step that is about to make a call it must not repeat blindly (creating a project) records its
 * intent first with `checkpoint`, which commits the job's state before the call. A step that
 * starts from such a state looks for what the interrupted call may have made before making it
 * again.
 */
import type { SecretBox } from '../../../core/crypto.ts';

export type ProjectPlan = 'free' | 'pro' | 'enterprise';

export interface ProvisionInput {
  projectId: string;
  tenantId: string;
  name: string;
  plan: ProjectPlan;
  region: string;
  /** An import: adopt this existing provider project instead of creating one (its database password sealed, if the tenant gave it). */
  adopt?: { ref: string; sealedPassword?: string };
}

/** A project the provider already knows: its ref and what it reported last. */
export interface ProjectHandle {
  projectId: string;
  tenantId: string;
  name: string;
  /** Null when provisioning never got as far as one (a delete then looks for what it may have made). */
  providerRef: string | null;
  details: Record<string, unknown>;
}

/** Sealed together at rest (one ciphertext); only `/credentials` opens them. */
export interface ProjectCredentials {
  /** Absent for an adopted Supabase project whose database password was not given (the Management API can't read it). */
  connection_string?: string;
  pooled_connection_string?: string;
  api_url?: string;
  /** The key a browser may hold (Supabase's publishable or legacy anon key). */
  publishable_key?: string;
  /** Full access (Supabase's secret or service_role key): shown to admin keys only. */
  secret_key?: string;
}

export interface Provisioned {
  providerRef: string;
  credentials: ProjectCredentials;
  apiUrl: string | null;
  details: Record<string, unknown>;
  /** An adopted project its provider reports paused: it starts `suspended`. */
  paused?: boolean;
  /** A log source the project's provider offers for its logs, created with the project (Supabase's). */
  logSource?: { provider: 'supabase'; config: Record<string, unknown>; credentials: { api_key: string }; pullIntervalS: number };
}

export type ProjectStep<R> =
  | { type: 'ready'; result: R; details?: Record<string, unknown> }
  | {
      type: 'wait';
      delayMs: number;
      state: unknown;
      /** What it waits for, in words a person reads (kept as the job's progress, and as the reason if the deadline passes). */
      note: string;
      /** The provider's own status while waiting, and since when (ms): the reason a deadline gives. */
      providerStatus?: string;
      since?: number;
      /** The project still serves its clients (a deadline makes it `degraded`, not `failed`). */
      serving?: boolean;
      providerRef?: string;
      details?: Record<string, unknown>;
    };

export interface StepContext {
  /** The state the previous step returned (or checkpointed); null on the first. */
  state: unknown;
  signal: AbortSignal;
  /** Commits `state` as the job's checkpoint now, before a call that must not be repeated blindly. */
  checkpoint(state: unknown): Promise<void>;
  box: SecretBox;
}

/** A health reading: the project as a whole, and each service the provider reports on. */
export interface HealthReading {
  status: 'healthy' | 'unhealthy' | 'unknown';
  services: { name: string; status: string; error?: string }[];
  /** The provider's own status of the project (Supabase's ACTIVE_HEALTHY, …), when it has one. */
  providerStatus?: string;
  error?: string;
}

export interface HealthContext {
  /** The project's opened credentials (null before it has any). Never logged. */
  credentials: Record<string, string> | null;
  signal: AbortSignal;
}

export interface ProjectProvider {
  readonly name: 'postgres' | 'supabase';
  provision(input: ProvisionInput, ctx: StepContext): Promise<ProjectStep<Provisioned>>;
  suspend(project: ProjectHandle, ctx: StepContext): Promise<ProjectStep<void>>;
  resume(project: ProjectHandle, ctx: StepContext): Promise<ProjectStep<void>>;
  remove(project: ProjectHandle, ctx: StepContext): Promise<ProjectStep<void>>;
  /** One short reading of a live project's health. */
  health(project: ProjectHandle, ctx: HealthContext): Promise<HealthReading>;
}

export const ready = <R>(result: R, details?: Record<string, unknown>): ProjectStep<R> => ({ type: 'ready', result, ...(details ? { details } : {}) });
