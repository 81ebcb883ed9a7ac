/**
 * The local Kafka broker serves what the product needs from kafkajs: transactions that commit
 * and abort on the broker, read_committed isolation, consumer groups, consume-transform-produce
 * with the group offsets committed inside the transaction, and the admin calls around them.
 */
import { randomUUID } from 'node:crypto';
import { type Admin, type Consumer, Kafka, logLevel, type Producer } from 'kafkajs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { localEndpoints } from '../../src/endpoints.ts';

const run = randomUUID().slice(0, 8);
const topic = (name: string) => `it.kafka.${run}.${name}`;
const TXN_TOPIC = topic('txn');
const CTP_IN = topic('ctp-in');
const CTP_OUT = topic('ctp-out');
const CTP_GROUP = `it-kafka-${run}-ctp`;

const kafka = new Kafka({
  clientId: `it-kafka-${run}`,
  brokers: localEndpoints().kafka.brokers,
  // Retriable errors on a fresh broker (coordinator loading, concurrent transactions) are logged
  // by kafkajs as errors although it retries them; what is not retried fails the test anyway.
  logLevel: logLevel.NOTHING,
  connectionTimeout: 3000,
  requestTimeout: 10_000,
  retry: { retries: 8, initialRetryTime: 200 },
});

let admin: Admin;
const groups: string[] = [CTP_GROUP];
const closers: (() => Promise<void>)[] = [];

function within<T>(ms: number, what: string, p: Promise<T>): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`timed out after ${ms} ms: ${what}`)), ms);
  });
  return Promise.race([p, timeout]).finally(() => clearTimeout(timer));
}

async function transactionalProducer(id: string): Promise<Producer> {
  const producer = kafka.producer({
    transactionalId: `it-kafka-${run}-${id}`,
    idempotent: true,
    maxInFlightRequests: 1,
  });
  await producer.connect();
  closers.push(() => producer.disconnect());
  return producer;
}

/** Reads `topicName` from the start in a fresh group until `last` arrives; returns the values seen. */
async function readUntil(topicName: string, last: string, readUncommitted: boolean): Promise<string[]> {
  const groupId = `it-kafka-${run}-read-${randomUUID().slice(0, 6)}`;
  groups.push(groupId);
  const consumer: Consumer = kafka.consumer({
    groupId,
    readUncommitted,
    maxWaitTimeInMs: 200,
  });
  await consumer.connect();
  try {
    await consumer.subscribe({ topic: topicName, fromBeginning: true });
    const seen: string[] = [];
    await within(
      30_000,
      `reading ${topicName} up to ${last}`,
      new Promise<void>((resolve, reject) => {
        consumer
          .run({
            autoCommit: false,
            eachMessage: async ({ message }) => {
              const v = message.value?.toString() ?? '';
              seen.push(v);
              if (v === last) resolve();
            },
          })
          .catch(reject);
      }),
    );
    return seen;
  } finally {
    await consumer.disconnect();
  }
}

beforeAll(async () => {
  admin = kafka.admin();
  await admin.connect();
  const created = await admin.createTopics({
    waitForLeaders: true,
    topics: [TXN_TOPIC, CTP_IN, CTP_OUT].map((t) => ({ topic: t, numPartitions: 1, replicationFactor: 1 })),
  });
  expect(created).toBe(true);
});

afterAll(async () => {
  for (const close of closers.reverse()) await close().catch(() => undefined);
  if (!admin) return;
  try {
    await admin.deleteGroups(groups);
    await admin.deleteTopics({ topics: [TXN_TOPIC, CTP_IN, CTP_OUT], timeout: 10_000 });
    expect((await admin.listTopics()).filter((t) => t.includes(run))).toEqual([]);
    const left = (await admin.listGroups()).groups.filter((g) => g.groupId.includes(run));
    expect(left).toEqual([]);
  } finally {
    await admin.disconnect();
  }
});

