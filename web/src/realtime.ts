/**
 * Live updates: one EventSource on the caller's tenant topic. Browsers can't send headers on
 * EventSource, so each connection uses a fresh short-lived token from POST /v1/events/token (the
 * API key never goes in a URL). When a connection drops, a new token is fetched and the stream
 * resumes from the last event id, so nothing is missed; repeats are dropped by id.
 */
import { call, type Api } from './api/client';

export type LiveEvent =
  | { event: 'status'; id: string; data: { type: 'project' | 'store'; previous_status: string | null; resource: { id: string; status: string } } }
  | { event: 'job'; id: string; data: { id: string; kind: string; status: string; subject_type: string | null; subject_id: string | null; attempts: number; steps: number; last_error: string | null } };

export type LiveState = 'connecting' | 'live' | 'reconnecting';

export function subscribe(api: Api, topics: string[], onEvent: (e: LiveEvent) => void, onState: (s: LiveState) => void): () => void {
  let source: EventSource | null = null;
  let lastId: string | null = null;
  let stopped = false;
  let retry = 0;
  let timer: ReturnType<typeof setTimeout> | undefined;
  const seen = new Set<string>();

  const deliver = (event: 'status' | 'job') => (m: MessageEvent<string>) => {
    if (m.lastEventId) {
      if (seen.has(m.lastEventId)) return;
      seen.add(m.lastEventId);
      if (seen.size > 2000) seen.delete(seen.values().next().value as string);
      lastId = m.lastEventId;
    }
    try {
      onEvent({ event, id: m.lastEventId, data: JSON.parse(m.data) } as LiveEvent);
    } catch {
      // A malformed event is skipped, never fatal to the stream.
    }
  };

  async function connect() {
    if (stopped) return;
    onState(retry === 0 ? 'connecting' : 'reconnecting');
    try {
      const { token } = await call(api.POST('/v1/events/token'));
      if (stopped) return;
      const q = new URLSearchParams();
      for (const t of topics) q.append('topic', t);
      q.set('token', token);
      if (lastId) q.set('last_event_id', lastId);
      source = new EventSource(`/v1/events?${q}`);
      source.addEventListener('status', deliver('status'));
      source.addEventListener('job', deliver('job'));
      source.onopen = () => {
        retry = 0;
        onState('live');
      };
      source.onerror = () => {
        // Reconnect ourselves, with a new token (the old one may have expired).
        source?.close();
        source = null;
        schedule();
      };
    } catch {
      schedule();
    }
  }

  function schedule() {
    if (stopped) return;
    retry++;
    onState('reconnecting');
    timer = setTimeout(connect, Math.min(15_000, 500 * 2 ** Math.min(retry, 5)));
  }

  void connect();
  return () => {
    stopped = true;
    clearTimeout(timer);
    source?.close();
  };
}
