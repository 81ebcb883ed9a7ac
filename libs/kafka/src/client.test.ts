import { createJsonLogger } from '@cdc/core';
import { describe, expect, it } from 'vitest';
import { createKafka } from './client.ts';
import { KafkaConfigSchema } from './config.ts';
import { IdempotentProducer } from './transactional-producer.ts';

/** A client whose kafkajs warnings land in `warnings`. No broker is contacted: a producer connects only on connect(). */
function recordingWarnings() {
  const warnings: string[] = [];
  const logger = createJsonLogger({ level: 'warn', write: (line) => void warnings.push(line) });
  const kafka = createKafka(KafkaConfigSchema.parse({ brokers: ['127.0.0.1:1'], clientId: 'unit' }), logger);
  return { kafka, warnings };
}

describe('createKafka', () => {
  it("makes producers without kafkajs' partitioner-migration warning", () => {
    const { kafka, warnings } = recordingWarnings();
    kafka.producer();
    kafka.producer({ transactionalId: 'unit-tx', idempotent: true, maxInFlightRequests: 1 });
    expect(warnings.filter((w) => w.includes('partitioner'))).toEqual([]);
  });

  it("makes idempotent producers without kafkajs' limited-retries warning, which the wrappers answer", () => {
    // TransactionalProducer ends its session and IdempotentProducer starts a new one after a
    // failed send (test/integration/lost-produce-answer.test.ts), so the warning's hazard, a
    // failed batch's sequence numbers sent again, does not arise.
    const { kafka, warnings } = recordingWarnings();
    new IdempotentProducer(kafka);
    kafka.producer({ transactionalId: 'unit-tx', idempotent: true, maxInFlightRequests: 1 });
    expect(warnings).toEqual([]);
  });
});
