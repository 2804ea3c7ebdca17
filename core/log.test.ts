import { describe, expect, it } from 'vitest';
import { createLogger, redactText } from './log.ts';

describe('log redaction', () => {
  it('redacts secret fields and secrets inside text', () => {
    const lines: string[] = [];
    const log = createLogger('debug', {}, (l) => lines.push(l));
    log.info('connecting to postgres://app:hunter2@db:5432/x with sk_abcdefghijklmnop', {
      password: 'hunter2',
      nested: { api_key: 'k', ok: 'visible', err: new Error('auth failed for Bearer abc.def') },
    });
    const text = lines.join('\n');
    expect(text).not.toContain('hunter2');
    expect(text).not.toContain('sk_abcdefghijklmnop');
    expect(text).not.toContain('abc.def');
    expect(text).toContain('visible');
    expect(text).toContain('postgres://app:[redacted]@db:5432/x');
  });

  it('logs a failed statement without its parameters, with the cause and SQLSTATE', () => {
    const lines: string[] = [];
    const log = createLogger('debug', {}, (l) => lines.push(l));
    const cause = Object.assign(new Error('invalid byte sequence for encoding "UTF8": 0x00'), { name: 'PostgresError', code: '22021' });
    const err = new Error('Failed query: insert into "tenants" ("id", "name") values ($1, $2)\nparams: ten_01abc,Acme secret name', { cause });
    log.error('unhandled error', { err, stack: `Error: ${err.message}\n    at x (y.ts:1:1)` });
    const text = lines.join('\n');
    expect(text).not.toContain('Acme secret name');
    expect(text).not.toContain('ten_01abc');
    expect(text).toContain('insert into');
    expect(text).toContain('22021');
  });

  it('leaves ordinary text alone', () => {
    expect(redactText('project prj_123 is active')).toBe('project prj_123 is active');
  });

  it('respects the level', () => {
    const lines: string[] = [];
    createLogger('warn', {}, (l) => lines.push(l)).info('quiet');
    expect(lines).toEqual([]);
  });
});
