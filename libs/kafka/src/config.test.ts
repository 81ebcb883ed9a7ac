import { describe, expect, it } from 'vitest';
import { KafkaConfigSchema } from './config.ts';
import { toCdcError } from './errors.ts';

describe('KafkaConfigSchema', () => {
  it('fills safe defaults around the brokers', () => {
    const c = KafkaConfigSchema.parse({ brokers: ['127.0.0.1:9092'] });
    expect(c).toMatchObject({
      clientId: 'cdc',
      ssl: false,
      connectionTimeoutMs: 5000,
      retry: { retries: 8 },
    });
  });

  it('rejects a broker without a port and SASL/PLAIN without TLS, naming the key', () => {
    const r = KafkaConfigSchema.safeParse({
      brokers: ['kafka'],
      sasl: { mechanism: 'plain', username: 'u', password: 'p' },
    });
    expect(r.success).toBe(false);
    const issues = r.error!.issues.map((i) => `${i.path.join('.')}: ${i.message}`);
    expect(issues).toContain('brokers.0: expected host:port');
    expect(
      issues.some((i) => i.startsWith('sasl.mechanism: SASL/PLAIN sends the password in clear text')),
    ).toBe(true);
  });

  it('accepts SCRAM without TLS and requires cert and key together', () => {
    expect(
      KafkaConfigSchema.safeParse({
        brokers: ['k:9092'],
        sasl: { mechanism: 'scram-sha-512', username: 'u', password: 'p' },
      }).success,
    ).toBe(true);
    const r = KafkaConfigSchema.safeParse({ brokers: ['k:9092'], ssl: { cert: '/etc/cert.pem' } });
    expect(r.error?.issues[0]?.message).toBe('a client certificate needs both cert and key');
  });
});

describe('toCdcError', () => {
  it('marks fencing as final, an unreachable cluster as retriable, and keeps kafkajs’ verdict otherwise', () => {
    const fenced = toCdcError(
      { name: 'KafkaJSProtocolError', type: 'PRODUCER_FENCED', message: 'fenced', retriable: false },
      'commit',
    );
    expect(fenced).toMatchObject({ code: 'KAFKA_FENCED', retriable: false });
    const wrapped = toCdcError(
      {
        name: 'KafkaJSNonRetriableError',
        message: 'x',
        originalError: { name: 'KafkaJSProtocolError', type: 'INVALID_PRODUCER_EPOCH' },
      },
      'send',
    );
    expect(wrapped.code).toBe('KAFKA_FENCED');
    const down = toCdcError(
      { name: 'KafkaJSConnectionError', message: 'Connection error: connect ECONNREFUSED' },
      'send',
    );
    expect(down).toMatchObject({ code: 'KAFKA_UNAVAILABLE', retriable: true });
    expect(down.message).toMatch(/check kafka.brokers/);
    const leader = toCdcError(
      {
        name: 'KafkaJSProtocolError',
        type: 'NOT_LEADER_FOR_PARTITION',
        message: 'not leader',
        retriable: true,
      },
      'send',
    );
    expect(leader).toMatchObject({
      code: 'KAFKA_REQUEST_FAILED',
      retriable: true,
      context: { brokerError: 'NOT_LEADER_FOR_PARTITION' },
    });
  });
});
