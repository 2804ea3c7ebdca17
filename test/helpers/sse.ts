/** A minimal SSE client over fetch, for tests: collects events with their ids. */
export interface SseEvent {
  id: string | null;
  event: string;
  data: any;
  /** performance.now() when the chunk holding it arrived (the bench measures latency with it). */
  receivedAt: number;
}

export interface SseClient {
  events: SseEvent[];
  waitFor(pred: (e: SseEvent) => boolean, timeoutMs?: number): Promise<SseEvent>;
  close(): void;
  /** Resolves once the stream has said it is connected. */
  ready: Promise<void>;
}

export function openSse(url: string, headers: Record<string, string> = {}): SseClient {
  const controller = new AbortController();
  const events: SseEvent[] = [];
  const waiters: Array<() => void> = [];
  let markReady!: () => void;
  const ready = new Promise<void>((r) => (markReady = r));
  (async () => {
    const res = await fetch(url, { headers, signal: controller.signal });
    if (!res.ok || !res.body) throw new Error(`SSE ${res.status}: ${await res.text()}`);
    const reader = res.body.pipeThrough(new TextDecoderStream()).getReader();
    let buf = '';
    for (;;) {
      const { value, done } = await reader.read();
      if (done) break;
      const receivedAt = performance.now();
      buf += value;
      let idx: number;
      while ((idx = buf.indexOf('\n\n')) >= 0) {
        const block = buf.slice(0, idx);
        buf = buf.slice(idx + 2);
        if (block.includes(': connected')) markReady();
        let id: string | null = null;
        let event = 'message';
        const data: string[] = [];
        for (const line of block.split('\n')) {
          if (line.startsWith('id:')) id = line.slice(3).trim();
          else if (line.startsWith('event:')) event = line.slice(6).trim();
          else if (line.startsWith('data:')) data.push(line.slice(5).trimStart());
        }
        if (data.length) {
          events.push({ id, event, data: JSON.parse(data.join('\n')), receivedAt });
          waiters.splice(0).forEach((w) => w());
        }
      }
    }
  })().catch(() => {});
  return {
    events,
    ready,
    close: () => controller.abort(),
    async waitFor(pred, timeoutMs = 15_000) {
      const deadline = Date.now() + timeoutMs;
      for (;;) {
        const hit = events.find(pred);
        if (hit) return hit;
        const left = deadline - Date.now();
        if (left <= 0) throw new Error(`timed out waiting for SSE event; got ${JSON.stringify(events.map((e) => [e.id, e.event, e.data.status ?? e.data.resource?.status, e.data.resource?.id ?? e.data.subject_id, Math.round(e.receivedAt)]))} now ${Math.round(performance.now())}`);
        await new Promise<void>((r) => {
          waiters.push(r);
          setTimeout(r, Math.min(left, 200));
        });
      }
    },
  };
}
