import { describe, expect, it } from 'vitest';
import { toIsoTimestamp } from './client.ts';

/** What the parser did before its text fast path: through Date. */
const viaDate = (value: string) => {
  const withT = value.replace(' ', 'T');
  return new Date(/[+-]\d\d$/.test(withT) ? `${withT}:00` : withT).toISOString();
};

describe('toIsoTimestamp', () => {
  it('rewrites UTC timestamps as text exactly as Date would, at every precision', () => {
    let seed = 7;
    const rnd = (n: number) => ((seed = (seed * 1103515245 + 12345) % 2 ** 31), seed % n);
    const pad = (n: number, w: number) => String(n).padStart(w, '0');
    for (let i = 0; i < 2000; i++) {
      const digits = rnd(7);
      const frac = digits ? `.${pad(rnd(10 ** digits), digits)}` : '';
      const v = `${pad(1970 + rnd(8000), 4)}-${pad(1 + rnd(12), 2)}-${pad(1 + rnd(28), 2)} ${pad(rnd(24), 2)}:${pad(rnd(60), 2)}:${pad(rnd(60), 2)}${frac}+00`;
      expect(toIsoTimestamp(v), v).toBe(viaDate(v));
    }
  });

  it('falls back to Date for anything else', () => {
    expect(toIsoTimestamp('2026-01-02 03:04:05.6789+02')).toBe('2026-01-02T01:04:05.678Z');
    expect(toIsoTimestamp('2026-01-02 03:04:05+05:30')).toBe('2026-01-01T21:34:05.000Z');
    expect(toIsoTimestamp('2026-12-02 00:00:00+00')).toBe('2026-12-02T00:00:00.000Z');
  });
});
