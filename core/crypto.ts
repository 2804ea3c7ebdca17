/**
 * Secrets, with WebCrypto only (Node, workerd and Deno share it):
 * - API keys: random `sk_…` strings, stored as SHA-256 hex.
 * - Sealed values: AES-256-GCM, `v1.<iv>.<ciphertext>` in base64url, bound to a context string
 *   (the row id) as additional data so a ciphertext can't be moved to another row.
 * - Signed tokens: `<payload>.<HMAC-SHA256>` in base64url, for short-lived SSE tokens.
 * - SCRAM-SHA-256 verifiers, so a provisioned role's password never appears in plain text in SQL.
 */
const enc = new TextEncoder();
const dec = new TextDecoder();

export function toBase64Url(bytes: Uint8Array): string {
  let s = '';
  for (const b of bytes) s += String.fromCharCode(b);
  return btoa(s).replace(/\+/g, '-').replace(/\//g, '_').replace(/=+$/, '');
}

export function fromBase64Url(text: string): Uint8Array<ArrayBuffer> {
  const b64 = text.replace(/-/g, '+').replace(/_/g, '/');
  const s = atob(b64 + '='.repeat((4 - (b64.length % 4)) % 4));
  const out = new Uint8Array(s.length);
  for (let i = 0; i < s.length; i++) out[i] = s.charCodeAt(i);
  return out;
}

function toBase64(bytes: Uint8Array): string {
  let s = '';
  for (const b of bytes) s += String.fromCharCode(b);
  return btoa(s);
}

const BASE62 = '0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz';

/** Uniform random base62 string (rejection sampling, no modulo bias). */
export function randomToken(length: number): string {
  let out = '';
  while (out.length < length) {
    for (const b of crypto.getRandomValues(new Uint8Array(length * 2))) {
      if (b < 248 && out.length < length) out += BASE62[b % 62];
    }
  }
  return out;
}

/**
 * node:crypto where the runtime has it (Node, Deno, Workers with nodejs_compat), reached without a
 * static import so this file still loads anywhere. Its hash is synchronous: WebCrypto's digest
 * hands every call to a thread pool and back, which cost ~40 µs of the main thread per keyed
 * create (the Idempotency-Key fingerprint) in the intent bench's profile.
 */
type NodeHash = { createHash(algorithm: 'sha256'): { update(text: string, encoding: 'utf8'): { digest(encoding: 'hex'): string } } };
const nodeCrypto = (() => {
  try {
    return (globalThis as { process?: { getBuiltinModule?: (id: string) => unknown } }).process?.getBuiltinModule?.('node:crypto') as NodeHash | undefined;
  } catch {
    return undefined;
  }
})();

export async function sha256Hex(text: string): Promise<string> {
  if (nodeCrypto) return nodeCrypto.createHash('sha256').update(text, 'utf8').digest('hex');
  return sha256HexWeb(text);
}

/** The same digest through WebCrypto (every runtime). */
export async function sha256HexWeb(text: string): Promise<string> {
  const digest = new Uint8Array(await crypto.subtle.digest('SHA-256', enc.encode(text)));
  return Array.from(digest, (b) => b.toString(16).padStart(2, '0')).join('');
}

export interface SecretBox {
  seal(plaintext: string, context: string): Promise<string>;
  open(sealed: string, context: string): Promise<string>;
  sign(payload: object): Promise<string>;
  verify<T>(token: string): Promise<T | null>;
}

/** Parses SWITCHYARD_SECRET_KEY: 32 bytes, base64 or base64url. */
export function parseSecretKey(text: string): Uint8Array<ArrayBuffer> | null {
  try {
    const bytes = fromBase64Url(text.trim());
    return bytes.length === 32 ? bytes : null;
  } catch {
    return null;
  }
}

export function generateSecretKey(): string {
  return toBase64Url(crypto.getRandomValues(new Uint8Array(32)));
}

/** Derives independent keys for encryption and signing from the one configured secret. */
export async function createSecretBox(secret: Uint8Array<ArrayBuffer>): Promise<SecretBox> {
  const master = await crypto.subtle.importKey('raw', secret, 'HKDF', false, ['deriveKey']);
  const derive = (info: string, algorithm: AesKeyGenParams | HmacImportParams, usages: KeyUsage[]) =>
    crypto.subtle.deriveKey(
      { name: 'HKDF', hash: 'SHA-256', salt: new Uint8Array(0), info: enc.encode(info) },
      master,
      algorithm,
      false,
      usages,
    );
  const aes = await derive('switchyard/seal/v1', { name: 'AES-GCM', length: 256 }, ['encrypt', 'decrypt']);
  const hmac = await derive('switchyard/sign/v1', { name: 'HMAC', hash: 'SHA-256', length: 256 }, ['sign', 'verify']);

  return {
    async seal(plaintext, context) {
      const iv = crypto.getRandomValues(new Uint8Array(12));
      const ct = await crypto.subtle.encrypt(
        { name: 'AES-GCM', iv, additionalData: enc.encode(context) }, aes, enc.encode(plaintext));
      return `v1.${toBase64Url(iv)}.${toBase64Url(new Uint8Array(ct))}`;
    },
    async open(sealed, context) {
      const [version, iv, ct] = sealed.split('.');
      if (version !== 'v1' || !iv || !ct) throw new Error('unrecognised sealed value');
      const pt = await crypto.subtle.decrypt(
        { name: 'AES-GCM', iv: fromBase64Url(iv), additionalData: enc.encode(context) }, aes, fromBase64Url(ct));
      return dec.decode(pt);
    },
    async sign(payload) {
      const body = toBase64Url(enc.encode(JSON.stringify(payload)));
      const mac = new Uint8Array(await crypto.subtle.sign('HMAC', hmac, enc.encode(body)));
      return `${body}.${toBase64Url(mac)}`;
    },
    async verify<T>(token: string) {
      const [body, mac] = token.split('.');
      if (!body || !mac) return null;
      let macBytes: Uint8Array<ArrayBuffer>;
      try {
        macBytes = fromBase64Url(mac);
      } catch {
        return null;
      }
      // crypto.subtle.verify compares in constant time.
      const ok = await crypto.subtle.verify('HMAC', hmac, macBytes, enc.encode(body));
      if (!ok) return null;
      try {
        return JSON.parse(dec.decode(fromBase64Url(body))) as T;
      } catch {
        return null;
      }
    },
  };
}

/**
 * A SCRAM-SHA-256 verifier in the form Postgres stores (RFC 5802/7677), so `CREATE ROLE … PASSWORD`
 * carries the verifier and the plain password never reaches the server's statement log.
 */
export async function scramSha256Verifier(password: string, iterations = 4096): Promise<string> {
  const salt = crypto.getRandomValues(new Uint8Array(16));
  const pwKey = await crypto.subtle.importKey('raw', enc.encode(password), 'PBKDF2', false, ['deriveBits']);
  const salted = new Uint8Array(
    await crypto.subtle.deriveBits({ name: 'PBKDF2', hash: 'SHA-256', salt, iterations }, pwKey, 256));
  const hmacKey = await crypto.subtle.importKey('raw', salted, { name: 'HMAC', hash: 'SHA-256' }, false, ['sign']);
  const clientKey = new Uint8Array(await crypto.subtle.sign('HMAC', hmacKey, enc.encode('Client Key')));
  const serverKey = new Uint8Array(await crypto.subtle.sign('HMAC', hmacKey, enc.encode('Server Key')));
  const storedKey = new Uint8Array(await crypto.subtle.digest('SHA-256', clientKey));
  return `SCRAM-SHA-256$${iterations}:${toBase64(salt)}$${toBase64(storedKey)}:${toBase64(serverKey)}`;
}

/**
 * A password hash for users of a tenant's store: PBKDF2-HMAC-SHA256 over WebCrypto (so it runs on
 * Workers too, whose WebCrypto caps PBKDF2 at 100,000 iterations), 16-byte salt, in the
 * `pbkdf2_sha256$<iterations>$<salt>$<hash>` format (base64url).
 */
export async function hashPassword(password: string, iterations = 100_000): Promise<string> {
  const salt = crypto.getRandomValues(new Uint8Array(16));
  const key = await crypto.subtle.importKey('raw', new TextEncoder().encode(password), 'PBKDF2', false, ['deriveBits']);
  const bits = await crypto.subtle.deriveBits({ name: 'PBKDF2', hash: 'SHA-256', salt, iterations }, key, 256);
  return `pbkdf2_sha256$${iterations}$${toBase64Url(salt)}$${toBase64Url(new Uint8Array(bits))}`;
}
