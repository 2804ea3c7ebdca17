import { describe, expect, it } from 'vitest';
import { maskText, maskValue } from './mask.ts';

describe('masking', () => {
  it('masks secrets and personal data, and leaves ordinary numbers alone', () => {
    const line = 'user jane.doe@example.com paid with 4242 4242 4242 4242 (order 1234567890123) ' +
      'via postgres://app:s3cr3t-pw@db.internal:5432/shop with Authorization: Bearer eyJhbGciOiJIUzI1NiJ9.payload.sig ' +
      'key sk_live_abcdefghijklmnop and ?api_key=XYZ123456&page=2';
    const masked = maskText(line);
    for (const secret of ['jane.doe@example.com', '4242 4242 4242 4242', 's3cr3t-pw', 'eyJhbGciOiJIUzI1NiJ9', 'sk_live_abcdefghijklmnop', 'XYZ123456']) {
      expect(masked).not.toContain(secret);
    }
    expect(masked).toContain('****4242');
    expect(masked).toContain('order 1234567890123'); // not a valid card number: kept
    expect(masked).toContain('postgres://app:****@db.internal:5432/shop');
    expect(masked).toContain('page=2');
  });

  it('masks deeply, and blanks values under sensitive keys', () => {
    const masked = maskValue({ headers: { Authorization: 'Basic abc', 'x-ok': 'fine' }, user: { email: 'a@b.io', tags: ['card 4111111111111111'] }, n: 3 });
    expect(masked).toEqual({ headers: { Authorization: '****', 'x-ok': 'fine' }, user: { email: '****@****', tags: ['card ****1111'] }, n: 3 });
  });
});
