import { describe, expect, it } from 'vitest';
import { ConfigError, parseConfig } from './env.ts';

describe('parseConfig', () => {
  it('fills defaults for the embedded mode', () => {
    const c = parseConfig({});
    expect(c).toMatchObject({ SWITCHYARD_ROLE: 'all', HOST: '127.0.0.1', PORT: 8787, SWITCHYARD_DATA_DIR: '.data' });
    expect(c.DATABASE_URL).toBeUndefined();
  });

  it('reports every bad variable at once', () => {
    try {
      parseConfig({ PORT: '99999', SWITCHYARD_ROLE: 'x', SWITCHYARD_JOB_LEASE_MS: '-1', DATABASE_URL: 'nope' });
      expect.unreachable();
    } catch (err) {
      expect(err).toBeInstanceOf(ConfigError);
      const names = (err as ConfigError).problems.map((p) => p.split(':')[0]);
      expect(names.sort()).toEqual(['DATABASE_URL', 'PORT', 'SWITCHYARD_JOB_LEASE_MS', 'SWITCHYARD_ROLE']);
    }
  });

  it('treats empty strings as unset', () => {
    expect(parseConfig({ DATABASE_URL: '', PORT: '' }).PORT).toBe(8787);
  });
});
