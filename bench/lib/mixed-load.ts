/**
 * Mixed traffic against a whole running Switchyard (API + runner), the way a fleet of frontends
 * uses it: 85% reads (a page of projects, one project), 5% creates, 10% suspends and resumes of
 * each client's own project (so a toggle never conflicts with another client's; a client reads
 * until its first create makes it one, so the first requests of a spike keep the same mix rather
 * than being a create from every arriving client at once), deletes of the
 * project a client created last (before it creates another), and SSE subscribers on the tenant's
 * topic. Clients arrive over `rampMs`; each waits `thinkMs` (±50%) after each answer and honours a
 * 429/503's Retry-After (plus up to a quarter more, as jitter), as a client should. Latencies are
 * kept per class and answers counted by status; the time clients spent waiting out Retry-After is
 * reported too, so shedding can't pass for a low error rate.
 */
import { Agent, request } from 'node:http';
import { monitorEventLoopDelay } from 'node:perf_hooks';
import { percentile, round } from './util.ts';

export interface MixedLoadOptions {
  base: string;
  key: string;
  tenantId: string;
  connections: number;
  durationMs: number;
  sseSubscribers: number;
  /** A client's pause between an answer and its next request (a person or a poller, not a tight loop). */
  thinkMs: number;
  /**
   * Clients arrive spread evenly over this long (default 1000 ms): a spike, not 500 first requests
   * in the same millisecond, which no fleet of frontends sends.
   */
  rampMs?: number;
}

export interface ClassStats {
  n: number;
  p50_ms: number;
  p95_ms: number;
  p99_ms: number;
}

export interface MixedLoadResult {
  connections: number;
  duration_s: number;
  requests: number;
  req_per_s: number;
  reads: ClassStats;
  creates: ClassStats;
  toggles: ClassStats;
  deletes: ClassStats;
  by_status: Record<string, number>;
  error_rate: number;
  /** Errors other than 429 and 503 (a 409 from a toggle that raced the worker included). */
  unexpected_errors: number;
  sse_events: number;
  /** Client-seconds spent waiting out Retry-After, and the longest single wait asked for. */
  backoff_s: number;
  max_retry_after_s: number;
  /**
   * Where a create's time went: the share that needed a new socket, connect p95 for those, and
   * time to first byte p95; and the load generator's own event-loop delay p99 (a busy generator
   * adds to every latency it measures).
   */
  /** Up to 50 creates whose first byte took over a second (to find them in the server's log). */
  slow_creates: Array<{ sent_at: string; ttfb_ms: number; request_id: string; new_socket: boolean; status: number }>;
  create_timing: { new_socket_share: number; connect_p95_ms: number | null; ttfb_p95_ms: number | null; generator_loop_p99_ms: number };
  /** Requests that got no HTTP answer, by error code (ECONNRESET, timeouts…). */
  connection_errors: Record<string, number>;
}

interface Timing {
  /** Milliseconds to connect, when the request needed a new socket (null on a reused one). */
  connectMs: number | null;
  /** Milliseconds from sending to the first byte of the answer. */
  ttfbMs: number | null;
  /** Wall clock when the request went out, and the server's X-Request-Id for it. */
  sentAt?: number;
  requestId?: string;
}

function call(agent: Agent, base: string, key: string, method: string, path: string, body?: string, timing?: Timing): Promise<{ status: number; text: string; retryAfterS: number }> {
  return new Promise((resolve) => {
    const t0 = performance.now();
    let sent = t0;
    const req = request(`${base}${path}`, {
      method, agent, headers: { authorization: `Bearer ${key}`, ...(body ? { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body) } : {}) },
    }, (res) => {
      if (timing) {
        timing.ttfbMs = performance.now() - sent;
        timing.sentAt = Date.now() - timing.ttfbMs;
        timing.requestId = String(res.headers['x-request-id'] ?? '');
      }
      let text = '';
      res.setEncoding('utf8');
      res.on('data', (d) => (text += d));
      const retryAfterS = Number(res.headers['retry-after'] ?? 0) || 0;
      res.on('end', () => resolve({ status: res.statusCode ?? 0, text, retryAfterS }));
      res.on('error', () => resolve({ status: 0, text: 'RESPONSE_ERROR', retryAfterS: 0 }));
    });
    if (timing) {
      req.on('socket', (socket) => {
        if (socket.connecting) {
          socket.once('connect', () => {
            timing.connectMs = performance.now() - t0;
            sent = performance.now();
          });
        } else sent = performance.now();
      });
    }
    req.setTimeout(30_000, () => req.destroy(Object.assign(new Error('no answer in 30 s'), { code: 'CLIENT_TIMEOUT' })));
    // A connection-level failure: status 0, with the error's code as the text (counted by code).
    req.on('error', (err: NodeJS.ErrnoException) => resolve({ status: 0, text: err.code ?? err.message, retryAfterS: 0 }));
    req.end(body);
  });
}

