/**
 * Live updates, over whichever transport GET /v1/realtime names first: Supabase Realtime (private
 * channels through @supabase/supabase-js, with short-lived tokens from POST /v1/realtime/token)
 * or Server-Sent Events. Both carry the same events with the same payloads.
 *
 * Supabase Realtime has no Last-Event-ID: after a rejoin, a `resync` event tells the views to
 * refetch what they show, so a status that changed while the channel was down is never stale.
 *
 * SSE: one EventSource on the caller's tenant topic. Browsers can't send headers on
 * EventSource, so each connection uses a fresh short-lived token from POST /v1/events/token (the
 * API key never goes in a URL). When a connection drops, a new token is fetched and the stream
 * resumes from the last event id, so nothing is missed; repeats are dropped by id.
 */
import { call, type Api } from './api/client';

export type LiveEvent =
  | { event: 'status'; id: string; data: { type: 'project' | 'store' | 'rollout'; previous_status: string | null; resource: { id: string; status: string } } }
  | { event: 'decision'; id: string; data: { id: string; rollout_id: string; verdict: string; sentence: string; step_index: number; shadow: boolean } }
  | { event: 'job'; id: string; data: { id: string; kind: string; status: string; subject_type: string | null; subject_id: string | null; attempts: number; steps: number; last_error: string | null } }
  /** The transport rejoined after a gap it can't replay: refetch what is shown. */
  | { event: 'resync'; id: ''; data: null };

export type LiveState = 'connecting' | 'live' | 'reconnecting';

export function subscribe(api: Api, topics: string[], onEvent: (e: LiveEvent) => void, onState: (s: LiveState) => void): () => void {
  let stop: (() => void) | null = null;
  let stopped = false;
  onState('connecting');
  call(api.GET('/v1/realtime')).then(
    (how) => {
      if (stopped) return;
      const supabase = how.transports.find((t) => t.transport === 'supabase');
      stop = supabase && supabase.transport === 'supabase'
        ? subscribeSupabase(api, supabase, topics, onEvent, onState)
        : subscribeSse(api, topics, onEvent, onState);
    },
    // An API that can't say (older, or unreachable for a moment): SSE, which retries by itself.
    () => {
      if (!stopped) stop = subscribeSse(api, topics, onEvent, onState);
    },
  );
  return () => {
    stopped = true;
    stop?.();
  };
}

function subscribeSupabase(
  api: Api,
  where: { url: string; anon_key: string },
  topics: string[],
  onEvent: (e: LiveEvent) => void,
  onState: (s: LiveState) => void,
): () => void {
  let stopped = false;
  let cleanup: (() => void) | null = null;
  let token: { access_token: string; expires_at: string } | null = null;
  const seen = new Set<string>();
  // Called by the client on connect and on every heartbeat: a new token a minute before the old ends.
  const accessToken = async () => {
    if (!token || Date.parse(token.expires_at) - Date.now() < 60_000) token = await call(api.POST('/v1/realtime/token'));
    return token.access_token;
  };
  void import('@supabase/supabase-js').then(async ({ createClient }) => {
    if (stopped) return;
    const client = createClient(where.url, where.anon_key, { accessToken });
    // A join carries the token the client holds when subscribe() runs; without this, the first
    // join would go out with the anon key and be refused.
    await client.realtime.setAuth();
    if (stopped) return;
    const joined = new Set<string>();
    const everJoined = new Set<string>();
    const channels = topics.map((topic) => {
      const channel = client.channel(topic, { config: { private: true } });
      for (const event of ['status', 'job', 'decision'] as const) {
        channel.on('broadcast', { event }, (m: { payload: Record<string, unknown> & { event_id?: string } }) => {
          const id = String(m.payload.event_id ?? '');
          if (id) {
            if (seen.has(id)) return;
            seen.add(id);
            if (seen.size > 2000) seen.delete(seen.values().next().value as string);
          }
          onEvent({ event, id, data: m.payload } as LiveEvent);
        });
      }
      channel.subscribe((status) => {
        if (status === 'SUBSCRIBED') {
          joined.add(topic);
          if (everJoined.has(topic)) onEvent({ event: 'resync', id: '', data: null });
          everJoined.add(topic);
          if (joined.size === topics.length) onState('live');
        } else {
          // CHANNEL_ERROR, TIMED_OUT, CLOSED: the client rejoins by itself, with a fresh token.
          joined.delete(topic);
          if (!stopped) onState('reconnecting');
        }
      });
      return channel;
    });
    cleanup = () => {
      for (const ch of channels) void client.removeChannel(ch);
    };
  }, () => onState('reconnecting'));
  return () => {
    stopped = true;
    cleanup?.();
  };
}

function subscribeSse(api: Api, topics: string[], onEvent: (e: LiveEvent) => void, onState: (s: LiveState) => void): () => void {
  let source: EventSource | null = null;
  let lastId: string | null = null;
  let stopped = false;
  let retry = 0;
  let timer: ReturnType<typeof setTimeout> | undefined;
  const seen = new Set<string>();

  const deliver = (event: 'status' | 'job' | 'decision') => (m: MessageEvent<string>) => {
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
      source.addEventListener('decision', deliver('decision'));
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
