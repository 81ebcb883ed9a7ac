import { CdcError } from '@cdc/core';
import { describe, expect, it } from 'vitest';
import { leavesStoresSound } from './kafka-streams.ts';

describe('leavesStoresSound', () => {
  it('keeps the stores after a failure in Kafka, and wipes them after any other', () => {
    for (const code of [
      'KAFKA_UNAVAILABLE',
      'KAFKA_FENCED',
      'KAFKA_TRANSACTION_FAILED',
      'KAFKA_REQUEST_FAILED',
    ] as const)
      expect(leavesStoresSound(new CdcError(code, 'the cluster failed'))).toBe(true);
    const kafkajs = Object.assign(new Error('The coordinator is not available'), {
      name: 'KafkaJSProtocolError',
    });
    expect(leavesStoresSound(kafkajs)).toBe(true);
    // A LevelDB failure (a retriable one included), a processor's bug, a record it cannot read.
    expect(leavesStoresSound(new CdcError('STATE_STORE_FAILED', 'store locked', { retriable: true }))).toBe(
      false,
    );
    expect(leavesStoresSound(new TypeError("Cannot read properties of undefined (reading 'id')"))).toBe(
      false,
    );
    expect(leavesStoresSound(new CdcError('SERDE_FAILED', 'unknown magic byte'))).toBe(false);
    expect(leavesStoresSound(undefined)).toBe(false);
  });
});
