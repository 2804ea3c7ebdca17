/**
 * Live events over whichever transport GET /v1/realtime names: Supabase Realtime (private
 * channels through @supabase/supabase-js, an optional peer dependency, with short-lived tokens
 * from POST /v1/realtime/token) or Server-Sent Events. Both carry the same events with the same
 * payloads, so handlers don't change with the transport.
 *
 * SSE in a browser: an EventSource per connection with a fresh read-only token from
 * POST /v1/events/token (EventSource can't send headers, and the API key never goes in a URL).
 * Elsewhere (Node, Deno, workers): the stream read with fetch, the key in its Authorization
 * header. Either way a dropped stream is resumed from the last event id, so nothing is missed,
 * and repeats are dropped by id.
 *
 * Supabase Realtime has no Last-Event-ID: after a rejoin a `resync` event tells the caller to
 * refetch what it shows.
 */
import type { Client } from 'openapi-fetch';
import type { components, paths } from './schema.js';
import { SwitchyardError } from './errors.js';

type S = components['schemas'];
type Framed<T> = T & { topics: string[]; event_id: string };
export type LiveEvent =
  | { event: 'status'; id: string; data: Framed<S['SseStatusEvent']> }
  | { event: 'job'; id: string; data: Framed<S['SseJobEvent']> }
  | { event: 'decision'; id: string; data: Framed<S['SseDecisionEvent']> }
  | { event: 'audit'; id: string; data: Framed<S['SseAuditEvent']> }
  | { event: 'log'; id: string; data: Framed<S['SseLogEvent']> }
  /** The transport rejoined after a gap it can't replay: refetch what is shown. */
  | { event: 'resync'; id: ''; data: null };

export type LiveState = 'connecting' | 'live' | 'reconnecting';
export const EVENT_NAMES = ['status', 'job', 'decision', 'audit', 'log'] as const;

export interface SubscribeOptions {
  onState?: (s: LiveState) => void;
  /** Resume after this event id (SSE only). */
  lastEventId?: string;
  /** Force a transport instead of the one the deployment prefers. */
  transport?: 'sse' | 'supabase';
}

export interface RealtimeContext {
  client: Client<paths>;
  baseUrl: string;
  /** Fetch with the caller's credentials (and no retries: a stream is resumed, not retried). */
  fetch: (req: Request) => Promise<Response>;
  authorization: () => string | null;
}

type Transport = S['RealtimeTransport'];

const unwrap = async <T>(p: Promise<{ data?: T; error?: unknown; response: Response }>): Promise<T> => {
  const r = await p;
  if (!r.response.ok || r.data === undefined) throw await SwitchyardError.from(r.response, r.error);
  return r.data;
};

export function subscribe(ctx: RealtimeContext, topics: string[], onEvent: (e: LiveEvent) => void, opts: SubscribeOptions = {}): () => void {
  const onState = opts.onState ?? (() => {});
  let stop: (() => void) | null = null;
  let stopped = false;
  onState('connecting');
  const sse = () => subscribeSse(ctx, topics, onEvent, onState, opts.lastEventId);
  unwrap(ctx.client.GET('/v1/realtime')).then(
    (how) => {
      if (stopped) return;
      const want = opts.transport ?? how.transport;
      const supabase = how.transports.find((t): t is Extract<Transport, { transport: 'supabase' }> => t.transport === 'supabase');
      stop = want === 'supabase' && supabase ? subscribeSupabase(ctx, supabase, topics, onEvent, onState) : sse();
    },
    // An API that can't say (older, or unreachable for a moment): SSE, which retries by itself.
    () => {
      if (!stopped) stop = sse();
    },
  );
  return () => {
    stopped = true;
    stop?.();
  };
}

function dedupe() {
  const seen = new Set<string>();
  return (id: string) => {
    if (!id) return true;
    if (seen.has(id)) return false;
    seen.add(id);
    if (seen.size > 2000) seen.delete(seen.values().next().value as string);
    return true;
  };
}

