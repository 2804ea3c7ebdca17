/**
 * A contract fake of Upstash QStash: a real HTTP server speaking the wire format in
 * ../shared/reference/integrations.md §1, so the real `Client` (baseUrl) publishes to it and the
 * real `Receiver` verifies what it delivers.
 *
 * - `POST /v2/publish/{destination}`: Bearer token; Upstash-Delay / -Not-Before / -Retries /
 *   -Deduplication-Id / -Content-Based-Deduplication (10-minute window; a duplicate is 202 with
 *   the existing messageId) / -Flow-Control-Key + -Value (parallelism) / -Forward-* / -Method.
 * - `/v2/schedules`: create (Upstash-Cron required, Upstash-Schedule-Id upserts), list, get, delete;
 *   cron fires on the minute, or at once with `fireSchedule`.
 * - Delivery: signed with an HS256 JWT (iss, sub, exp, nbf, iat, jti, body = base64url(sha256(body)))
 *   over the raw UTF-8 bytes of the current signing key; headers Upstash-Signature,
 *   Upstash-Message-Id, Upstash-Retried, Upstash-Schedule-Id, User-Agent. Non-2xx is retried with
 *   backoff (Retry-After honoured); 489 + Upstash-NonRetryable-Error stops it into the DLQ.
 * - Test controls: fail publishes, deliver a message (or every delivery) more than once on purpose,
 *   pause deliveries, wait for idle.
 */
import { createHash, createHmac, randomBytes } from 'node:crypto';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';

export interface FakeQStashOptions {
  token?: string;
  currentSigningKey?: string;
  nextSigningKey?: string;
  /** Delay before redelivery after the n-th failed attempt (0-based). QStash: min(86400, e^(2.5n)) s. */
  retryDelayMs?: (retried: number) => number;
  /** How long a Retry-After second lasts here (QStash: 1000 ms; tests shorten it). */
  retryAfterUnitMs?: number;
  /** The same for Upstash-Delay / Not-Before (tests shorten time). */
  delayUnitMs?: number;
  dedupWindowMs?: number;
  /** The plan's maximum HTTP response duration. */
  deliveryTimeoutMs?: number;
}

export interface Delivery {
  messageId: string;
  retried: number;
  status: number | 'error';
  at: number;
  body: string;
}

interface Message {
  messageId: string;
  destination: string;
  method: string;
  body: string;
  headers: Record<string, string>;
  publishHeaders: Record<string, string>;
  notBefore: number;
  maxRetries: number;
  retried: number;
  flowKey: string | null;
  parallelism: number;
  scheduleId: string | null;
  state: 'waiting' | 'delivering' | 'delivered' | 'dlq';
  /** Extra copies still to deliver (duplicateNext). */
  copies: number;
  timer?: ReturnType<typeof setTimeout>;
}

interface Schedule {
  scheduleId: string;
  cron: string;
  destination: string;
  method: string;
  body: string;
  headers: Record<string, string>;
  publishHeaders: Record<string, string>;
  createdAt: number;
  isPaused: boolean;
}

export const DEV_TOKEN = 'fake-qstash-token';
export const DEV_CURRENT_KEY = 'sig_fakecurrent000000000000000';
export const DEV_NEXT_KEY = 'sig_fakenext000000000000000000';

const b64url = (b: Buffer | string) => Buffer.from(b).toString('base64url');

/** An HS256 JWT as QStash signs a delivery. */
export function signQStashJwt(key: string, claims: Record<string, unknown>): string {
  const head = b64url(JSON.stringify({ alg: 'HS256', typ: 'JWT' }));
  const payload = b64url(JSON.stringify(claims));
  const sig = createHmac('sha256', Buffer.from(key, 'utf8')).update(`${head}.${payload}`).digest('base64url');
  return `${head}.${payload}.${sig}`;
}

export function deliveryClaims(destination: string, body: string, now = Math.floor(Date.now() / 1000)) {
  return {
    iss: 'Upstash',
    sub: destination,
    exp: now + 300,
    nbf: now,
    iat: now,
    jti: `jwt_${randomBytes(12).toString('hex')}`,
    body: createHash('sha256').update(body, 'utf8').digest('base64url'),
  };
}

/** `1d10h30m5s` → ms (with `unit` ms per second). */
function parseDuration(v: string, unit: number): number | null {
  const m = /^(?:(\d+)d)?(?:(\d+)h)?(?:(\d+)m)?(?:(\d+)s)?$/.exec(v.trim());
  if (!m || v.trim() === '') return null;
  const [d, h, mi, s] = m.slice(1).map((x) => Number(x ?? 0)) as [number, number, number, number];
  return ((d * 24 + h) * 3600 + mi * 60 + s) * unit;
}

