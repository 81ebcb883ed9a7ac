import { CdcError } from '@cdc/core';
import kafkajs from 'kafkajs';
import { describe, expect, it } from 'vitest';
import { isRetriableKafkaError, toCdcError } from './errors.ts';

const {
  KafkaJSProtocolError,
  KafkaJSNonRetriableError,
  KafkaJSNumberOfRetriesExceeded,
  KafkaJSConnectionError,
} = kafkajs;

/** A broker error as kafkajs builds it from a response's error code. */
function brokerError(type: string, message: string, retriable: boolean): Error {
  return new KafkaJSProtocolError({ type, message, code: 0, retriable } as never);
}

describe('Kafka errors: which are retriable', () => {
  it('metadata not yet propagated after createTopics (wrapped by kafkajs as non-retriable) is retriable', () => {
    // What a new user saw: `creating topics: This server does not host this topic-partition`.
    const inner = brokerError(
      'UNKNOWN_TOPIC_OR_PARTITION',
      'This server does not host this topic-partition',
      true,
    );
    // kafkajs' retrier wraps it as its `bail` does (the typings omit the options argument).
    const Wrap = KafkaJSNonRetriableError as unknown as new (e: Error, o: { cause: Error }) => Error;
    const err = toCdcError(new Wrap(inner, { cause: inner }), 'creating topics');
    expect(err.code).toBe('KAFKA_REQUEST_FAILED');
    expect(err.retriable).toBe(true);
    expect(err.context).toMatchObject({ brokerError: 'UNKNOWN_TOPIC_OR_PARTITION' });
  });

  it.each([
    'LEADER_NOT_AVAILABLE',
    'NOT_LEADER_FOR_PARTITION',
    'GROUP_COORDINATOR_NOT_AVAILABLE',
    'GROUP_LOAD_IN_PROGRESS',
    'NOT_COORDINATOR_FOR_GROUP',
    'REBALANCE_IN_PROGRESS',
    'CONCURRENT_TRANSACTIONS',
  ])('%s (a passing cluster state) is retriable even when kafkajs says it is not', (type) => {
    expect(toCdcError(brokerError(type, type, false), 'x').retriable).toBe(true);
    expect(isRetriableKafkaError(brokerError(type, type, false))).toBe(true);
  });

  it('an unreachable cluster, after kafkajs gave up retrying, is retriable', () => {
    const conn = new KafkaJSConnectionError('Connection error: connect ECONNREFUSED 127.0.0.1:19092');
    const err = toCdcError(
      new KafkaJSNumberOfRetriesExceeded(conn, { retryCount: 5, retryTime: 100 } as never),
      'x',
    );
    expect(err.code).toBe('KAFKA_UNAVAILABLE');
    expect(err.retriable).toBe(true);
  });

  it('fencing, authorization and an oversized record are not retriable', () => {
    const fenced = toCdcError(brokerError('PRODUCER_FENCED', 'fenced', false), 'commit');
    expect(fenced.code).toBe('KAFKA_FENCED');
    expect(fenced.retriable).toBe(false);
    for (const type of ['TOPIC_AUTHORIZATION_FAILED', 'MESSAGE_TOO_LARGE', 'INVALID_REPLICATION_FACTOR']) {
      expect(toCdcError(brokerError(type, type, false), 'x').retriable, type).toBe(false);
      expect(isRetriableKafkaError(brokerError(type, type, false)), type).toBe(false);
    }
  });

  it('keeps a CdcError verdict and never calls a programming error retriable', () => {
    expect(isRetriableKafkaError(new CdcError('CONFIG_INVALID', 'bad'))).toBe(false);
    expect(isRetriableKafkaError(new CdcError('KAFKA_UNAVAILABLE', 'down', { retriable: true }))).toBe(true);
    expect(isRetriableKafkaError(new TypeError('x is undefined'))).toBe(false);
  });
});
