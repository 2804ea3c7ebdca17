import { describe, expect, it } from 'vitest';
import { ConfigError } from '../../core/env.ts';
import { generateSecretKey } from '../../core/crypto.ts';
import { configErrorResponse, parseEdgeConfig } from './edge.ts';

const complete = {
  SWITCHYARD_SECRET_KEY: generateSecretKey(),
  QSTASH_TOKEN: 'tok',
  QSTASH_CURRENT_SIGNING_KEY: 'sig_current',
  QSTASH_NEXT_SIGNING_KEY: 'sig_next',
  SWITCHYARD_WORKER_URL: 'https://w.example.com',
};

describe('parseEdgeConfig', () => {
  it('takes the database from a binding when there is one, and ignores non-string bindings', () => {
    const edge = parseEdgeConfig({ ...complete, HYPERDRIVE: { connectionString: 'x' } }, 'postgres://u:p@h:5432/d');
    expect(edge.databaseUrl).toBe('postgres://u:p@h:5432/d');
    expect(edge.qstash.SWITCHYARD_WORKER_URL).toBe('https://w.example.com');
  });

  it('names every missing variable and answers 500 problem+json without echoing values', async () => {
    let err: unknown;
    try {
      parseEdgeConfig({ QSTASH_TOKEN: 'tok-secret-value', SWITCHYARD_SECRET_KEY: 'too-short' });
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(ConfigError);
    const res = configErrorResponse(err as ConfigError);
    expect(res.status).toBe(500);
    expect(res.headers.get('content-type')).toBe('application/problem+json');
    const text = await res.text();
    const fields = (JSON.parse(text).errors as { field: string }[]).map((e) => e.field).sort();
    expect(fields).toEqual(['DATABASE_URL', 'QSTASH_CURRENT_SIGNING_KEY', 'QSTASH_NEXT_SIGNING_KEY', 'SWITCHYARD_SECRET_KEY', 'SWITCHYARD_WORKER_URL']);
    expect(text).not.toContain('tok-secret-value');
    expect(text).not.toContain('too-short');
  });
});