/** Retry-After and friends: seconds, an HTTP date, or a duration. Capped at a day. */
function parseRetryAfter(v: string | null, unit: number): number | null {
  if (!v) return null;
  let seconds: number | null = null;
  if (/^\d+$/.test(v.trim())) seconds = Number(v);
  else if (!Number.isNaN(Date.parse(v))) seconds = Math.max(0, (Date.parse(v) - Date.now()) / 1000);
  else {
    const d = parseDuration(v, 1);
    seconds = d;
  }
  return seconds === null ? null : Math.min(seconds, 86_400) * unit;
}

function cronField(spec: string, value: number, min: number): boolean {
  return spec.split(',').some((part) => {
    const [range, stepText] = part.split('/') as [string, string | undefined];
    const step = stepText ? Number(stepText) : 1;
    let lo = min;
    let hi = Number.MAX_SAFE_INTEGER;
    if (range !== '*') {
      const [a, b] = range.split('-');
      lo = Number(a);
      hi = b === undefined ? (stepText ? Number.MAX_SAFE_INTEGER : lo) : Number(b);
    }
    return value >= lo && value <= hi && (value - lo) % step === 0;
  });
}

export function cronMatches(cron: string, d: Date): boolean {
  const fields = cron.replace(/^CRON_TZ=\S+\s+/, '').trim().split(/\s+/);
  if (fields.length !== 5) return false;
  const [mi, h, dom, mon, dow] = fields as [string, string, string, string, string];
  return cronField(mi, d.getUTCMinutes(), 0) && cronField(h, d.getUTCHours(), 0)
    && cronField(dom, d.getUTCDate(), 1) && cronField(mon, d.getUTCMonth() + 1, 1) && cronField(dow, d.getUTCDay(), 0);
}

export class FakeQStash {
  readonly token: string;
  readonly currentSigningKey: string;
  readonly nextSigningKey: string;
  readonly messages = new Map<string, Message>();
  readonly deliveries: Delivery[] = [];
  readonly publishRequests: { destination: string; headers: Record<string, string>; body: string; status: number }[] = [];
  readonly schedules = new Map<string, Schedule>();
  url = '';
  /** Sign deliveries with this key (rotation tests switch to the next key). */
  signWith: 'current' | 'next' | 'forged' = 'current';

  private server: Server;
  private readonly opts: Required<FakeQStashOptions>;
  private readonly dedup = new Map<string, { messageId: string; at: number }>();
  private readonly inflight = new Map<string, number>();
  private readonly waiting = new Map<string, Message[]>();
  private failPublishes: { remaining: number; status: number } = { remaining: 0, status: 500 };
  private duplicates = 0;
  private everyDeliveryExtra = 0;
  private paused = false;
  private cronTimer?: ReturnType<typeof setTimeout>;
  private closed = false;

  constructor(opts: FakeQStashOptions = {}) {
    this.opts = {
      token: opts.token ?? DEV_TOKEN,
      currentSigningKey: opts.currentSigningKey ?? DEV_CURRENT_KEY,
      nextSigningKey: opts.nextSigningKey ?? DEV_NEXT_KEY,
      retryDelayMs: opts.retryDelayMs ?? ((n) => Math.min(86_400, Math.exp(2.5 * (n + 1))) * 1000),
      retryAfterUnitMs: opts.retryAfterUnitMs ?? 1000,
      delayUnitMs: opts.delayUnitMs ?? 1000,
      dedupWindowMs: opts.dedupWindowMs ?? 10 * 60_000,
      deliveryTimeoutMs: opts.deliveryTimeoutMs ?? 15 * 60_000,
    };
    this.token = this.opts.token;
    this.currentSigningKey = this.opts.currentSigningKey;
    this.nextSigningKey = this.opts.nextSigningKey;
    this.server = createServer((req, res) => void this.handle(req, res).catch((err) => {
      res.writeHead(500, { 'Content-Type': 'application/json' }).end(JSON.stringify({ error: String(err) }));
    }));
  }

  async start(port = 0): Promise<this> {
    await new Promise<void>((r) => this.server.listen(port, '127.0.0.1', r));
    const addr = this.server.address();
    if (!addr || typeof addr === 'string') throw new Error('no address');
    this.url = `http://127.0.0.1:${addr.port}`;
    this.scheduleCronTick();
    return this;
  }

