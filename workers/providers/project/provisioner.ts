/**
 * The ProjectProvisioner port. Every method is idempotent: a retried or re-claimed step that
 * repeats work already done must succeed and converge on the same end state.
 */
export interface ProvisionInput {
  projectId: string;
  plan: 'free' | 'pro' | 'enterprise';
  region: string;
}

export interface Provisioned {
  providerRef: string;
  /** Contains the password: sealed before it is stored, never logged. */
  connectionString: string;
  apiUrl: string | null;
}

export interface ProjectProvisioner {
  readonly name: string;
  provision(input: ProvisionInput, signal: AbortSignal): Promise<Provisioned>;
  suspend(providerRef: string, signal: AbortSignal): Promise<void>;
  resume(providerRef: string, signal: AbortSignal): Promise<void>;
  remove(providerRef: string, signal: AbortSignal): Promise<void>;
}
