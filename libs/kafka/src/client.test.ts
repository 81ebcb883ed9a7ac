import { createJsonLogger } from '@cdc/core';
import { describe, expect, it } from 'vitest';
import { createKafka } from './client.ts';
import { KafkaConfigSchema } from './config.ts';
import { IdempotentProducer } from './transactional-producer.ts';

describe('createKafka', () => {
  it("makes producers without kafkajs' partitioner-migration warning", () => {
    const warnings: string[] = [];
    const logger = createJsonLogger({ level: 'warn', write: (line) => void warnings.push(line) });
    // No broker is contacted: a producer connects only on connect().
    const kafka = createKafka(
      KafkaConfigSchema.parse({ brokers: ['127.0.0.1:1'], clientId: 'unit' }),
      logger,
    );
    kafka.producer();
    kafka.producer({ transactionalId: 'unit-tx', idempotent: true, maxInFlightRequests: 1 });
    expect(warnings.filter((w) => w.includes('partitioner'))).toEqual([]);
  });

  it("makes idempotent producers without kafkajs' limited-retries warning, which the wrappers answer", () => {
    // TransactionalProducer ends its session and IdempotentProducer starts a new one after a
    // failed send (test/integration/lost-produce-answer.test.ts), so the warning's hazard, a
    // failed batch's sequence numbers sent again, does not arise.
    const warnings: string[] = [];
    const logger = createJsonLogger({ level: 'warn', write: (line) => void warnings.push(line) });
    const kafka = createKafka(
      KafkaConfigSchema.parse({ brokers: ['127.0.0.1:1'], clientId: 'unit' }),
      logger,
    );
    new IdempotentProducer(kafka);
    kafka.producer({ transactionalId: 'unit-tx', idempotent: true, maxInFlightRequests: 1 });
    expect(warnings).toEqual([]);
  });
});
