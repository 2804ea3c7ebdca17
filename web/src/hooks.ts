/** Hooks the views share: live events, coalesced refreshes, the tenant's projects for pickers. */
import { useCallback, useEffect, useRef, useState } from 'preact/hooks';
import type { ApiError, LiveEvent, Project } from './api/client';
import { useSession } from './context';

/** Calls the latest `handler` for every live event while the view is mounted. */
export function useLive(handler: (e: LiveEvent) => void) {
  const { onLive } = useSession();
  const ref = useRef(handler);
  ref.current = handler;
  useEffect(() => onLive((e) => ref.current(e)), []);
}

/**
 * A refresh that never runs twice at once: a poke while one is running runs one more after it,
 * however many pokes came (a burst of live events costs two fetches, not one per event).
 */
export function useRefresh(run: () => Promise<void>): () => void {
  const ref = useRef(run);
  ref.current = run;
  const state = useRef<{ running: boolean; again: boolean }>({ running: false, again: false });
  return useCallback(() => {
    const s = state.current;
    if (s.running) {
      s.again = true;
      return;
    }
    s.running = true;
    void (async () => {
      do {
        s.again = false;
        try {
          await ref.current();
        } catch {
          // The view keeps what it showed; its own load reports errors.
        }
      } while (s.again);
      s.running = false;
    })();
  }, []);
}

/** The tenant's projects (the first 100, newest first), for the views that pick one. */
export function useProjects() {
  const { api } = useSession();
  const [projects, setProjects] = useState<Project[] | null>(null);
  const [error, setError] = useState<ApiError | null>(null);
  useEffect(() => {
    api.GET('/v1/projects', { params: { query: { limit: 100 } } })
      .then((p) => setProjects(p.data.filter((x) => x.status !== 'deleted')), (e: ApiError) => { setError(e); setProjects([]); });
  }, []);
  return { projects, error };
}
