import { describe, expect, it } from 'vitest';
import { createJsonLogger } from './logger.ts';
import { redactSecrets, redactUrlPasswords } from './redact.ts';

describe('redactSecrets', () => {
  it('hides credential fields at any depth and passwords inside URLs, keeping everything else', () => {
    const config = {
      kafka: {
        brokers: ['127.0.0.1:9092'],
        sasl: { mechanism: 'scram-sha-512', username: 'app', password: 'hunter2' },
      },
      postgres: { url: 'postgres://cdc:s3cr3t@db:5432/shop', sslKey: { privateKey: 'PEM' } },
      registry: { apiKey: 'abc', apiSecret: 'def', basicAuth: { token: 't0k' } },
      port: 5432,
    };
    const out = redactSecrets(config);
    expect(out.kafka.sasl).toEqual({ mechanism: 'scram-sha-512', username: 'app', password: '***' });
    expect(out.postgres.url).toBe('postgres://cdc:***@db:5432/shop');
    expect(out.postgres.sslKey.privateKey).toBe('***');
    expect(out.registry).toEqual({ apiKey: '***', apiSecret: '***', basicAuth: { token: '***' } });
    expect(out.kafka.brokers).toEqual(['127.0.0.1:9092']);
    expect(out.port).toBe(5432);
    expect(config.kafka.sasl.password).toBe('hunter2');
  });

  it('scrubs URL passwords from free text such as error messages', () => {
    expect(redactUrlPasswords('connect ECONNREFUSED mongodb://root:pw@127.0.0.1:27017/x failed')).toBe(
      'connect ECONNREFUSED mongodb://root:***@127.0.0.1:27017/x failed',
    );
    expect(redactUrlPasswords('http://127.0.0.1:8123/?query=1')).toBe('http://127.0.0.1:8123/?query=1');
  });
});

describe('createJsonLogger', () => {
  it('writes one JSON object per line with level, time, message and fields', () => {
    const lines: string[] = [];
    const log = createJsonLogger({ write: (l) => lines.push(l), now: () => 0 }).child({
      service: 'capture-postgres',
    });
    log.info('slot acknowledged', { lsn: '0/16B3748', rows: 3n });
    log.debug('not shown at info');
    expect(lines).toHaveLength(1);
    expect(JSON.parse(lines[0]!)).toEqual({
      level: 'info',
      time: '1970-01-01T00:00:00.000Z',
      msg: 'slot acknowledged',
      service: 'capture-postgres',
      lsn: '0/16B3748',
      rows: '3',
    });
  });

  it('never writes a secret, whether it comes as a field, inside a URL, in an error, or as a known literal', () => {
    const lines: string[] = [];
    const log = createJsonLogger({ write: (l) => lines.push(l), secrets: ['Tr0ub4dor&3'] });
    log.error('connect failed', {
      config: { sasl: { password: 'hunter2' } },
      url: 'postgres://cdc:pa55word@127.0.0.1/shop',
      err: new Error('auth failed for mongodb://u:m0ng0pw@127.0.0.1'),
      note: 'user typed Tr0ub4dor&3 into the wrong field',
    });
    const text = lines.join('');
    for (const secret of ['hunter2', 'pa55word', 'm0ng0pw', 'Tr0ub4dor&3'])
      expect(text).not.toContain(secret);
    expect(text).toContain('connect failed');
  });
});
