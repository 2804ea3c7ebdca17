/**
 * Prefixed, time-ordered ids (`prj_01jd…`): 10 Crockford base32 chars of milliseconds, then 16 of
 * randomness. Sorting ids sorts by creation time, which keyset pagination relies on, and the
 * lowercase alphabet makes them safe as Postgres identifiers for provisioned roles and databases.
 */
const ALPHABET = '0123456789abcdefghjkmnpqrstvwxyz';

export type IdPrefix = 'ten' | 'key' | 'prj' | 'sto' | 'job' | 'evt' | 'req' | 'wrk' | 'src' | 'whd' | 'alr';

export function newId(prefix: IdPrefix, now = Date.now()): string {
  let time = '';
  let t = now;
  for (let i = 0; i < 10; i++) {
    time = ALPHABET[t % 32] + time;
    t = Math.floor(t / 32);
  }
  const bytes = crypto.getRandomValues(new Uint8Array(16));
  let rand = '';
  for (const b of bytes) rand += ALPHABET[b & 31];
  return `${prefix}_${time}${rand}`;
}
