/**
 * Providers behind their circuit breakers (core/breakers.ts), wrapped where the composition root
 * builds them, so tasks call them as before: a failing Kubernetes API or log provider API is
 * called less, and a step that meets its open breaker waits (run-job turns CircuitOpenError into a
 * continuation).
 */
import type { Breakers } from '../../core/breakers.ts';
import type { StoreRuntime } from './store/runtime.ts';
import type { LogPuller } from './logs/pull/puller.ts';
import { ProviderUnavailable } from './logs/pull/http.ts';

/** An HTTP status on an error, as the Kubernetes client and fetch-based clients attach it. */
function statusOf(err: unknown): number | undefined {
  const e = err as { code?: unknown; status?: unknown; statusCode?: unknown; response?: { statusCode?: unknown; status?: unknown } } | null;
  for (const v of [e?.statusCode, e?.status, e?.code, e?.response?.statusCode, e?.response?.status]) if (typeof v === 'number' && v >= 100 && v < 600) return v;
  return undefined;
}

/** The dependency failing: no answer, a 5xx or a 429. A 4xx is an answer (our request was wrong), and an abort is ours. */
export function dependencyFailed(err: unknown): boolean {
  if ((err as { name?: string } | null)?.name === 'AbortError') return false;
  const status = statusOf(err);
  return status === undefined || status >= 500 || status === 429;
}

export function guardStoreRuntime(runtime: StoreRuntime, breakers: Breakers, dependency: string): StoreRuntime {
  return {
    name: runtime.name,
    provision: (input, state, signal) => breakers.run(dependency, () => runtime.provision(input, state, signal), dependencyFailed),
    teardown: (input, ref, state, signal) => breakers.run(dependency, () => runtime.teardown(input, ref, state, signal), dependencyFailed),
  };
}

export function guardPuller(puller: LogPuller, breakers: Breakers): LogPuller {
  // Only an outage counts: a rate limit or a refused key is the provider answering.
  return { provider: puller.provider, pull: (req) => breakers.run(`${puller.provider}-api`, () => puller.pull(req), (err) => err instanceof ProviderUnavailable) };
}