describe('local Kafka broker', () => {
  it('keeps aborted transactions away from read_committed consumers', async () => {
    const producer = await transactionalProducer('commit-abort');
    const send = async (values: string[], commit: boolean) => {
      const txn = await producer.transaction();
      await txn.send({ topic: TXN_TOPIC, messages: values.map((value) => ({ key: value, value })) });
      await (commit ? txn.commit() : txn.abort());
    };
    await within(
      30_000,
      'three transactions',
      (async () => {
        await send(['committed-1', 'committed-2'], true);
        await send(['aborted-1', 'aborted-2'], false);
        await send(['end'], true);
      })(),
    );

    // The aborted records did reach the broker's log: an uncommitted reader sees them.
    expect(await readUntil(TXN_TOPIC, 'end', true)).toEqual([
      'committed-1',
      'committed-2',
      'aborted-1',
      'aborted-2',
      'end',
    ]);
    expect(await readUntil(TXN_TOPIC, 'end', false)).toEqual(['committed-1', 'committed-2', 'end']);

    // 5 records plus 3 transaction markers.
    const [offsets] = await admin.fetchTopicOffsets(TXN_TOPIC);
    expect(offsets).toMatchObject({ partition: 0, low: '0', high: '8' });
  });

  it('commits group offsets with the output of a consume-transform-produce transaction', async () => {
    const input = await kafka.producer();
    await input.connect();
    closers.push(() => input.disconnect());
    await input.send({
      topic: CTP_IN,
      messages: ['a', 'b', 'c'].map((value) => ({ key: value, value })),
    });

    const producer = await transactionalProducer('ctp');
    // Offsets sent in a transaction that aborts are never committed.
    const aborted = await producer.transaction();
    await aborted.send({ topic: CTP_OUT, messages: [{ key: 'x', value: 'ABORTED' }] });
    await aborted.sendOffsets({
      consumerGroupId: CTP_GROUP,
      topics: [{ topic: CTP_IN, partitions: [{ partition: 0, offset: '3' }] }],
    });
    await aborted.abort();
    expect(await admin.fetchOffsets({ groupId: CTP_GROUP, topics: [CTP_IN] })).toEqual([
      { topic: CTP_IN, partitions: [expect.objectContaining({ partition: 0, offset: '-1' })] },
    ]);

    const consumer = kafka.consumer({ groupId: CTP_GROUP, maxWaitTimeInMs: 200 });
    await consumer.connect();
    closers.push(() => consumer.disconnect());
    await consumer.subscribe({ topic: CTP_IN, fromBeginning: true });

    let processed = 0;
    await within(
      45_000,
      'consume-transform-produce of 3 records',
      new Promise<void>((resolve, reject) => {
        consumer
          .run({
            autoCommit: false,
            eachBatch: async ({ batch }) => {
              const txn = await producer.transaction();
              try {
                await txn.send({
                  topic: CTP_OUT,
                  messages: batch.messages.map((m) => ({
                    key: m.key,
                    value: (m.value?.toString() ?? '').toUpperCase(),
                  })),
                });
                await txn.sendOffsets({
                  consumerGroupId: CTP_GROUP,
                  topics: [
                    {
                      topic: batch.topic,
                      partitions: [
                        { partition: batch.partition, offset: (BigInt(batch.lastOffset()) + 1n).toString() },
                      ],
                    },
                  ],
                });
                await txn.commit();
              } catch (err) {
                await txn.abort();
                throw err;
              }
              processed += batch.messages.length;
              if (processed >= 3) resolve();
            },
          })
          .catch(reject);
      }),
    );

    const groups = await admin.describeGroups([CTP_GROUP]);
    expect(groups.groups[0]).toMatchObject({ groupId: CTP_GROUP, state: 'Stable', protocolType: 'consumer' });
    await consumer.disconnect();

    const committed = await admin.fetchOffsets({ groupId: CTP_GROUP, topics: [CTP_IN] });
    expect(committed).toEqual([
      { topic: CTP_IN, partitions: [expect.objectContaining({ partition: 0, offset: '3' })] },
    ]);
    expect(await readUntil(CTP_OUT, 'C', false)).toEqual(['A', 'B', 'C']);
  });
});
