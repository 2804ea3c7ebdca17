/**
 * Secrets and personal data are masked before anything is stored: connection strings' passwords,
 * bearer tokens and API keys, email addresses, and card numbers (digit runs that pass the Luhn
 * check, so order ids and timestamps survive). Applied to messages and to every string in attrs.
 */
const CONNECTION = /\b([a-z][a-z0-9+.-]*:\/\/)([^:/?#\s@]+):([^@\s/]+)@/gi;
const BEARER = /\b(bearer|token|basic)\s+[A-Za-z0-9._~+/=-]{8,}/gi;
const KEYS = /\b(sk|pk|rk|whsec|sntrys|rnd|sbp|ghp|xox[abp])_[A-Za-z0-9_-]{8,}/g;
const SECRET_PARAMS = /\b(password|passwd|pwd|secret|api[_-]?key|access[_-]?token|token)=([^&\s"']+)/gi;
const EMAIL = /\b[A-Za-z0-9._%+-]+@[A-Za-z0-9.-]+\.[A-Za-z]{2,}\b/g;
const CARD = /\b(?:\d[ -]?){13,19}\b/g;

function luhn(digits: string): boolean {
  let sum = 0;
  for (let i = 0; i < digits.length; i++) {
    let d = Number(digits[digits.length - 1 - i]);
    if (i % 2 === 1) {
      d *= 2;
      if (d > 9) d -= 9;
    }
    sum += d;
  }
  return sum % 10 === 0;
}

export function maskText(text: string): string {
  return text
    .replace(CONNECTION, (_m, scheme: string, user: string) => `${scheme}${user}:****@`)
    .replace(BEARER, (_m, kind: string) => `${kind} ****`)
    .replace(KEYS, (_m, prefix: string) => `${prefix}_****`)
    .replace(SECRET_PARAMS, (_m, name: string) => `${name}=****`)
    .replace(EMAIL, '****@****')
    .replace(CARD, (m) => {
      const digits = m.replace(/[ -]/g, '');
      return digits.length >= 13 && digits.length <= 19 && luhn(digits) ? `****${digits.slice(-4)}` : m;
    });
}

const SENSITIVE_KEYS = /^(authorization|cookie|set-cookie|password|passwd|secret|token|api_?key|access_?token|refresh_?token|client_?secret)$/i;

/** A deep copy with every string masked and values under sensitive keys replaced. */
export function maskValue<T>(value: T, depth = 0): T {
  if (depth > 12) return '[truncated]' as T;
  if (typeof value === 'string') return maskText(value) as T;
  if (Array.isArray(value)) return value.map((v) => maskValue(v, depth + 1)) as T;
  if (value && typeof value === 'object') {
    const out: Record<string, unknown> = {};
    for (const [k, v] of Object.entries(value)) out[k] = SENSITIVE_KEYS.test(k) ? '****' : maskValue(v, depth + 1);
    return out as T;
  }
  return value;
}
