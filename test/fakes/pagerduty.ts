/**
 * A contract fake of PagerDuty's Events API v2 (`POST https://events.pagerduty.com/v2/enqueue`,
 * PagerDuty/api-schema reference/events-v2): real HTTP, the documented body and answers.
 *
 * - The routing key (integration key) travels in the body, 32 characters; no auth header.
 * - `event_action` is `trigger`, `acknowledge` or `resolve`; `dedup_key` at most 255 characters
 *   (required for acknowledge and resolve; made up by PagerDuty for a trigger without one).
 * - A trigger needs `payload` with `summary` (≤ 1024), `source` and `severity` (`critical`,
 *   `error`, `warning`, `info`).
 * - 202 `{status: "success", message: "Event processed", dedup_key}`; 400
 *   `{status: "invalid event", message: "Event object is invalid", errors: [...]}`; 429 on demand.
 *
 * It keeps the alerts as PagerDuty would: one per dedup key, triggered or resolved.
 */
import { createServer, type IncomingMessage, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { randomBytes } from 'node:crypto';

export interface PagerDutyEvent {
  routing_key: string;
  event_action: 'trigger' | 'acknowledge' | 'resolve';
  dedup_key?: string;
  payload?: { summary: string; source: string; severity: string; timestamp?: string; custom_details?: unknown; [k: string]: unknown };
  [k: string]: unknown;
}

export interface FakePagerDuty {
  /** The enqueue URL. */
  url: string;
  routingKey: string;
  /** Every accepted event, in order. */
  events: PagerDutyEvent[];
  /** Alert state per dedup key. */
  alerts: Map<string, 'triggered' | 'acknowledged' | 'resolved'>;
  /** Every answer given, in order. */
  answers: number[];
  /** The next `n` requests get this status (429 or a 5xx) instead of being processed. */
  failNext(status: number, n?: number): void;
  close(): Promise<void>;
}

const SEVERITIES = new Set(['critical', 'error', 'warning', 'info']);

const readBody = (req: IncomingMessage) => new Promise<string>((resolve, reject) => {
  let s = '';
  req.setEncoding('utf8');
  req.on('data', (d: string) => (s += d));
  req.on('end', () => resolve(s));
  req.on('error', reject);
});

function validate(body: unknown, routingKey: string): string[] {
  const errors: string[] = [];
  if (!body || typeof body !== 'object' || Array.isArray(body)) return ['Event must be a JSON object'];
  const e = body as Record<string, unknown>;
  if (typeof e.routing_key !== 'string' || e.routing_key.length !== 32) errors.push("Length of 'routing_key' is incorrect (should be 32 characters)");
  else if (e.routing_key !== routingKey) errors.push("'routing_key' is not the key of an Events API v2 integration");
  if (!['trigger', 'acknowledge', 'resolve'].includes(e.event_action as string)) errors.push("'event_action' is invalid (must be one of trigger, acknowledge, resolve)");
  if (e.dedup_key !== undefined && (typeof e.dedup_key !== 'string' || e.dedup_key.length > 255)) errors.push("'dedup_key' must be a string of at most 255 characters");
  if ((e.event_action === 'acknowledge' || e.event_action === 'resolve') && typeof e.dedup_key !== 'string') errors.push("'dedup_key' is required for acknowledge and resolve");
  if (e.event_action === 'trigger') {
    const p = e.payload as Record<string, unknown> | undefined;
    if (!p || typeof p !== 'object') errors.push("'payload' is missing or not an object");
    else {
      if (typeof p.summary !== 'string' || !p.summary) errors.push("'payload.summary' is missing or blank");
      else if (p.summary.length > 1024) errors.push("'payload.summary' is longer than 1024 characters");
      if (typeof p.source !== 'string' || !p.source) errors.push("'payload.source' is missing or blank");
      if (!SEVERITIES.has(p.severity as string)) errors.push("'payload.severity' is invalid (must be one of critical, error, warning, info)");
    }
  }
  return errors;
}

export async function startPagerDutyFake(): Promise<FakePagerDuty> {
  const routingKey = randomBytes(16).toString('hex');
  const events: PagerDutyEvent[] = [];
  const alerts = new Map<string, 'triggered' | 'acknowledged' | 'resolved'>();
  const answers: number[] = [];
  const failing: number[] = [];

  const server: Server = createServer((req, res) => {
    const send = (status: number, body?: unknown) => {
      answers.push(status);
      res.writeHead(status, body === undefined ? {} : { 'Content-Type': 'application/json' });
      res.end(body === undefined ? undefined : JSON.stringify(body));
    };
    void (async () => {
      if (req.method !== 'POST' || req.url !== '/v2/enqueue') return send(404, { status: 'not found', message: 'Not found' });
      const text = await readBody(req);
      const forced = failing.shift();
      if (forced !== undefined) return send(forced, forced === 429 ? undefined : { status: 'error', message: 'Internal error' });
      let body: unknown;
      try {
        body = JSON.parse(text);
      } catch {
        return send(400, { status: 'invalid event', message: 'Event object is invalid', errors: ['Body is not valid JSON'] });
      }
      const errors = validate(body, routingKey);
      if (errors.length) return send(400, { status: 'invalid event', message: 'Event object is invalid', errors });
      const event = body as PagerDutyEvent;
      const dedup = event.dedup_key ?? randomBytes(16).toString('hex');
      events.push(event);
      if (event.event_action === 'trigger') alerts.set(dedup, 'triggered');
      else if (alerts.has(dedup)) alerts.set(dedup, event.event_action === 'resolve' ? 'resolved' : 'acknowledged');
      return send(202, { status: 'success', message: 'Event processed', dedup_key: dedup });
    })();
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', () => resolve()));
  const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/v2/enqueue`;
  return {
    url, routingKey, events, alerts, answers,
    failNext(status, n = 1) {
      for (let i = 0; i < n; i++) failing.push(status);
    },
    close: () => new Promise<void>((resolve) => {
      server.closeAllConnections();
      server.close(() => resolve());
    }),
  };
}
