/**
 * Circuit breakers around every outside dependency: the Kubernetes API, the Supabase, Render and
 * Sentry APIs, QStash publishes, and each webhook host. A breaker opens when more than half of the
 * calls of the last 10 s failed (with at least a few calls), fails fast while open, lets one probe
 * through after 5 s (half-open), and closes when the probe succeeds. A step that meets an open
 * breaker waits as a continuation (no attempt used) until the breaker may probe again.
 *
 * Built on cockatiel (SamplingBreaker: a sliding window of buckets), which runs unchanged on Node,
 * Workers and Deno. One registry per process, passed in; breakers are made on first use.
 * cockatiel itself is loaded on first use too: it makes an AbortController when its module is
 * evaluated, which Workers refuse at global scope (the Worker would not start).
 */
import type { CircuitBreakerPolicy } from 'cockatiel';

type Cockatiel = typeof import('cockatiel');
let cockatiel: Cockatiel | undefined;
let loading: Promise<Cockatiel> | undefined;
const load = async (): Promise<Cockatiel> => (cockatiel ??= await (loading ??= import('cockatiel')));

export type BreakerState = 'closed' | 'open' | 'half_open';

/** A call refused because its dependency's breaker is open: wait `retryAfterMs`, then try again. */
export class CircuitOpenError extends Error {
  constructor(readonly dependency: string, readonly retryAfterMs: number) {
    super(`${dependency} is failing: its circuit breaker is open, so the call was not made (next try in ${Math.ceil(retryAfterMs / 1000)} s)`);
    this.name = 'CircuitOpenError';
  }
}

export interface BreakerOptions {
  /** Failure share over the window that opens the breaker (default 0.5). */
  threshold?: number;
  /** The sliding window (default 10 s). */
  windowMs?: number;
  /** Calls per second needed before the breaker can open (default 0.5: five calls in 10 s). */
  minimumRps?: number;
  /** Open this long before a probe is let through (default 5 s). */
  halfOpenAfterMs?: number;
  /** Told of every transition (logs and metrics). */
  onChange?: (dependency: string, group: string, to: BreakerState) => void;
  now?: () => number;
}

export interface BreakerStatus {
  dependency: string;
  group: string;
  state: BreakerState;
  since: string;
}

export interface Breakers {
  /**
   * Runs `fn` through the breaker of `dependency` (a name, or `<group>:<key>` such as
   * `webhook:hooks.example.com`). `counts` says which errors are the dependency failing (default:
   * all); an answer such as a 404 is not.
   */
  run<T>(dependency: string, fn: (signal: AbortSignal) => Promise<T>, counts?: (err: unknown) => boolean): Promise<T>;
  status(): BreakerStatus[];
}

function stateOf(c: Cockatiel, state: number): BreakerState {
  const { CircuitState } = c;
  return state === CircuitState.Closed ? 'closed' : state === CircuitState.HalfOpen ? 'half_open' : 'open'; // Open, Isolated
}

export const groupOf = (dependency: string) => dependency.split(':')[0]!;

export function createBreakers(opts: BreakerOptions = {}): Breakers {
  const halfOpenAfter = opts.halfOpenAfterMs ?? 5000;
  const now = opts.now ?? Date.now;
  const all = new Map<string, { policy: CircuitBreakerPolicy; counts: { fn: (err: unknown) => boolean }; since: number; openedAt: number }>();

  const get = (c: Cockatiel, dependency: string) => {
    const { CircuitState, SamplingBreaker, circuitBreaker, handleWhen } = c;
    let b = all.get(dependency);
    if (!b) {
      const counts = { fn: (_err: unknown) => true };
      const policy = circuitBreaker(handleWhen((err) => counts.fn(err)), {
        halfOpenAfter,
        breaker: new SamplingBreaker({ threshold: opts.threshold ?? 0.5, duration: opts.windowMs ?? 10_000, minimumRps: opts.minimumRps ?? 0.5 }),
      });
      const entry = { policy, counts, since: now(), openedAt: 0 };
      policy.onStateChange((state) => {
        entry.since = now();
        if (state === CircuitState.Open) entry.openedAt = now();
        opts.onChange?.(dependency, groupOf(dependency), stateOf(c, state));
      });
      all.set(dependency, entry);
      b = entry;
    }
    return b;
  };

  return {
    async run(dependency, fn, counts) {
      const c = await load();
      const b = get(c, dependency);
      if (counts) b.counts.fn = counts;
      try {
        return await b.policy.execute(({ signal }) => fn(signal));
      } catch (err) {
        if (err instanceof c.BrokenCircuitError || err instanceof c.IsolatedCircuitError) {
          throw new CircuitOpenError(dependency, Math.max(250, b.openedAt + halfOpenAfter - now()));
        }
        throw err;
      }
    },
    status() {
      return [...all.entries()].map(([dependency, b]) => ({
        dependency, group: groupOf(dependency), state: stateOf(cockatiel!, b.policy.state), since: new Date(b.since).toISOString(),
      }));
    },
  };
}

/** Calls pass straight through (tests of pure logic; nothing configured). */
export const noBreakers: Breakers = { run: (_d, fn) => fn(new AbortController().signal), status: () => [] };
