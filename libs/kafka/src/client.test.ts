import { createJsonLogger } from '@cdc/core';
import { describe, expect, it } from 'vitest';
import { createKafka } from './client.ts';
import { KafkaConfigSchema } from './config.ts';

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
});
