/**
 * Text Postgres can't store is refused at the door, naming where it was: U+0000 (NUL), lone UTF-16
 * surrogates (`\ud800` in JSON, which would become U+FFFD on the way in) and bytes that aren't
 * UTF-8 (which a lenient decoder would silently turn into U+FFFD), in JSON bodies and in query
 * parameters. Without this, such input was either stored altered or failed deep in a statement.
 *
 * Webhook routes are exempt: their bodies are verified as raw bytes first (see logs.handlers.ts).
 */
import type { MiddlewareHandler } from 'hono';
import type { AppEnv } from '../deps.ts';
import { badRequest } from '../errors.ts';

const strict = new TextDecoder('utf-8', { fatal: true });
/** Cheap pre-check on the JSON text: only then is the parsed body walked to name the field. */
const SUSPECT_ESCAPE = /\\u(0000|d[89a-f][0-9a-f]{2})/i;
const LONE_SURROGATE = /[\ud800-\udbff](?![\udc00-\udfff])|(?<![\ud800-\udbff])[\udc00-\udfff]/;

/** Why a string can't be stored as text, or null. */
export function unstorable(text: string): string | null {
  if (text.includes('\u0000')) return 'contains U+0000 (NUL), which cannot be stored';
  if (LONE_SURROGATE.test(text)) return 'contains a lone UTF-16 surrogate (not a Unicode character)';
  return null;
}

/** The first string (key or value) in a parsed JSON value that can't be stored, with its path. */
function findUnstorable(value: unknown, path: string): { field: string; message: string } | null {
  if (typeof value === 'string') {
    const why = unstorable(value);
    return why ? { field: path || '(body)', message: why } : null;
  }
  if (value === null || typeof value !== 'object') return null;
  for (const [k, v] of Object.entries(value)) {
    const at = path ? `${path}.${k}` : k;
    const why = unstorable(k);
    if (why) return { field: at, message: `its name ${why}` };
    const found = findUnstorable(v, at);
    if (found) return found;
  }
  return null;
}

export function textInput(): MiddlewareHandler<AppEnv> {
  return async function refuseUnstorableText(c, next) {
    if (c.req.path.startsWith('/v1/webhooks/')) return next();
    const url = c.req.url;
    const q = url.indexOf('?');
    if (q !== -1) {
      for (const pair of url.slice(q + 1).split('&')) {
        const [rawKey, rawValue = ''] = pair.split('=', 2) as [string, string?];
        let key: string;
        let value: string;
        try {
          key = decodeURIComponent(rawKey.replace(/\+/g, ' '));
          value = decodeURIComponent(rawValue.replace(/\+/g, ' '));
        } catch {
          throw badRequest('a query parameter is not valid percent-encoded UTF-8', [{ field: rawKey.slice(0, 40), message: 'invalid UTF-8 or percent-encoding' }]);
        }
        const why = unstorable(key) ?? unstorable(value);
        if (why) throw badRequest(`the query parameter ${JSON.stringify(key.replace(/[^\x20-\x7e]/g, '?'))} ${why}`, [{ field: key.replace(/[^\x20-\x7e]/g, '?'), message: why }]);
      }
    }
    if (c.req.method !== 'GET' && c.req.method !== 'HEAD' && /json/i.test(c.req.header('Content-Type') ?? '')) {
      const bytes = new Uint8Array(await c.req.arrayBuffer());
      let text: string;
      try {
        text = strict.decode(bytes);
      } catch {
        throw badRequest('the body is not valid UTF-8', [{ field: '(body)', message: 'invalid UTF-8' }]);
      }
      if (SUSPECT_ESCAPE.test(text)) {
        let parsed: unknown;
        try {
          parsed = JSON.parse(text);
        } catch {
          return next(); // malformed JSON: the route's validation says so
        }
        const found = findUnstorable(parsed, '');
        if (found) throw badRequest(`the field ${found.field} ${found.message}`, [found]);
      }
    }
    return next();
  };
}
