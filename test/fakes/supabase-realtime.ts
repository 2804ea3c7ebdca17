/**
 * A contract fake of Supabase Realtime (../shared/reference/supabase-realtime.md §1–3): a real
 * websocket server speaking the Phoenix protocol as Realtime does, authorizing private channels
 * against a real Postgres with the real policies, and delivering rows of realtime.messages as
 * broadcasts. Clients are the real @supabase/supabase-js.
 *
 * What it does as Realtime does:
 *   - `/realtime/v1/websocket?apikey=…&vsn=1.0.0|2.0.0`: the socket's JWT (x-api-key header, else
 *     `apikey`) is verified at the upgrade (HS256 with the JWT secret, or ES256/RS256 by `kid`
 *     from a JWKS); `role` and `exp` required; failures are HTTP errors with `{"error": …}`.
 *   - vsn 1.0.0 JSON objects (no join_ref from the server) and 2.0.0 arrays, with binary user
 *     broadcasts (kind 3 from clients, kind 4 to them).
 *   - heartbeat; phx_join with `config.private` (a public join refused when `privateOnly`);
 *     `access_token` refresh (a new token re-runs the policies; losing read closes the channel);
 *     a channel whose token expires gets a `system` error and `phx_close`; phx_leave.
 *   - authorization of a private join: in one transaction, insert a probe row as the table owner,
 *     `set_config` role, realtime.topic, request.jwt.claims (and claim.sub / claim.role), select
 *     the probe as that role, roll back. A client broadcast is written only if an INSERT as that
 *     role passes (savepoint, rolled back), as Realtime's lazy write check does.
 *   - broadcast replay (`config.broadcast.replay {since, limit}`) on private channels.
 *   - delivery: every committed insert into realtime.messages, to the channels joined on its topic
 *     with the same `private` flag, with `meta.id` = the row id.
 * Where it differs: Realtime reads inserts by logical replication (a pgoutput slot); the fake is
 * told of each by a NOTIFY from a test-only trigger (test/fixtures/supabase-realtime.sql), sent
 * at commit in commit order, and reads the row itself. Presence and postgres_changes are not
 * implemented (Switchyard uses neither); joins that ask for them get an empty list back.
 */
import { createServer, type IncomingMessage } from 'node:http';
import type { Duplex } from 'node:stream';
import { randomUUID } from 'node:crypto';
import { WebSocketServer, type WebSocket } from 'ws';
import { createLocalJWKSet, decodeJwt, jwtVerify, type JSONWebKeySet, type JWTPayload } from 'jose';
import postgres from 'postgres';

export interface RealtimeFakeOptions {
  /** The project's database, as its owner (the pool user Realtime connects with). */
  databaseUrl: string;
  /** The project's legacy JWT secret (HS256). */
  jwtSecret?: string;
  /** The project's public signing keys (asymmetric JWTs must name one by `kid`). */
  jwks?: JSONWebKeySet;
  /** Supabase's `private_only` setting: public channels are refused. */
  privateOnly?: boolean;
  /** Make the day partitions at start, as Realtime does when a tenant connection starts (default true). */
  createPartitions?: boolean;
}

interface Channel {
  topic: string; // realtime:<sub>
  sub: string;
  joinRef: string;
  private: boolean;
  token: string;
  claims: JWTPayload;
  expiry?: ReturnType<typeof setTimeout>;
  canWrite?: boolean;
}

interface Conn {
  ws: WebSocket;
  vsn: '1.0.0' | '2.0.0';
  token: string;
  channels: Map<string, Channel>;
}

export interface RealtimeFake {
  url: string;
  /** Per delivered row: ms from the fake learning of it (NOTIFY) to the frame being written. */
  sendMs: number[];
  /** Frames received and sent, by event, for assertions. */
  joins: { topic: string; ok: boolean; reason?: string }[];
  connections(): number;
  /** An outage: every socket is dropped and new ones are refused (503) until `resume()`. */
  suspend(): void;
  resume(): void;
  close(): Promise<void>;
}

class JwtError extends Error {
  constructor(readonly code: string, message: string) {
    super(message);
  }
}

