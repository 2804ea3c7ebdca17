/**
 * Upstash's Redis REST API in front of a real Redis (Debian's redis-server, started here), as
 * @upstash/redis speaks it (shared/reference/platform.md §1): `POST /` with one command as a JSON
 * array, `POST /pipeline` and `POST /multi-exec` with an array of them; `Authorization: Bearer`
 * (401 otherwise); answers `{"result": …}` or, on a Redis error, 400 `{"error": "…"}` (so an
 * EVALSHA of an unknown script is a 400 NOSCRIPT, and the client falls back to EVAL); with
 * `Upstash-Encoding: base64` every string of a result is base64, recursively, integers and nil
 * raw; any other method is 405. `stopRedis()`/`startRedis()` take Redis away and back (the REST
 * front then answers 500, as Upstash's proxy does when its Redis is gone); `freeze()` holds
 * requests unanswered.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { createServer, type Server } from 'node:http';
import { connect, type Socket } from 'node:net';
import { existsSync } from 'node:fs';
import { freePort } from '../helpers/net.ts';

type Reply = string | number | null | Reply[] | { error: string };

/** A RESP2 client on one connection: commands are answered in the order they were written. */
class Resp {
  private buffer = Buffer.alloc(0);
  private waiting: ((r: Reply) => void)[] = [];
  private constructor(private readonly socket: Socket) {
    socket.on('data', (d: Buffer) => {
      this.buffer = Buffer.concat([this.buffer, d]);
      for (;;) {
        const parsed = parse(this.buffer, 0);
        if (!parsed) break;
        this.buffer = this.buffer.subarray(parsed.end);
        this.waiting.shift()?.(parsed.value);
      }
    });
    socket.on('close', () => {
      for (const w of this.waiting.splice(0)) w({ error: 'ERR connection to Redis closed' });
    });
  }

  static open(port: number): Promise<Resp> {
    return new Promise((resolve, reject) => {
      const s = connect(port, '127.0.0.1', () => resolve(new Resp(s)));
      s.once('error', reject);
    });
  }

  get alive() {
    return !this.socket.destroyed;
  }

  /** Writes all the commands at once (a MULTI … EXEC block can't be interleaved) and returns their replies. */
  send(commands: string[][]): Promise<Reply[]> {
    const out = commands.map((args) => `*${args.length}\r\n${args.map((a) => `$${Buffer.byteLength(a)}\r\n${a}\r\n`).join('')}`).join('');
    const replies = commands.map(() => new Promise<Reply>((r) => this.waiting.push(r)));
    this.socket.write(out);
    return Promise.all(replies);
  }

  close() {
    this.socket.destroy();
  }
}

function parse(buf: Buffer, at: number): { value: Reply; end: number } | null {
  const nl = buf.indexOf('\r\n', at);
  if (nl < 0) return null;
  const head = buf.toString('utf8', at + 1, nl);
  const next = nl + 2;
  switch (String.fromCharCode(buf[at]!)) {
    case '+': return { value: head, end: next };
    case '-': return { value: { error: head }, end: next };
    case ':': return { value: Number(head), end: next };
    case '$': {
      const len = Number(head);
      if (len < 0) return { value: null, end: next };
      if (buf.length < next + len + 2) return null;
      return { value: buf.toString('utf8', next, next + len), end: next + len + 2 };
    }
    case '*': {
      const n = Number(head);
      if (n < 0) return { value: null, end: next };
      const items: Reply[] = [];
      let pos = next;
      for (let i = 0; i < n; i++) {
        const item = parse(buf, pos);
        if (!item) return null;
        items.push(item.value);
        pos = item.end;
      }
      return { value: items, end: pos };
    }
    default: throw new Error(`bad RESP type ${buf[at]}`);
  }
}

const isError = (r: Reply): r is { error: string } => typeof r === 'object' && r !== null && !Array.isArray(r);

function encode(r: Reply, base64: boolean): unknown {
  if (Array.isArray(r)) return r.map((x) => encode(x, base64));
  if (typeof r === 'string') return base64 ? Buffer.from(r, 'utf8').toString('base64') : r;
  return r;
}

export interface UpstashFake {
  url: string;
  token: string;
  /** Every command the REST front received, in order (`["evalsha", sha, …]`). */
  commands: string[][];
  stopRedis(): Promise<void>;
  startRedis(): Promise<void>;
  freeze(on: boolean): void;
  flushAll(): Promise<void>;
  close(): Promise<void>;
}