  async close(): Promise<void> {
    this.closed = true;
    clearTimeout(this.cronTimer);
    for (const m of this.messages.values()) clearTimeout(m.timer);
    this.server.closeAllConnections();
    await new Promise<void>((r) => this.server.close(() => r()));
  }

  // ---- test controls -------------------------------------------------------------------------

  /** The next `n` publishes answer `status` (an outage at QStash). */
  failNextPublishes(n: number, status = 500) {
    this.failPublishes = { remaining: n, status };
  }

  /** The next `n` messages published are each delivered one extra time, concurrently. */
  duplicateNext(n: number) {
    this.duplicates += n;
  }

  /** From now on, every delivery attempt of every message is sent `1 + extra` times at once. */
  duplicateEveryDelivery(extra: number) {
    this.everyDeliveryExtra = extra;
  }

  /** Stop or restart deliveries (messages keep their place). */
  pauseDeliveries(paused: boolean) {
    this.paused = paused;
    if (!paused) for (const m of this.messages.values()) if (m.state === 'waiting' && !m.timer) this.arm(m);
  }

  /** Fires a schedule now, as its cron would. */
  fireSchedule(id: string): string {
    const s = this.schedules.get(id);
    if (!s) throw new Error(`no schedule ${id}`);
    return this.enqueue({
      destination: s.destination, method: s.method, body: s.body, headers: s.headers, publishHeaders: s.publishHeaders,
      scheduleId: s.scheduleId,
    }).messageId;
  }

  dlq(): Message[] {
    return [...this.messages.values()].filter((m) => m.state === 'dlq');
  }