export async function startRealtimeFake(opts: RealtimeFakeOptions): Promise<RealtimeFake> {
  const sql = postgres(opts.databaseUrl, { max: 4, onnotice: () => {}, connection: { application_name: 'realtime_fake' } });
  if (opts.createPartitions !== false) await sql`select realtime.switchyard_test_create_partitions()`;
  const jwks = opts.jwks ? createLocalJWKSet(opts.jwks) : null;
  const secret = opts.jwtSecret ? new TextEncoder().encode(opts.jwtSecret) : null;
  const conns = new Set<Conn>();
  const sendMs: number[] = [];
  const joins: RealtimeFake['joins'] = [];
  let down = false;

  async function verify(token: string): Promise<JWTPayload> {
    let header: { alg?: string; kid?: string };
    try {
      header = JSON.parse(Buffer.from(token.split('.')[0] ?? '', 'base64url').toString('utf8'));
      decodeJwt(token);
    } catch {
      throw new JwtError('MalformedJWT', 'The token provided is not a valid JWT');
    }
    let claims: JWTPayload;
    try {
      if (header.alg?.startsWith('HS')) {
        if (!secret) throw new JwtError('JwtSignatureError', 'Failed to validate JWT signature');
        claims = (await jwtVerify(token, secret, { algorithms: ['HS256', 'HS384', 'HS512'], clockTolerance: 0 })).payload;
      } else {
        if (!jwks || !header.kid) throw new JwtError('JwtSignerError', 'Failed to generate JWT signer');
        claims = (await jwtVerify(token, jwks, { clockTolerance: 0 })).payload;
      }
    } catch (err) {
      if (err instanceof JwtError) throw err;
      const code = (err as { code?: string }).code;
      if (code === 'ERR_JWT_EXPIRED') {
        const exp = Number(decodeJwt(token).exp);
        throw new JwtError('InvalidJWTToken', `Token has expired ${Math.max(0, Math.floor(Date.now() / 1000) - exp)} seconds ago`);
      }
      throw new JwtError('JwtSignatureError', 'Failed to validate JWT signature');
    }
    if (typeof claims.role !== 'string' || typeof claims.exp !== 'number') {
      throw new JwtError('InvalidJWTToken', 'Fields `role` and `exp` are required in JWT');
    }
    return claims;
  }

  /** Realtime's read check for a private channel (lib/realtime/tenants/authorization.ex). */
  async function mayRead(sub: string, claims: JWTPayload): Promise<boolean> {
    const probe = randomUUID();
    const reserved = await sql.reserve();
    try {
      await reserved`begin`;
      await reserved`insert into realtime.messages (id, topic, extension, inserted_at, updated_at)
                     values (${probe}, ${sub}, 'broadcast', now() at time zone 'utc', now() at time zone 'utc')`;
      await setClaims(reserved, sub, claims);
      const rows = await reserved`select id from realtime.messages where id = ${probe}::uuid`;
      return rows.length > 0;
    } finally {
      await reserved`rollback`.catch(() => {});
      reserved.release();
    }
  }

  /** Realtime's lazy write check: an INSERT as the JWT's role, in a savepoint, rolled back. */
  async function mayWrite(sub: string, claims: JWTPayload): Promise<boolean> {
    const reserved = await sql.reserve();
    try {
      await reserved`begin`;
      await setClaims(reserved, sub, claims);
      await reserved`savepoint w`;
      try {
        await reserved`insert into realtime.messages (topic, extension) values (${sub}, 'broadcast')`;
        return true;
      } catch (err) {
        if ((err as { code?: string }).code === '42501') return false;
        throw err;
      }
    } finally {
      await reserved`rollback`.catch(() => {});
      reserved.release();
    }
  }

  async function setClaims(tx: postgres.ReservedSql, sub: string, claims: JWTPayload) {
    await tx`select set_config('role', ${String(claims.role)}, true),
                    set_config('realtime.topic', ${sub}, true),
                    set_config('request.jwt.claims', ${JSON.stringify(claims)}, true),
                    set_config('request.jwt.claim.sub', ${String(claims.sub ?? '')}, true),
                    set_config('request.jwt.claim.role', ${String(claims.role)}, true),
                    set_config('request.headers', '{}', true)`;
  }

  // ── framing ──
  function send(conn: Conn, topic: string, event: string, payload: unknown, ref: string | null, joinRef: string | null) {
    if (conn.ws.readyState !== conn.ws.OPEN) return;
    conn.ws.send(conn.vsn === '1.0.0' ? JSON.stringify({ topic, event, payload, ref }) : JSON.stringify([joinRef, ref, topic, event, payload]));
  }
  function reply(conn: Conn, topic: string, ref: string | null, joinRef: string | null, status: 'ok' | 'error', response: unknown) {
    send(conn, topic, 'phx_reply', { status, response }, ref, joinRef);
  }
  /** A broadcast to a client: v1 JSON; v2 binary kind 4 (JSON-encoded payload). */
  function sendBroadcast(conn: Conn, ch: Channel, event: string, payload: unknown, meta: unknown) {
    if (conn.ws.readyState !== conn.ws.OPEN) return;
    if (conn.vsn === '1.0.0') {
      conn.ws.send(JSON.stringify({ topic: ch.topic, event: 'broadcast', payload: { type: 'broadcast', event, payload, ...(meta ? { meta } : {}) }, ref: null }));
      return;
    }
    const topic = Buffer.from(ch.topic);
    const ev = Buffer.from(event);
    const m = meta ? Buffer.from(JSON.stringify(meta)) : Buffer.alloc(0);
    const body = Buffer.from(JSON.stringify(payload));
    conn.ws.send(Buffer.concat([Buffer.from([4, topic.length, ev.length, m.length, 1]), topic, ev, m, body]));
  }
  function closeChannel(conn: Conn, ch: Channel, message: string) {
    clearTimeout(ch.expiry);
    conn.channels.delete(ch.topic);
    send(conn, ch.topic, 'system', { extension: 'system', status: 'error', message, channel: ch.sub }, null, ch.joinRef);
    send(conn, ch.topic, 'phx_close', {}, ch.joinRef, ch.joinRef);
  }
  function armExpiry(conn: Conn, ch: Channel) {
    clearTimeout(ch.expiry);
    const ms = Number(ch.claims.exp) * 1000 - Date.now();
    ch.expiry = setTimeout(() => {
      if (conn.channels.get(ch.topic) === ch) closeChannel(conn, ch, `Token has expired ${Math.max(0, Math.floor(Date.now() / 1000) - Number(ch.claims.exp))} seconds ago`);
    }, Math.max(0, ms));
  }

  async function onJoin(conn: Conn, topic: string, payload: any, ref: string | null, joinRef: string | null) {
    const fail = (reason: string) => {
      joins.push({ topic, ok: false, reason });
      reply(conn, topic, ref, joinRef, 'error', { reason });
    };
    if (!topic.startsWith('realtime:')) return fail('unmatched topic');
    const sub = topic.slice('realtime:'.length);
    const config = payload?.config ?? {};
    const isPrivate = config.private === true || config.private === 'true';
    if (!isPrivate && opts.privateOnly) return fail('PrivateOnly: This project only allows private channels');
    const given = typeof payload?.access_token === 'string' ? payload.access_token : typeof payload?.user_token === 'string' ? payload.user_token : null;
    const token = !given || given.startsWith('sb_') ? conn.token : given;
    let claims: JWTPayload;
    try {
      claims = await verify(token);
    } catch (err) {
      return fail(err instanceof JwtError ? `${err.code}: ${err.message}` : 'Unknown Error on Channel');
    }
    if (isPrivate) {
      let ok: boolean;
      try {
        ok = await mayRead(sub, claims);
      } catch (err) {
        const code = (err as { code?: string }).code;
        return fail(code === '23514' || /no partition/.test(String((err as Error).message)) ? 'MissingPartition: Realtime was unable to find the expected partition' : 'Unknown Error on Channel');
      }
      if (!ok) return fail(`Unauthorized: You do not have permissions to read from this Channel topic: ${sub}`);
    }
    const ch: Channel = { topic, sub, joinRef: joinRef ?? ref ?? '', private: isPrivate, token, claims };
    const previous = conn.channels.get(topic);
    if (previous) clearTimeout(previous.expiry);
    conn.channels.set(topic, ch);
    armExpiry(conn, ch);
    joins.push({ topic, ok: true });
    reply(conn, topic, ref, joinRef, 'ok', { postgres_changes: [] });

    const replay = config.broadcast?.replay;
    if (isPrivate && replay && typeof replay.since === 'number') {
      const limit = Math.min(25, Math.max(1, Number(replay.limit) || 25));
      const rows = await sql<{ id: string; event: string; payload: unknown }[]>`
        select id, event, payload from realtime.messages
         where topic = ${sub} and private is true and extension = 'broadcast'
           and inserted_at >= to_timestamp(${replay.since / 1000}) at time zone 'utc'
         order by inserted_at limit ${limit}`;
      for (const r of rows) sendBroadcast(conn, ch, r.event, r.payload, { replayed: true, id: r.id });
    }
  }

  async function onAccessToken(conn: Conn, topic: string, payload: any) {
    const ch = conn.channels.get(topic);
    const token = payload?.access_token;
    if (!ch || typeof token !== 'string' || token === ch.token || token.startsWith('sb_')) return;
    let claims: JWTPayload;
    try {
      claims = await verify(token);
    } catch (err) {
      return closeChannel(conn, ch, err instanceof JwtError ? err.message : 'Unknown Error on Channel');
    }
    ch.token = token;
    ch.claims = claims;
    ch.canWrite = undefined;
    if (ch.private && !(await mayRead(ch.sub, claims))) {
      return closeChannel(conn, ch, `You no longer have permission to read from this Channel topic: ${ch.sub}`);
    }
    armExpiry(conn, ch);
  }

  async function onClientBroadcast(conn: Conn, topic: string, event: string, payload: unknown) {
    const ch = conn.channels.get(topic);
    if (!ch) return;
    if (ch.private) {
      ch.canWrite ??= await mayWrite(ch.sub, ch.claims);
      if (!ch.canWrite) return; // dropped, as Realtime drops an unauthorized broadcast
    }
    for (const other of conns) {
      if (other === conn) continue; // config.broadcast.self defaults to false
      const och = other.channels.get(topic);
      if (och && och.private === ch.private) sendBroadcast(other, och, event, payload, null);
    }
  }

  function onMessage(conn: Conn, data: Buffer, isBinary: boolean) {
    if (isBinary) {
      // kind 3, user broadcast push: kind, joinRefLen, refLen, topicLen, eventLen, metaLen, enc, …
      if (data[0] !== 3) return;
      const [jl, rl, tl, el, ml, enc] = [data[1]!, data[2]!, data[3]!, data[4]!, data[5]!, data[6]!];
      let o = 7 + jl + rl;
      const topic = data.subarray(o, (o += tl)).toString();
      const event = data.subarray(o, (o += el)).toString();
      o += ml;
      const body = data.subarray(o);
      void onClientBroadcast(conn, topic, event, enc === 1 ? JSON.parse(body.toString() || 'null') : body);
      return;
    }
    let msg: { topic: string; event: string; payload: any; ref: string | null; join_ref: string | null };
    try {
      const parsed = JSON.parse(data.toString());
      msg = Array.isArray(parsed)
        ? { join_ref: parsed[0], ref: parsed[1], topic: parsed[2], event: parsed[3], payload: parsed[4] }
        : { join_ref: parsed.join_ref ?? null, ref: parsed.ref ?? null, topic: parsed.topic, event: parsed.event, payload: parsed.payload };
    } catch {
      return;
    }
    const { topic, event, payload, ref, join_ref: joinRef } = msg;
    if (topic === 'phoenix' && event === 'heartbeat') return reply(conn, 'phoenix', ref, null, 'ok', {});
    switch (event) {
      case 'phx_join':
        void onJoin(conn, topic, payload, ref, joinRef).catch(() => reply(conn, topic, ref, joinRef, 'error', { reason: 'Unknown Error on Channel' }));
        return;
      case 'access_token':
        void onAccessToken(conn, topic, payload).catch(() => {});
        return;
      case 'phx_leave': {
        const ch = conn.channels.get(topic);
        if (ch) clearTimeout(ch.expiry);
        conn.channels.delete(topic);
        reply(conn, topic, ref, joinRef, 'ok', {});
        send(conn, topic, 'phx_close', {}, joinRef, joinRef);
        return;
      }
      case 'broadcast':
        if (payload && typeof payload.event === 'string') void onClientBroadcast(conn, topic, payload.event, payload.payload);
        return;
      default:
        if (!conn.channels.has(topic)) reply(conn, topic, ref, joinRef, 'error', { reason: 'unmatched topic' });
    }
  }

  // ── delivery of committed rows ──
  const listener = await sql.listen('realtime_test_messages', (raw) => {
    const t0 = performance.now();
    const { id } = JSON.parse(raw) as { id: string };
    void (async () => {
      const [row] = await sql<{ topic: string; event: string; payload: unknown; private: boolean; extension: string }[]>`
        select topic, event, payload, private, extension from realtime.messages where id = ${id}::uuid`;
      if (!row || row.extension !== 'broadcast') return;
      let delivered = false;
      for (const conn of conns) {
        const ch = conn.channels.get(`realtime:${row.topic}`);
        if (!ch || ch.private !== row.private) continue;
        sendBroadcast(conn, ch, row.event, row.payload, { id });
        delivered = true;
      }
      if (delivered) sendMs.push(performance.now() - t0);
    })().catch(() => {});
  });

  // ── the HTTP server and the upgrade ──
  const wss = new WebSocketServer({ noServer: true });
  const server = createServer((_req, res) => {
    res.writeHead(404, { 'content-type': 'application/json' }).end(JSON.stringify({ error: 'not found' }));
  });
  server.on('upgrade', (req: IncomingMessage, socket: Duplex, head: Buffer) => {
    const url = new URL(req.url ?? '/', 'http://localhost');
    const refuse = (status: number, error: string) => {
      const body = JSON.stringify({ error });
      socket.end(`HTTP/1.1 ${status} ${status === 401 ? 'Unauthorized' : 'Forbidden'}\r\ncontent-type: application/json\r\ncontent-length: ${Buffer.byteLength(body)}\r\nconnection: close\r\n\r\n${body}`);
    };
    if (url.pathname !== '/realtime/v1/websocket' && url.pathname !== '/socket/websocket') {
      socket.end('HTTP/1.1 404 Not Found\r\ncontent-length: 0\r\nconnection: close\r\n\r\n');
      return;
    }
    if (down) {
      socket.end('HTTP/1.1 503 Service Unavailable\r\ncontent-length: 0\r\nconnection: close\r\n\r\n');
      return;
    }
    const token = (req.headers['x-api-key'] as string | undefined) ?? url.searchParams.get('apikey') ?? '';
    const vsn = url.searchParams.get('vsn') === '2.0.0' ? '2.0.0' : '1.0.0';
    verify(token).then(() => {
      wss.handleUpgrade(req, socket, head, (ws) => {
        const conn: Conn = { ws, vsn, token, channels: new Map() };
        conns.add(conn);
        ws.on('message', (data: Buffer, isBinary: boolean) => onMessage(conn, data, isBinary));
        ws.on('close', () => {
          for (const ch of conn.channels.values()) clearTimeout(ch.expiry);
          conns.delete(conn);
        });
      });
    }, (err) => refuse(401, err instanceof JwtError ? err.message : 'Unauthorized'));
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const { port } = server.address() as { port: number };

  return {
    url: `http://127.0.0.1:${port}`,
    sendMs,
    joins,
    connections: () => conns.size,
    suspend() {
      down = true;
      for (const c of conns) c.ws.terminate();
    },
    resume() {
      down = false;
    },
    async close() {
      for (const c of conns) c.ws.terminate();
      wss.close();
      await new Promise<void>((r) => server.close(() => r()));
      await listener.unlisten();
      await sql.end({ timeout: 1 });
    },
  };
}