const stats = (xs: number[]): ClassStats => {
  const s = [...xs].sort((a, b) => a - b);
  return { n: s.length, p50_ms: round(percentile(s, 50), 1), p95_ms: round(percentile(s, 95), 1), p99_ms: round(percentile(s, 99), 1) };
};

export async function mixedLoad(o: MixedLoadOptions): Promise<MixedLoadResult> {
  // maxFreeSockets defaults to 256: past that, a client waiting out a Retry-After loses its
  // connection and reconnects, which a browser holding its own connection would not do.
  const agent = new Agent({ keepAlive: true, maxSockets: o.connections + o.sseSubscribers + 10, maxFreeSockets: o.connections + 10 });
  const lat = { reads: [] as number[], creates: [] as number[], toggles: [] as number[], deletes: [] as number[] };
  const byStatus: Record<string, number> = {};
  let sseEvents = 0;
  let backoffMs = 0;
  const connectionErrors: Record<string, number> = {};
  let maxRetryAfterS = 0;
  const end = Date.now() + o.durationMs;
  let n = 0;
  const connects: number[] = [];
  const ttfbs: number[] = [];
  let createCalls = 0;
  const slowCreates: MixedLoadResult['slow_creates'] = [];
  const loop = monitorEventLoopDelay({ resolution: 10 });
  loop.enable();

  // SSE subscribers for the whole run.
  const sse = Array.from({ length: o.sseSubscribers }, () => new Promise<void>((resolve) => {
    const req = request(`${o.base}/v1/events?topic=tenant:${o.tenantId}`, { agent: false, headers: { authorization: `Bearer ${o.key}` } }, (res) => {
      res.on('data', (d: Buffer) => (sseEvents += (d.toString().match(/^event: /gm) ?? []).length));
      res.on('end', () => resolve());
      res.on('error', () => resolve());
    });
    req.on('error', () => resolve());
    req.end();
    setTimeout(() => {
      req.destroy();
      resolve();
    }, o.durationMs).unref();
  }));

  const rampMs = o.rampMs ?? 1000;
  const client = async (c: number) => {
    await new Promise((res) => setTimeout(res, (rampMs * c) / o.connections));
    let own: string | null = null;
    let ownStatus = '';
    // Each create makes a real database: a client deletes the project it created last before it
    // creates another, so a long run keeps a bounded number of them (a soak once filled the disk).
    let extra: string | null = null;
    while (Date.now() < end) {
      const roll = Math.random();
      const t0 = performance.now();
      let kind: keyof typeof lat;
      let r: { status: number; text: string; retryAfterS: number };
      if (roll < 0.05 && extra) {
        kind = 'reads';
        r = await call(agent, o.base, o.key, 'GET', `/v1/projects/${extra}`);
        const status = r.status === 200 ? JSON.parse(r.text).project.status : '';
        if (status === 'active' || status === 'suspended') {
          lat.reads.push(performance.now() - t0);
          byStatus[r.status] = (byStatus[r.status] ?? 0) + 1;
          const t1 = performance.now();
          r = await call(agent, o.base, o.key, 'DELETE', `/v1/projects/${extra}`);
          lat.deletes.push(performance.now() - t1);
          byStatus[r.status] = (byStatus[r.status] ?? 0) + 1;
          if (r.status === 202) extra = null;
          await new Promise((res) => setTimeout(res, o.thinkMs * (0.5 + Math.random())));
          continue;
        }
      } else if (roll < 0.05) {
        kind = 'creates';
        const timing: Timing = { connectMs: null, ttfbMs: null };
        r = await call(agent, o.base, o.key, 'POST', '/v1/projects', JSON.stringify({ name: `load ${c} ${++n}` }), timing);
        createCalls++;
        if (timing.connectMs !== null) connects.push(timing.connectMs);
        if (timing.ttfbMs !== null) ttfbs.push(timing.ttfbMs);
        if (timing.ttfbMs !== null && timing.ttfbMs > 1000) {
          slowCreates.push({ sent_at: new Date(timing.sentAt!).toISOString(), ttfb_ms: round(timing.ttfbMs, 0), request_id: timing.requestId!, new_socket: timing.connectMs !== null, status: r.status });
        }
        if (r.status === 202 && own === null) {
          own = JSON.parse(r.text).project.id;
          ownStatus = 'provisioning';
        } else if (r.status === 202) extra = JSON.parse(r.text).project.id;
      } else if (roll < 0.15 && (ownStatus === 'active' || ownStatus === 'suspended')) {
        kind = 'toggles';
        r = await call(agent, o.base, o.key, 'POST', `/v1/projects/${own}/${ownStatus === 'active' ? 'suspend' : 'resume'}`);
        if (r.status === 202) ownStatus = JSON.parse(r.text).project.status;
      } else {
        kind = 'reads';
        r = roll < 0.55 || !own
          ? await call(agent, o.base, o.key, 'GET', '/v1/projects?limit=20')
          : await call(agent, o.base, o.key, 'GET', `/v1/projects/${own}`);
        if (r.status === 200 && own && roll >= 0.55) ownStatus = JSON.parse(r.text).project.status;
      }
      lat[kind].push(performance.now() - t0);
      byStatus[r.status] = (byStatus[r.status] ?? 0) + 1;
      if (r.status === 0) connectionErrors[r.text || 'unknown'] = (connectionErrors[r.text || 'unknown'] ?? 0) + 1;
      let retryAfter = 0;
      if (r.status === 429 || r.status === 503) {
        retryAfter = Math.max(1, r.retryAfterS) * 1000 * (1 + Math.random() / 4);
        backoffMs += retryAfter;
        maxRetryAfterS = Math.max(maxRetryAfterS, r.retryAfterS);
      }
      // A wait past the end of the run ends with the run (it still counts in backoff_s).
      await new Promise((res) => setTimeout(res, Math.min(o.thinkMs * (0.5 + Math.random()) + retryAfter, Math.max(0, end - Date.now()))));
    }
  };
  const t0 = Date.now();
  await Promise.all(Array.from({ length: o.connections }, (_, c) => client(c)));
  const elapsed = (Date.now() - t0) / 1000;
  loop.disable();
  await Promise.all(sse);
  agent.destroy();
  const requests = Object.values(byStatus).reduce((a, b) => a + b, 0);
  const errors = Object.entries(byStatus).filter(([s]) => Number(s) >= 400 || Number(s) === 0).reduce((a, [, v]) => a + v, 0);
  const unexpected = Object.entries(byStatus).filter(([s]) => (Number(s) >= 400 || Number(s) === 0) && s !== '429' && s !== '503').reduce((a, [, v]) => a + v, 0);
  return {
    connections: o.connections, duration_s: round(elapsed, 1), requests, req_per_s: round(requests / elapsed, 0),
    reads: stats(lat.reads), creates: stats(lat.creates), toggles: stats(lat.toggles), deletes: stats(lat.deletes),
    by_status: byStatus, error_rate: round(errors / Math.max(1, requests), 4), unexpected_errors: unexpected, sse_events: sseEvents,
    backoff_s: round(backoffMs / 1000, 0), max_retry_after_s: maxRetryAfterS, connection_errors: connectionErrors,
    slow_creates: slowCreates.sort((a, b) => b.ttfb_ms - a.ttfb_ms).slice(0, 50),
    create_timing: {
      new_socket_share: round(connects.length / Math.max(1, createCalls), 3),
      connect_p95_ms: connects.length ? round(percentile([...connects].sort((a, b) => a - b), 95), 1) : null,
      ttfb_p95_ms: ttfbs.length ? round(percentile([...ttfbs].sort((a, b) => a - b), 95), 1) : null,
      generator_loop_p99_ms: round(loop.percentile(99) / 1e6, 1),
    },
  };
}
