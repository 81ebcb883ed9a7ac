import { createRequire } from 'node:module';
import { describe, expect, it } from 'vitest';

// patches/kafkajs+2.2.4.patch: a transactional producer keeps its transaction coordinator and
// its consumer group's coordinator while their connections are up, as the Java producer does.
// The published version sent a FindCoordinator request before every transactional request,
// about five per transaction: at a steady 5,000 changes/s the processor sent 6,032 of them in
// 1,286 transactions (loadtests/processor, live phase). A request to a kept coordinator that
// fails forgets it, so the next one finds it again.
const require = createRequire(import.meta.url);
const createEosManager = require('kafkajs/src/producer/eosManager/index.js') as (o: unknown) => {
  initProducerId(): Promise<void>;
  beginTransaction(): void;
  addPartitionsToTransaction(t: { topic: string; partitions: { partition: number }[] }[]): Promise<void>;
  sendOffsets(o: { consumerGroupId: string; topics: unknown[] }): Promise<void>;
  commit(): Promise<void>;
};
const { KafkaJSProtocolError } = require('kafkajs/src/errors.js') as {
  KafkaJSProtocolError: new (e: { type: string; code: number; retriable: boolean; message: string }) => Error;
};

const quiet = { debug() {}, info() {}, warn() {}, error() {} };

/** A cluster of fake brokers that counts the coordinator lookups, by coordinator type. */
function fakeCluster() {
  const found = { transaction: 0, group: 0 };
  const calls: string[] = [];
  let failNext: string | undefined;
  const broker = () => {
    const b = {
      connected: true,
      isConnected: () => b.connected,
      request: async (name: string) => {
        calls.push(name);
        if (failNext === name) {
          failNext = undefined;
          throw new KafkaJSProtocolError({
            type: 'NOT_COORDINATOR',
            code: 16,
            retriable: true,
            message: 'This is not the correct coordinator',
          });
        }
      },
      initProducerId: async () => {
        await b.request('InitProducerId');
        return { producerId: 7, producerEpoch: 0 };
      },
      addPartitionsToTxn: () => b.request('AddPartitionsToTxn'),
      addOffsetsToTxn: () => b.request('AddOffsetsToTxn'),
      txnOffsetCommit: () => b.request('TxnOffsetCommit'),
      endTxn: () => b.request('EndTxn'),
    };
    return b;
  };
  const brokers: ReturnType<typeof broker>[] = [];
  const cluster = {
    retry: { retries: 0 },
    refreshMetadataIfNecessary: async () => {},
    findGroupCoordinator: async ({ coordinatorType }: { coordinatorType: number }) => {
      if (coordinatorType === 1) found.transaction += 1;
      else found.group += 1;
      const b = broker();
      brokers.push(b);
      return b;
    },
  };
  return {
    cluster,
    found,
    calls,
    brokers,
    failOnce: (name: string) => {
      failNext = name;
    },
  };
}

async function oneTransaction(eos: ReturnType<typeof createEosManager>, partition: number): Promise<void> {
  eos.beginTransaction();
  await eos.addPartitionsToTransaction([{ topic: 'out', partitions: [{ partition }] }]);
  await eos.sendOffsets({ consumerGroupId: 'app', topics: [] });
  await eos.commit();
}

describe('kafkajs transaction coordinators (patched)', () => {
  it('finds each coordinator once for many transactions', async () => {
    const f = fakeCluster();
    const eos = createEosManager({
      logger: quiet,
      cluster: f.cluster,
      transactional: true,
      transactionalId: 't',
    });
    await eos.initProducerId();
    for (let i = 0; i < 5; i++) await oneTransaction(eos, i);
    expect(f.found).toEqual({ transaction: 1, group: 1 });
    expect(f.calls.filter((c) => c === 'EndTxn')).toHaveLength(5);
  });

  it('finds a coordinator again after a request to it failed, or after its connection closed', async () => {
    const f = fakeCluster();
    const eos = createEosManager({
      logger: quiet,
      cluster: f.cluster,
      transactional: true,
      transactionalId: 't',
    });
    await eos.initProducerId();
    await oneTransaction(eos, 0);
    expect(f.found).toEqual({ transaction: 1, group: 1 });
    // The coordinator moved: the request fails, as it did, and the next one asks anew.
    f.failOnce('AddPartitionsToTxn');
    eos.beginTransaction();
    const partitions = [{ topic: 'out', partitions: [{ partition: 1 }] }];
    await expect(eos.addPartitionsToTransaction(partitions)).rejects.toThrow(/not the correct coordinator/);
    await eos.addPartitionsToTransaction(partitions);
    await eos.sendOffsets({ consumerGroupId: 'app', topics: [] });
    await eos.commit();
    expect(f.found).toEqual({ transaction: 2, group: 1 });
    // The kept coordinators' connections close: both are found again before the next requests.
    for (const b of f.brokers) b.connected = false;
    await oneTransaction(eos, 2);
    expect(f.found).toEqual({ transaction: 3, group: 2 });
    await oneTransaction(eos, 3);
    expect(f.found).toEqual({ transaction: 3, group: 2 });
  });
});