  /** Resolves when no message is waiting or being delivered. */
  async idle(timeoutMs = 20_000): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    while ([...this.messages.values()].some((m) => m.state === 'waiting' || m.state === 'delivering')) {
      if (Date.now() > deadline) throw new Error('fake QStash did not go idle');
      await new Promise((r) => setTimeout(r, 20));
    }
  }

  // ---- HTTP API --------------------------------------------------------------------------------

  private async handle(req: IncomingMessage, res: ServerResponse) {
    const chunks: Buffer[] = [];
    for await (const c of req) chunks.push(c as Buffer);
    const body = Buffer.concat(chunks).toString('utf8');
    const send = (status: number, json: unknown) => {
      res.writeHead(status, { 'Content-Type': 'application/json' }).end(JSON.stringify(json));
    };
    if (req.headers.authorization !== `Bearer ${this.token}`) return send(401, { error: 'Unauthorized' });
    const path = req.url ?? '/';
    const headers = Object.fromEntries(Object.entries(req.headers).map(([k, v]) => [k.toLowerCase(), String(v)]));

    if (req.method === 'POST' && path.startsWith('/v2/publish/')) {
      const destination = path.slice('/v2/publish/'.length);
      if (this.failPublishes.remaining > 0) {
        this.failPublishes.remaining--;
        this.publishRequests.push({ destination, headers, body, status: this.failPublishes.status });
        return send(this.failPublishes.status, { error: 'service unavailable' });
      }
      const result = this.publish(destination, headers, body);
      this.publishRequests.push({ destination, headers, body, status: result.status });
      return send(result.status, result.json);
    }
    if (req.method === 'POST' && path.startsWith('/v2/schedules/')) {
      const destination = path.slice('/v2/schedules/'.length);
      const cron = headers['upstash-cron'];
      if (!cron) return send(400, { error: 'Upstash-Cron header is required' });
      if (!isUrl(destination)) return send(400, { error: 'invalid destination url' });
      const id = headers['upstash-schedule-id'] ?? `scd_${randomBytes(10).toString('hex')}`;
      const existing = this.schedules.get(id);
      this.schedules.set(id, {
        scheduleId: id, cron, destination, method: headers['upstash-method'] ?? 'POST', body,
        headers: forwarded(headers), publishHeaders: headers, createdAt: existing?.createdAt ?? Date.now(), isPaused: false,
      });
      return send(200, { scheduleId: id });
    }
    if (req.method === 'GET' && path === '/v2/schedules') {
      return send(200, [...this.schedules.values()].map(scheduleJson));
    }
    const one = /^\/v2\/schedules\/([^/]+)$/.exec(path);
    if (one) {
      const s = this.schedules.get(decodeURIComponent(one[1]!));
      if (!s) return send(404, { error: 'schedule not found' });
      if (req.method === 'GET') return send(200, scheduleJson(s));
      if (req.method === 'DELETE') {
        this.schedules.delete(s.scheduleId);
        res.writeHead(200).end();
        return;
      }
    }
    send(404, { error: `unknown endpoint ${req.method} ${path}` });
  }

  private publish(destination: string, h: Record<string, string>, body: string): { status: number; json: unknown } {
    if (!isUrl(destination)) return { status: 400, json: { error: 'invalid destination url' } };
    let notBefore = Date.now();
    if (h['upstash-not-before']) {
      if (!/^\d+$/.test(h['upstash-not-before'])) return { status: 400, json: { error: 'invalid Upstash-Not-Before' } };
      // Not-Before wins over Delay. Time runs at the fake's delay unit from now on.
      const seconds = Number(h['upstash-not-before']) - Date.now() / 1000;
      notBefore = Date.now() + Math.max(0, seconds) * this.opts.delayUnitMs;
    } else if (h['upstash-delay']) {
      const d = parseDuration(h['upstash-delay'], this.opts.delayUnitMs);
      if (d === null) return { status: 400, json: { error: 'invalid Upstash-Delay' } };
      notBefore = Date.now() + d;
    }
    let parallelism = Number.POSITIVE_INFINITY;
    const flowKey = h['upstash-flow-control-key'] ?? null;
    if (flowKey) {
      const value = h['upstash-flow-control-value'] ?? '';
      const p = /parallelism=(\d+)/.exec(value);
      if (!p && !/rate=\d+/.test(value)) return { status: 400, json: { error: 'invalid Upstash-Flow-Control-Value' } };
      if (p) parallelism = Number(p[1]);
    }
    const retries = h['upstash-retries'] === undefined ? 3 : Number(h['upstash-retries']);
    if (!Number.isInteger(retries) || retries < 0) return { status: 400, json: { error: 'invalid Upstash-Retries' } };

    const fwd = forwarded(h);
    let dedupKey: string | null = h['upstash-deduplication-id'] ?? null;
    if (!dedupKey && h['upstash-content-based-deduplication'] === 'true') {
      dedupKey = createHash('sha256').update(JSON.stringify([destination, body, fwd])).digest('hex');
    }
    if (dedupKey) {
      const seen = this.dedup.get(dedupKey);
      if (seen && Date.now() - seen.at < this.opts.dedupWindowMs) {
        return { status: 202, json: { messageId: seen.messageId, deduplicated: true } };
      }
    }
    const m = this.enqueue({
      destination, method: h['upstash-method'] ?? 'POST', body, headers: fwd, publishHeaders: h, scheduleId: null,
      notBefore, maxRetries: retries, flowKey, parallelism,
    });
    if (dedupKey) this.dedup.set(dedupKey, { messageId: m.messageId, at: Date.now() });
    return { status: 200, json: { messageId: m.messageId, deduplicated: false } };
  }

  // ---- delivery -------------------------------------------------------------------------------

  private enqueue(p: {
    destination: string; method: string; body: string; headers: Record<string, string>;
    publishHeaders: Record<string, string>; scheduleId: string | null;
    notBefore?: number; maxRetries?: number; flowKey?: string | null; parallelism?: number;
  }): Message {
    const m: Message = {
      messageId: `msg_${randomBytes(12).toString('hex')}`,
      destination: p.destination, method: p.method, body: p.body, headers: p.headers, publishHeaders: p.publishHeaders,
      notBefore: p.notBefore ?? Date.now(), maxRetries: p.maxRetries ?? 3, retried: 0,
      flowKey: p.flowKey ?? null, parallelism: p.parallelism ?? Number.POSITIVE_INFINITY,
      scheduleId: p.scheduleId, state: 'waiting', copies: 0,
    };
    if (this.duplicates > 0) {
      this.duplicates--;
      m.copies = 1;
    }
    this.messages.set(m.messageId, m);
    this.arm(m);
    return m;
  }

  private arm(m: Message) {
    clearTimeout(m.timer);
    m.timer = setTimeout(() => {
      m.timer = undefined;
      this.tryStart(m);
    }, Math.max(0, m.notBefore - Date.now()));
  }

  private tryStart(m: Message) {
    if (this.closed || m.state !== 'waiting' || this.paused) return;
    if (m.flowKey) {
      const n = this.inflight.get(m.flowKey) ?? 0;
      if (n >= m.parallelism) {
        const q = this.waiting.get(m.flowKey) ?? [];
        if (!q.includes(m)) q.push(m);
        this.waiting.set(m.flowKey, q);
        return;
      }
      this.inflight.set(m.flowKey, n + 1);
    }
    m.state = 'delivering';
    const copies = m.copies + this.everyDeliveryExtra;
    m.copies = 0;
    const attempts = [this.deliver(m), ...Array.from({ length: copies }, () => this.deliver(m))];
    void Promise.all(attempts).then(([first]) => this.settle(m, first!));
  }

  /** One HTTP delivery; resolves with what to do next. */
  private async deliver(m: Message): Promise<{ ok: boolean; stop: boolean; retryAfterMs: number | null }> {
    const key = this.signWith === 'next' ? this.nextSigningKey : this.signWith === 'forged' ? 'sig_not_the_real_key' : this.currentSigningKey;
    const headers: Record<string, string> = {
      ...m.headers,
      'User-Agent': 'Upstash-QStash',
      'Content-Type': m.publishHeaders['content-type'] ?? 'application/json',
      'Upstash-Signature': signQStashJwt(key, deliveryClaims(m.destination, m.body)),
      'Upstash-Message-Id': m.messageId,
      'Upstash-Retried': String(m.retried),
      'Upstash-Caller-Ip': '127.0.0.1',
      ...(m.scheduleId ? { 'Upstash-Schedule-Id': m.scheduleId } : {}),
    };
    let status: number | 'error' = 'error';
    let retryAfterMs: number | null = null;
    let stop = false;
    try {
      const res = await fetch(m.destination, {
        method: m.method, headers, body: m.method === 'GET' ? undefined : m.body,
        signal: AbortSignal.timeout(this.opts.deliveryTimeoutMs),
      });
      status = res.status;
      await res.arrayBuffer().catch(() => {});
      stop = res.status === 489 && res.headers.get('upstash-nonretryable-error') === 'true';
      for (const h of ['retry-after', 'x-ratelimit-reset', 'x-ratelimit-reset-requests', 'x-ratelimit-reset-tokens']) {
        retryAfterMs ??= parseRetryAfter(res.headers.get(h), this.opts.retryAfterUnitMs);
      }
    } catch {
      status = 'error';
    }
    this.deliveries.push({ messageId: m.messageId, retried: m.retried, status, at: Date.now(), body: m.body });
    return { ok: typeof status === 'number' && status >= 200 && status < 300, stop, retryAfterMs };
  }

  private settle(m: Message, r: { ok: boolean; stop: boolean; retryAfterMs: number | null }) {
    if (m.flowKey) {
      this.inflight.set(m.flowKey, (this.inflight.get(m.flowKey) ?? 1) - 1);
      const next = this.waiting.get(m.flowKey)?.shift();
      if (next) queueMicrotask(() => this.tryStart(next));
    }
    if (r.ok) {
      m.state = 'delivered';
    } else if (r.stop || m.retried >= m.maxRetries) {
      m.state = 'dlq';
    } else {
      m.state = 'waiting';
      m.notBefore = Date.now() + (r.retryAfterMs ?? this.opts.retryDelayMs(m.retried));
      m.retried++;
      this.arm(m);
    }
  }

  private scheduleCronTick() {
    if (this.closed) return;
    const now = Date.now();
    const nextMinute = Math.floor(now / 60_000) * 60_000 + 60_000;
    this.cronTimer = setTimeout(() => {
      const at = new Date(nextMinute);
      for (const s of this.schedules.values()) if (!s.isPaused && cronMatches(s.cron, at)) this.fireSchedule(s.scheduleId);
      this.scheduleCronTick();
    }, nextMinute - now);
    this.cronTimer.unref?.();
  }
}

function isUrl(v: string): boolean {
  try {
    const u = new URL(v);
    return u.protocol === 'http:' || u.protocol === 'https:';
  } catch {
    return false;
  }
}

/** Upstash-Forward-X: Y → X: Y */
function forwarded(h: Record<string, string>): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [k, v] of Object.entries(h)) if (k.startsWith('upstash-forward-')) out[k.slice('upstash-forward-'.length)] = v;
  return out;
}

function scheduleJson(s: Schedule) {
  return {
    scheduleId: s.scheduleId, cron: s.cron, destination: s.destination, method: s.method, body: s.body,
    header: Object.fromEntries(Object.entries(s.headers).map(([k, v]) => [k, [v]])), createdAt: s.createdAt, isPaused: s.isPaused,
  };
}