export async function startUpstashFake(): Promise<UpstashFake> {
  const bin = process.env.REDIS_SERVER_PATH ?? '/usr/bin/redis-server';
  if (!existsSync(bin)) throw new Error(`no redis-server at ${bin}: apt-get install redis-server, or set REDIS_SERVER_PATH`);
  const redisPort = await freePort();
  let redis: ChildProcess | null = null;
  let client: Resp | null = null;
  let frozen = false;
  const held: (() => void)[] = [];

  const startRedis = async () => {
    redis = spawn(bin, ['--port', String(redisPort), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no'], { stdio: 'ignore' });
    for (let i = 0; i < 100; i++) {
      try {
        client = await Resp.open(redisPort);
        return;
      } catch {
        await new Promise((r) => setTimeout(r, 50));
      }
    }
    throw new Error('redis-server did not start');
  };
  const stopRedis = async () => {
    client?.close();
    client = null;
    if (redis && redis.exitCode === null) {
      const exited = new Promise((r) => redis!.once('exit', r));
      redis.kill('SIGKILL');
      await exited;
    }
    redis = null;
  };
  await startRedis();

  const token = 'upstash-fake-token';
  const commands: string[][] = [];
  const server: Server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', async () => {
      if (frozen) await new Promise<void>((r) => held.push(r));
      const reply = (status: number, body: unknown) => res.writeHead(status, { 'content-type': 'application/json' }).end(JSON.stringify(body));
      if (req.method !== 'POST') return reply(405, { error: 'ERR only POST is supported' });
      if (req.headers.authorization !== `Bearer ${token}`) return reply(401, { error: 'Unauthorized' });
      const path = (req.url ?? '/').split('?')[0];
      let body: unknown;
      try {
        body = JSON.parse(Buffer.concat(chunks).toString('utf8'));
      } catch {
        return reply(400, { error: 'ERR failed to parse command' });
      }
      const base64 = String(req.headers['upstash-encoding'] ?? '').toLowerCase() === 'base64';
      const asCommand = (c: unknown): string[] | null => (Array.isArray(c) && c.length ? c.map((x) => (typeof x === 'string' ? x : JSON.stringify(x))) : null);
      if (!client?.alive) return reply(500, { error: 'ERR Redis is unavailable' });
      if (path === '/') {
        const cmd = asCommand(body);
        if (!cmd) return reply(400, { error: 'ERR a command is a non-empty JSON array' });
        commands.push(cmd);
        const [r] = await client.send([cmd]);
        return isError(r!) ? reply(400, { error: r.error }) : reply(200, { result: encode(r!, base64) });
      }
      if (path === '/pipeline' || path === '/multi-exec') {
        const list = Array.isArray(body) ? body.map(asCommand) : null;
        if (!list?.length || list.some((c) => !c)) return reply(400, { error: 'ERR a pipeline is a non-empty array of commands' });
        commands.push(...(list as string[][]));
        if (path === '/pipeline') {
          const rs = await client.send(list as string[][]);
          return reply(200, rs.map((r) => (isError(r) ? { error: r.error } : { result: encode(r, base64) })));
        }
        const rs = await client.send([['MULTI'], ...(list as string[][]), ['EXEC']]);
        const exec = rs.at(-1)!;
        if (isError(exec) || !Array.isArray(exec)) return reply(400, { error: isError(exec) ? exec.error : 'ERR transaction aborted' });
        return reply(200, exec.map((r) => (isError(r) ? { error: r.error } : { result: encode(r, base64) })));
      }
      return reply(404, { error: `ERR unknown endpoint ${path}` });
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
  const { port } = server.address() as { port: number };
  return {
    url: `http://127.0.0.1:${port}`,
    token,
    commands,
    stopRedis,
    startRedis,
    freeze(on) {
      frozen = on;
      if (!on) for (const h of held.splice(0)) h();
    },
    async flushAll() {
      await client?.send([['FLUSHALL']]);
    },
    async close() {
      frozen = false;
      for (const h of held.splice(0)) h();
      server.closeAllConnections();
      await new Promise<void>((r) => server.close(() => r()));
      await stopRedis();
    },
  };
}
