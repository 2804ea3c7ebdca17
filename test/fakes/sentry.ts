/**
 * A contract fake of Sentry's ingest: the envelope endpoint the JS SDKs post to
 * (`POST /api/<project>/envelope/?sentry_key=…`, or the `X-Sentry-Auth` header other SDKs send),
 * gzip bodies, the envelope format (a header line, then item header + payload pairs, with
 * `length` honoured), and the `{"id"}` answer. It keeps every raw body, so a test can search all
 * of it for a secret.
 */
import { createServer, type Server } from 'node:http';
import { gunzipSync } from 'node:zlib';

export interface EnvelopeItem {
  header: { type: string; length?: number; [k: string]: unknown };
  payload: any;
}
export interface Envelope {
  header: { event_id?: string; sent_at?: string; sdk?: { name: string; version: string }; dsn?: string };
  items: EnvelopeItem[];
}

export interface SentryFake {
  dsn: string;
  envelopes: Envelope[];
  /** Every body received, decompressed, as text. */
  raw: string[];
  /** The event items (errors and messages) received. */
  events(): any[];
  close(): Promise<void>;
}

export function parseEnvelope(body: Buffer): Envelope {
  let at = body.indexOf(0x0a);
  const header = JSON.parse(body.subarray(0, at < 0 ? body.length : at).toString('utf8'));
  const items: EnvelopeItem[] = [];
  while (at >= 0 && at < body.length - 1) {
    const start = at + 1;
    const nl = body.indexOf(0x0a, start);
    const itemHeader = JSON.parse(body.subarray(start, nl < 0 ? body.length : nl).toString('utf8'));
    const from = nl + 1;
    let to: number;
    if (typeof itemHeader.length === 'number') to = from + itemHeader.length;
    else {
      const end = body.indexOf(0x0a, from);
      to = end < 0 ? body.length : end;
    }
    const raw = body.subarray(from, to).toString('utf8');
    let payload: unknown = raw;
    try {
      payload = JSON.parse(raw);
    } catch { /* an attachment: kept as text */ }
    items.push({ header: itemHeader, payload });
    at = to < body.length ? to : -1;
  }
  return { header, items };
}

export async function startSentryFake(opts: { publicKey?: string; projectId?: string } = {}): Promise<SentryFake> {
  const publicKey = opts.publicKey ?? 'fakepublickey';
  const projectId = opts.projectId ?? '42';
  const envelopes: Envelope[] = [];
  const raw: string[] = [];
  const server: Server = createServer((req, res) => {
    const url = new URL(req.url ?? '/', 'http://x');
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      if (req.method !== 'POST' || url.pathname !== `/api/${projectId}/envelope/`) {
        res.writeHead(404).end();
        return;
      }
      const auth = req.headers['x-sentry-auth'];
      const key = url.searchParams.get('sentry_key') ?? (typeof auth === 'string' ? /sentry_key=([^,\s]+)/.exec(auth)?.[1] : undefined);
      if (key !== publicKey) {
        res.writeHead(401, { 'content-type': 'application/json' }).end('{"detail":"invalid api key"}');
        return;
      }
      let body = Buffer.concat(chunks);
      if (req.headers['content-encoding'] === 'gzip') body = gunzipSync(body);
      raw.push(body.toString('utf8'));
      const envelope = parseEnvelope(body);
      envelopes.push(envelope);
      res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify({ id: envelope.header.event_id ?? null }));
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
  const { port } = server.address() as { port: number };
  return {
    dsn: `http://${publicKey}@127.0.0.1:${port}/${projectId}`,
    envelopes,
    raw,
    events: () => envelopes.flatMap((e) => e.items.filter((i) => i.header.type === 'event').map((i) => i.payload)),
    close: () => new Promise<void>((r) => server.close(() => r())),
  };
}
