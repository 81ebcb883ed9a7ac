import { createRequire } from 'node:module';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';

// patches/kafkajs+2.2.4.patch: a transaction's AddPartitionsToTxn or AddOffsetsToTxn that the
// coordinator answers with CONCURRENT_TRANSACTIONS (the previous transaction is still writing
// its markers) is retried after 20 ms, then up to 100 ms, for at most 10 s, instead of going to
// the producer's retrier (error log, metadata refresh, 300 ms wait). The whole path against the
// broker: test/integration/transactional-producer.test.ts ('back to back transactions').
const require = createRequire(import.meta.url);
const { KafkaJSProtocolError } = require('kafkajs/src/errors.js') as {
  KafkaJSProtocolError: new (e: { type: string; code: number; retriable: boolean; message: string }) => Error;
};
type EosManager = {
  initProducerId(): Promise<void>;
  beginTransaction(): void;
  addPartitionsToTransaction(t: { topic: string; partitions: { partition: number }[] }[]): Promise<void>;
};
const createEosManager = require('kafkajs/src/producer/eosManager/index.js') as (o: unknown) => EosManager;

const concurrent = () =>
  new KafkaJSProtocolError({
    type: 'CONCURRENT_TRANSACTIONS',
    code: 51,
    retriable: true,
    message:
      'The producer attempted to update a transaction while another concurrent operation on the same transaction was ongoing',
  });
const quiet = { debug() {}, info() {}, warn() {}, error() {} };

/** A transaction manager in a transaction, whose coordinator answers AddPartitionsToTxn with `answers` in turn. */
async function inTransaction(answers: (() => Error | undefined)[]) {
  const sentAt: number[] = [];
  const coordinator = {
    isConnected: () => true,
    initProducerId: async () => ({ producerId: 7, producerEpoch: 0 }),
    addPartitionsToTxn: async () => {
      sentAt.push(Date.now());
      const error = (answers.shift() ?? (() => undefined))();
      if (error) throw error;
    },
  };
  const cluster = {
    retry: { retries: 0 },
    refreshMetadataIfNecessary: async () => {},
    findGroupCoordinator: async () => coordinator,
  };
  const eos = createEosManager({ logger: quiet, cluster, transactional: true, transactionalId: 'tx' });
  await eos.initProducerId();
  eos.beginTransaction();
  return { eos, sentAt };
}
const partitions = [{ topic: 't', partitions: [{ partition: 0 }] }];

describe('kafkajs transactions (patched): CONCURRENT_TRANSACTIONS', () => {
  beforeEach(() => {
    vi.useFakeTimers();
  });
  afterEach(() => {
    vi.useRealTimers();
  });

  it('retries after 20 ms, then 40, 80 and 100 ms', async () => {
    const { eos, sentAt } = await inTransaction([concurrent, concurrent, concurrent, concurrent, concurrent]);
    const added = eos.addPartitionsToTransaction(partitions);
    await vi.runAllTimersAsync();
    await added;
    expect(sentAt.slice(1).map((t, i) => t - sentAt[i]!)).toEqual([20, 40, 80, 100, 100]);
  });

  it('throws it once it has lasted 10 s', async () => {
    const { eos, sentAt } = await inTransaction(Array.from({ length: 1000 }, () => concurrent));
    const added = eos.addPartitionsToTransaction(partitions).catch((e: { type: string }) => e);
    await vi.runAllTimersAsync();
    expect(await added).toMatchObject({ type: 'CONCURRENT_TRANSACTIONS' });
    expect(sentAt.at(-1)! - sentAt[0]!).toBeGreaterThan(9_800);
    expect(sentAt.at(-1)! - sentAt[0]!).toBeLessThanOrEqual(10_000);
  });

  it('throws any other error at once', async () => {
    const fenced = () =>
      new KafkaJSProtocolError({
        type: 'INVALID_PRODUCER_EPOCH',
        code: 47,
        retriable: false,
        message: 'fenced',
      });
    const { eos, sentAt } = await inTransaction([fenced]);
    await expect(eos.addPartitionsToTransaction(partitions)).rejects.toMatchObject({
      type: 'INVALID_PRODUCER_EPOCH',
    });
    expect(sentAt).toHaveLength(1);
  });
});
