/**
 * A resource list that stays current without reloads: the first page from the API, more on
 * request, and every live `status` event for the type refetches that one resource through the API
 * (the event says what changed; the API says what it is now). Job events are kept per subject, so
 * rows can show the progress of long actions.
 */
import { useCallback, useEffect, useState } from 'preact/hooks';
import type { ApiError } from './api/client';
import { useSession } from './context';
import type { LiveEvent } from './api/client';

type JobEventData = Extract<LiveEvent, { event: 'job' }>['data'];

export function useLiveList<T extends { id: string; status: string }>(opts: {
  type: 'project' | 'store' | 'rollout';
  loadPage: (cursor: string | null) => Promise<{ data: T[] } & ({ pagination: { next_cursor: string | null } } | { next_cursor: string | null })>;
  loadOne: (id: string) => Promise<T>;
}) {
  const { onLive } = useSession();
  const [items, setItems] = useState<T[] | null>(null);
  const [next, setNext] = useState<string | null>(null);
  const [error, setError] = useState<ApiError | null>(null);
  const [jobs, setJobs] = useState<Record<string, JobEventData>>({});

  const upsert = useCallback((item: T) => {
    setItems((list) => {
      const rest = (list ?? []).filter((x) => x.id !== item.id);
      if (item.status === 'deleted') return rest;
      const i = (list ?? []).findIndex((x) => x.id === item.id);
      if (i < 0) return [item, ...rest];
      const copy = [...(list ?? [])];
      copy[i] = item;
      return copy;
    });
  }, []);

  const loadMore = useCallback(async (cursor: string | null) => {
    try {
      const page = await opts.loadPage(cursor);
      setItems((list) => (cursor ? [...(list ?? []), ...page.data.filter((p) => !(list ?? []).some((x) => x.id === p.id))] : page.data));
      // The client asks for the version it was built against (api/client.ts): pagination.
      setNext('pagination' in page ? page.pagination.next_cursor : page.next_cursor);
      setError(null);
    } catch (e) {
      setError(e as ApiError);
      setItems((list) => list ?? []);
    }
  }, []);

  useEffect(() => {
    void loadMore(null);
    return onLive((e) => {
      if (e.event === 'resync') {
        void loadMore(null);
      } else if (e.event === 'status' && e.data.type === opts.type) {
        opts.loadOne(e.data.resource.id).then(upsert, () => {});
      } else if (e.event === 'job' && e.data.subject_type === opts.type && e.data.subject_id) {
        const subject = e.data.subject_id;
        setJobs((j) => ({ ...j, [subject]: e.data }));
      }
    });
  }, []);

  return { items, next, error, setError, upsert, loadMore, jobs };
}

export function jobProgress(job: JobEventData | undefined): string | null {
  if (!job || job.status === 'succeeded' || job.status === 'canceled') return null;
  const what = job.kind.split('.').pop();
  if (job.status === 'dead') return `${what} failed${job.last_error ? `: ${job.last_error}` : ''}`;
  return `${what}: ${job.status}, step ${job.steps + 1}${job.attempts > 1 ? `, attempt ${job.attempts}` : ''}`;
}