function subscribeSupabase(
  ctx: RealtimeContext,
  where: { url: string; anon_key: string },
  topics: string[],
  onEvent: (e: LiveEvent) => void,
  onState: (s: LiveState) => void,
): () => void {
  let stopped = false;
  let cleanup: (() => void) | null = null;
  let token: { access_token: string; expires_at: string } | null = null;
  const fresh = dedupe();
  // Called by the client on connect and on every heartbeat: a new token a minute before the old ends.
  const accessToken = async () => {
    if (!token || Date.parse(token.expires_at) - Date.now() < 60_000) token = await unwrap(ctx.client.POST('/v1/realtime/token'));
    return token.access_token;
  };
  void import('@supabase/supabase-js').then(async ({ createClient }) => {
    if (stopped) return;
    const client = createClient(where.url, where.anon_key, { accessToken });
    // A join carries the token the client holds when subscribe() runs; without this the first
    // join would go out with the anon key and be refused.
    await client.realtime.setAuth();
    if (stopped) return;
    const joined = new Set<string>();
    const everJoined = new Set<string>();
    const channels = topics.map((topic) => {
      const channel = client.channel(topic, { config: { private: true } });
      for (const event of EVENT_NAMES) {
        channel.on('broadcast', { event }, (m: { payload: Record<string, unknown> & { event_id?: string } }) => {
          const id = String(m.payload.event_id ?? '');
          if (fresh(id)) onEvent({ event, id, data: m.payload } as LiveEvent);
        });
      }
      channel.subscribe((status: string) => {
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

function subscribeSse(ctx: RealtimeContext, topics: string[], onEvent: (e: LiveEvent) => void, onState: (s: LiveState) => void, resumeFrom?: string): () => void {
  let lastId: string | null = resumeFrom ?? null;
  let stopped = false;
  let retry = 0;
  let delay = 2000;
  let timer: ReturnType<typeof setTimeout> | undefined;
  let close: (() => void) | null = null;
  const fresh = dedupe();

  const deliver = (event: string, id: string, data: string) => {
    if (!(EVENT_NAMES as readonly string[]).includes(event) || !fresh(id)) return;
    if (id) lastId = id;
    try {
      onEvent({ event, id, data: JSON.parse(data) } as LiveEvent);
    } catch {
      // A malformed event is skipped, never fatal to the stream.
    }
  };
  const opened = () => {
    retry = 0;
    onState('live');
  };

  async function connect() {
    if (stopped) return;
    onState(retry === 0 ? 'connecting' : 'reconnecting');
    const q = new URLSearchParams();
    for (const t of topics) q.append('topic', t);
    try {
      if (typeof EventSource === 'function') {
        // Browsers: EventSource, with a token in the URL instead of the key.
        const { token } = await unwrap(ctx.client.POST('/v1/events/token'));
        if (stopped) return;
        q.set('token', token);
        if (lastId) q.set('last_event_id', lastId);
        const source = new EventSource(`${ctx.baseUrl}/v1/events?${q}`);
        for (const name of EVENT_NAMES) source.addEventListener(name, (m) => deliver(name, (m as MessageEvent<string>).lastEventId, (m as MessageEvent<string>).data));
        source.onopen = opened;
        source.onerror = () => {
          // Reconnect ourselves, with a new token (the old one may have expired).
          source.close();
          close = null;
          schedule();
        };
        close = () => source.close();
        return;
      }
      const abort = new AbortController();
      close = () => abort.abort();
      const headers = new Headers({ Accept: 'text/event-stream' });
      const auth = ctx.authorization();
      if (auth) headers.set('Authorization', auth);
      if (lastId) headers.set('Last-Event-ID', lastId);
      const res = await ctx.fetch(new Request(`${ctx.baseUrl}/v1/events?${q}`, { headers, signal: abort.signal }));
      if (!res.ok || !res.body) throw await SwitchyardError.from(res);
      opened();
      await readFrames(res.body, (f) => {
        if (f.retry !== undefined) delay = f.retry;
        if (f.data !== undefined) deliver(f.event ?? 'message', f.id ?? '', f.data);
      });
      if (!stopped) schedule();
    } catch (err) {
      // A refusal that a retry can't fix (bad key, a topic outside the tenant) ends the stream.
      if (err instanceof SwitchyardError && err.status >= 400 && err.status < 500 && err.status !== 408 && err.status !== 429) {
        stopped = true;
        onState('reconnecting');
        return;
      }
      schedule();
    }
  }

  function schedule() {
    if (stopped) return;
    retry++;
    onState('reconnecting');
    timer = setTimeout(connect, Math.min(15_000, Math.max(delay, 500 * 2 ** Math.min(retry - 1, 5))));
  }

  void connect();
  return () => {
    stopped = true;
    clearTimeout(timer);
    close?.();
  };
}

interface Frame { event?: string; id?: string; data?: string; retry?: number }

/** Reads a text/event-stream (WHATWG HTML §9.2.6) frame by frame until it ends. */
export async function readFrames(body: ReadableStream<Uint8Array>, onFrame: (f: Frame) => void): Promise<void> {
  const reader = body.pipeThrough(new TextDecoderStream() as unknown as TransformStream<Uint8Array, string>).getReader();
  let buffer = '';
  let frame: Frame = {};
  const line = (l: string) => {
    if (l === '') {
      if (frame.data !== undefined || frame.retry !== undefined) onFrame(frame);
      frame = {};
      return;
    }
    if (l.startsWith(':')) return;
    const colon = l.indexOf(':');
    const field = colon === -1 ? l : l.slice(0, colon);
    let value = colon === -1 ? '' : l.slice(colon + 1);
    if (value.startsWith(' ')) value = value.slice(1);
    if (field === 'data') frame.data = frame.data === undefined ? value : `${frame.data}\n${value}`;
    else if (field === 'event') frame.event = value;
    else if (field === 'id' && !value.includes('\0')) frame.id = value;
    else if (field === 'retry' && /^\d+$/.test(value)) frame.retry = Number(value);
  };
  for (;;) {
    const { value, done } = await reader.read();
    if (done) return;
    buffer += value;
    const lines = buffer.split(/\r\n|\n|\r/);
    buffer = lines.pop()!;
    for (const l of lines) line(l);
  }
}
