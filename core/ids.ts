/**
 * Prefixed, time-ordered ids (`prj_01jd…`): 10 Crockford base32 chars of milliseconds, then 16 of
 * randomness. Sorting ids sorts by creation time, which keyset pagination relies on, and the
 * lowercase alphabet makes them safe as Postgres identifiers for provisioned roles and databases.
 */
const ALPHABET = '0123456789abcdefghjkmnpqrstvwxyz';

/** Any id newId makes, whatever its prefix. */
export const ID_PATTERN = /^[a-z]{3}_[0-9a-z]{26}$/;

export type IdPrefix = 'ten' | 'key' | 'prj' | 'sto' | 'job' | 'evt' | 'req' | 'wrk' | 'src' | 'whd' | 'alr' | 'pol' | 'rol' | 'aud';

// Random bytes are drawn 4 KiB at a time: one getRandomValues call per id was a measurable share of
// the API's CPU per create (three ids per request). Each byte is used once.
const pool = new Uint8Array(4096);
let poolOffset = pool.length;

export function newId(prefix: IdPrefix, now = Date.now()): string {
  let time = '';
  let t = now;
  for (let i = 0; i < 10; i++) {
    time = ALPHABET[t % 32] + time;
    t = Math.floor(t / 32);
  }
  if (poolOffset + 16 > pool.length) {
    crypto.getRandomValues(pool);
    poolOffset = 0;
  }
  let rand = '';
  for (let i = poolOffset; i < poolOffset + 16; i++) rand += ALPHABET[pool[i]! & 31];
  poolOffset += 16;
  return `${prefix}_${time}${rand}`;
}

