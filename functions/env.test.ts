import { describe, expect, it } from 'vitest';
import { ConfigError, parseConfig } from '../core/env.ts';

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

  describe('Supabase Realtime settings', () => {
    const problems = (env: Record<string, string>) => {
      try {
        parseConfig(env);
        return [];
      } catch (err) {
        return (err as ConfigError).problems;
      }
    };

    it('takes SUPABASE_URL and SUPABASE_ANON_KEY alone (every Edge Function has them) as no Realtime', () => {
      expect(problems({ SUPABASE_URL: 'https://abcdefghijklmnopqrst.supabase.co', SUPABASE_ANON_KEY: 'anon' })).toEqual([]);
    });

    it('names what a signing key needs, never echoing the secret', () => {
      const p = problems({ SUPABASE_JWT_SECRET: 'short-secret' });
      expect(p.map((x) => x.split(':')[0]).sort()).toEqual(['SUPABASE_ANON_KEY', 'SUPABASE_JWT_SECRET', 'SUPABASE_URL']);
      expect(p.join('\n')).not.toContain('short-secret');
    });

    it('refuses a private key that is not a P-256 JWK with a kid, and both kinds of key at once', () => {
      const base = { SUPABASE_URL: 'https://abcdefghijklmnopqrst.supabase.co', SUPABASE_ANON_KEY: 'anon' };
      expect(problems({ ...base, SUPABASE_JWT_PRIVATE_KEY: '{"kty":"EC","crv":"P-256","x":"a","y":"b"}' }).join()).toContain('private P-256 JWK');
      expect(problems({ ...base, SUPABASE_JWT_PRIVATE_KEY: 'not json' }).join()).toContain('private P-256 JWK');
      expect(problems({ ...base, SUPABASE_JWT_SECRET: 'x'.repeat(40), SUPABASE_JWT_PRIVATE_KEY: '{"kty":"EC","crv":"P-256","d":"d","kid":"k"}' }).join()).toContain('only one');
    });
  });

  it('reads OTLP export headers as key=value pairs, and never echoes a bad value', () => {
    expect(parseConfig({ OTEL_EXPORTER_OTLP_HEADERS: 'x-api-key=abc%3D%3D, x-team = ops' }).OTEL_EXPORTER_OTLP_HEADERS).toEqual({ 'x-api-key': 'abc==', 'x-team': 'ops' });
    expect(parseConfig({ OTEL_EXPORTER_OTLP_METRICS_TEMPORALITY_PREFERENCE: 'Delta' }).OTEL_EXPORTER_OTLP_METRICS_TEMPORALITY_PREFERENCE).toBe('delta');
    try {
      parseConfig({ OTEL_EXPORTER_OTLP_HEADERS: 'secret-token-without-a-key' });
      expect.unreachable();
    } catch (err) {
      const text = (err as ConfigError).problems.join('\n');
      expect(text).toContain('OTEL_EXPORTER_OTLP_HEADERS: must be key=value pairs');
      expect(text).not.toContain('secret-token-without-a-key');
    }
  });
});
