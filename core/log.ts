/**
 * JSON-lines logging. Fields named like secrets are redacted before anything is written, so a
 * careless `log.info('x', { password })` still can't leak one.
 */
export type Level = 'debug' | 'info' | 'warn' | 'error' | 'silent';
const ORDER: Record<Level, number> = { debug: 10, info: 20, warn: 30, error: 40, silent: 100 };
const SECRET_FIELD = /pass(word)?|secret|token|authorization|api_?key|connection(_string)?|cookie/i;
const SECRET_IN_TEXT = [
  /\bsk_[A-Za-z0-9_]{8,}/g, // API keys: ours (sk_…) and the sk_live_… / sk_test_… of others
  /\bwhsec_[A-Za-z0-9+/=]{8,}/g, // webhook signing secrets (Standard Webhooks)
  /(postgres(?:ql)?:\/\/[^:\s/]+:)[^@\s]+@/g, // passwords inside connection strings
  /(Bearer\s+)[A-Za-z0-9._~+/-]+=*/gi,
  // drizzle's DrizzleQueryError puts a failed statement's parameters (names, key hashes, tenant
  // input) in its message: the statement is worth logging, its values are not.
  /(\bparams: )[^\n]*/g,
];

export interface Logger {
  debug(msg: string, fields?: Record<string, unknown>): void;
  info(msg: string, fields?: Record<string, unknown>): void;
  warn(msg: string, fields?: Record<string, unknown>): void;
  error(msg: string, fields?: Record<string, unknown>): void;
  child(fields: Record<string, unknown>): Logger;
}

/** Matches wherever any of SECRET_IN_TEXT could (a superset): most text has none, and is returned after one scan. */
const MAY_HOLD_SECRET = /sk_|whsec_|postgres|bearer|params: /i;

/** Field names seen, and whether each names a secret (names come from code, so the set is small; capped anyway). */
const secretNames = new Map<string, boolean>();
function isSecretName(k: string): boolean {
  let known = secretNames.get(k);
  if (known === undefined) {
    known = SECRET_FIELD.test(k);
    if (secretNames.size < 1000) secretNames.set(k, known);
  }
  return known;
}

export function redactText(text: string): string {
  if (!MAY_HOLD_SECRET.test(text)) return text;
  let out = text;
  for (const re of SECRET_IN_TEXT) {
    out = out.replace(re, (_m: string, group: unknown) => {
      const keep = typeof group === 'string' ? group : '';
      return `${keep}[redacted]${keep.endsWith(':') ? '@' : ''}`;
    });
  }
  return out;
}

/** Redacts secret-named fields and secrets inside text, all the way down (logs, and what goes to Sentry). */
export function redact(value: unknown, depth = 0): unknown {
  if (typeof value === 'string') return redactText(value);
  if (value instanceof Error) {
    // The cause is where a wrapped database error keeps its SQLSTATE; parameters are never copied.
    const code = (value as { code?: unknown }).code;
    return {
      name: value.name, message: redactText(value.message),
      ...(typeof code === 'string' ? { code } : {}),
      ...(value.cause !== undefined && depth < 3 ? { cause: redact(value.cause, depth + 1) } : {}),
    };
  }
  if (depth > 4 || value === null || typeof value !== 'object') return value;
  if (Array.isArray(value)) return value.map((v) => redact(v, depth + 1));
  const out: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(value)) out[k] = isSecretName(k) ? '[redacted]' : redact(v, depth + 1);
  return out;
}

export function createLogger(level: Level = 'info', base: Record<string, unknown> = {}, write = (line: string) => console.log(line)): Logger {
  const emit = (l: Level, msg: string, fields?: Record<string, unknown>) => {
    if (ORDER[l] < ORDER[level]) return;
    // One object per line: the base's fields, then the call's (which win), each redacted as redact() would.
    const line: Record<string, unknown> = { ts: new Date().toISOString(), level: l, msg: redactText(msg) };
    for (const k in base) line[k] = isSecretName(k) ? '[redacted]' : redact(base[k], 1);
    if (fields) for (const k in fields) line[k] = isSecretName(k) ? '[redacted]' : redact(fields[k], 1);
    write(JSON.stringify(line));
  };
  return {
    debug: (m, f) => emit('debug', m, f),
    info: (m, f) => emit('info', m, f),
    warn: (m, f) => emit('warn', m, f),
    error: (m, f) => emit('error', m, f),
    child: (fields) => createLogger(level, { ...base, ...fields }, write),
  };
}
