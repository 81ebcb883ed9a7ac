import { randomUUID } from 'node:crypto';
import { createJsonLogger, isCdcError, noopLogger } from '@cdc/core';
import kafkajs, { type Admin, type Kafka } from 'kafkajs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { localEndpoints } from '../../../../infra/local/src/endpoints.ts';
import {
  createKafka,
  deleteTopicsIfExist,
  ensureTopics,
  KafkaConfigSchema,
  recordSizeConfig,
  TransactionalProducer,
} from '../../src/index.ts';

const { ConfigResourceTypes } = kafkajs;
const run = randomUUID().slice(0, 8);
const topic = `it.kafka.tx.${run}`;
const compacted = `it.kafka.offsets.${run}`;
const handover = `it.kafka.tx-handover.${run}`;
const backToBack = `it.kafka.tx-back-to-back.${run}`;
let kafka: Kafka;
let admin: Admin;

async function readAll(
  isolation: 'committed' | 'uncommitted',
  expected: number,
  from = topic,
): Promise<string[]> {
  const consumer = kafka.consumer({
    groupId: `it-${run}-${isolation}-${randomUUID()}`,
    readUncommitted: isolation === 'uncommitted',
  });
  await consumer.connect();
  await consumer.subscribe({ topic: from, fromBeginning: true });
  const seen: string[] = [];
  const end = Date.now() + 15_000;
  await consumer.run({ eachMessage: async ({ message }) => void seen.push(message.value!.toString()) });
  // read_committed stops at the last stable offset; wait for what should arrive, then a little longer for what must not.
  while (seen.length < expected && Date.now() < end) await new Promise((r) => setTimeout(r, 100));
  await new Promise((r) => setTimeout(r, 1500));
  await consumer.disconnect();
  return seen;
}

beforeAll(async () => {
  kafka = createKafka(
    KafkaConfigSchema.parse({ brokers: localEndpoints().kafka.brokers, clientId: `it-${run}` }),
    noopLogger,
  );
  admin = kafka.admin();
  await admin.connect();
});

afterAll(async () => {
  await deleteTopicsIfExist(admin, [topic, compacted, handover, backToBack]);
  await admin.disconnect();
});

describe('ensureTopics', () => {
  it('creates missing topics once and is a no-op the second time', async () => {
    const specs = [
      { topic, numPartitions: 3 },
      { topic: compacted, config: { 'cleanup.policy': 'compact' } },
    ];
    expect((await ensureTopics(admin, specs)).created.sort()).toEqual([compacted, topic].sort());
    expect((await ensureTopics(admin, specs)).created).toEqual([]);
    const meta = await admin.fetchTopicMetadata({ topics: [topic] });
    expect(meta.topics[0]!.partitions).toHaveLength(3);
  });

  it('refuses an existing topic whose config differs from what correctness needs', async () => {
    await expect(ensureTopics(admin, [{ topic, config: { 'cleanup.policy': 'compact' } }])).rejects.toThrow(
      new RegExp(`topic ${topic.replaceAll('.', '\\.')} has cleanup.policy=delete, compact is required`),
    );
    await expect(ensureTopics(admin, [{ topic, numPartitions: 6 }])).rejects.toThrow(
      /has 3 partitions, 6 are required/,
    );
  });

  it("raises a record size limit that is too small, keeps the topic's other configs, never lowers one", async () => {
    const configOf = async (t: string) => {
      const d = await admin.describeConfigs({
        includeSynonyms: false,
        resources: [{ type: ConfigResourceTypes.TOPIC, name: t }],
      });
      return Object.fromEntries(d.resources[0]!.configEntries.map((e) => [e.configName, e.configValue]));
    };
    const size = recordSizeConfig(64 * 1024 * 1024);
    await ensureTopics(admin, [{ topic: compacted, config: { 'cleanup.policy': 'compact' }, atLeast: size }]);
    let c = await configOf(compacted);
    expect(c).toMatchObject({
      'cleanup.policy': 'compact',
      'max.message.bytes': String(64 * 1024 * 1024 + 65_536),
    });
    expect(Number(c['segment.bytes'])).toBeGreaterThanOrEqual(64 * 1024 * 1024 + 65_536);
    // A smaller ask leaves the larger limit alone.
    await ensureTopics(admin, [{ topic: compacted, atLeast: recordSizeConfig(1024 * 1024) }]);
    c = await configOf(compacted);
    expect(c).toMatchObject({
      'cleanup.policy': 'compact',
      'max.message.bytes': String(64 * 1024 * 1024 + 65_536),
    });
  });
});

describe('TransactionalProducer', () => {
  it('runs transactions back to back without waiting out the retry backoff, and logs no error for it', async () => {
    // EndTxn returns before the coordinator has written the transaction's markers; the next
    // transaction's AddPartitionsToTxn is then often answered CONCURRENT_TRANSACTIONS. Unpatched
    // kafkajs logged that as an error and retried after 300 ms: 45 of 100 such transactions took
    // over 250 ms in a run here, with 90 error lines. A capture commits like this all day.
    const errors: string[] = [];
    const recording = createJsonLogger({ level: 'error', write: (line) => void errors.push(line) });
    const client = createKafka(
      KafkaConfigSchema.parse({ brokers: localEndpoints().kafka.brokers, clientId: `it-${run}-b2b` }),
      recording,
    );
    await ensureTopics(admin, [{ topic: backToBack, numPartitions: 1 }]);
    const producer = await TransactionalProducer.connect(client, {
      transactionalId: `it-${run}-b2b`,
      logger: recording,
    });
    // What connecting logged is not this test's: on a broker just started, InitProducerId is
    // answered "coordinator loading" a few times (retried by kafkajs; a warning since the patch,
    // an error line unpatched).
    errors.length = 0;
    const slow: number[] = [];
    for (let i = 0; i < 60; i++) {
      const started = performance.now();
      await producer.transaction(async (tx) => {
        await tx.send({ topic: backToBack, messages: [{ key: String(i), value: `b2b-${i}` }] });
      });
      const ms = performance.now() - started;
      if (ms >= 300) slow.push(Math.round(ms));
    }
    await producer.disconnect();
    expect(errors).toEqual([]);
    // A busy machine may make a few slow; the backoff made about half of them so.
    expect(slow.length, `transactions of 300 ms or more: ${slow.join(', ')} ms`).toBeLessThanOrEqual(6);
    expect(await readAll('committed', 60, backToBack)).toHaveLength(60);
  });

  it('makes committed records visible to read_committed consumers and aborted ones to nobody but read_uncommitted', async () => {
    const producer = await TransactionalProducer.connect(kafka, {
      transactionalId: `it-${run}-a`,
      logger: noopLogger,
    });
    await producer.transaction(async (tx) => {
      await tx.send({
        topic,
        messages: [
          { key: 'k', value: 'committed-1' },
          { key: 'k', value: 'committed-2' },
        ],
      });
    });
    const bodyError = new Error('source read failed mid-transaction');
    await expect(
      producer.transaction(async (tx) => {
        await tx.send({ topic, messages: [{ key: 'k', value: 'aborted-1' }] });
        throw bodyError;
      }),
    ).rejects.toBe(bodyError);
    await producer.transaction(async (tx) => {
      await tx.send({ topic, messages: [{ key: 'k', value: 'committed-3' }] });
    });
    await producer.disconnect();

    expect(await readAll('committed', 3)).toEqual(['committed-1', 'committed-2', 'committed-3']);
    expect(await readAll('uncommitted', 4)).toEqual([
      'committed-1',
      'committed-2',
      'aborted-1',
      'committed-3',
    ]);
  });

  it('fences the older of two producers with one transactional id and stops it for good', async () => {
    const id = `it-${run}-fence`;
    const zombie = await TransactionalProducer.connect(kafka, { transactionalId: id, logger: noopLogger });
    await zombie.transaction(
      async (tx) => void (await tx.send({ topic, messages: [{ value: 'zombie-ok' }] })),
    );
    const successor = await TransactionalProducer.connect(kafka, { transactionalId: id, logger: noopLogger });
    await successor.transaction(
      async (tx) => void (await tx.send({ topic, messages: [{ value: 'successor' }] })),
    );

    const first = await zombie
      .transaction(async (tx) => tx.send({ topic, messages: [{ value: 'zombie-late' }] }))
      .catch((e: unknown) => e);
    expect(isCdcError(first, 'KAFKA_FENCED')).toBe(true);
    expect((first as { retriable: boolean }).retriable).toBe(false);
    const second = await zombie.transaction(async () => 'never runs').catch((e: unknown) => e);
    expect(second).toBe(first);

    await successor.disconnect();
    await zombie.disconnect().catch(() => {});
    const committed = await readAll('committed', 6);
    expect(committed).toContain('successor');
    expect(committed).not.toContain('zombie-late');
  });

  it('fences the previous holder as it connects, before its first transaction: what that holder has open is aborted, never committed', async () => {
    // A processor task's new owner reads the committed offsets and state right after it
    // connects: a previous owner still alive must not commit after that.
    await ensureTopics(admin, [{ topic: handover }]);
    const id = `it-${run}-handover`;
    const previous = await TransactionalProducer.connect(kafka, { transactionalId: id, logger: noopLogger });
    let next: TransactionalProducer | undefined;
    const late = await previous
      .transaction(async (tx) => {
        await tx.send({ topic: handover, messages: [{ value: 'open while the next holder connected' }] });
        next = await TransactionalProducer.connect(kafka, { transactionalId: id, logger: noopLogger });
      })
      .catch((e: unknown) => e);
    expect(isCdcError(late, 'KAFKA_FENCED')).toBe(true);
    await next!.transaction(
      async (tx) => void (await tx.send({ topic: handover, messages: [{ value: 'next' }] })),
    );
    await next!.disconnect();
    await previous.disconnect().catch(() => {});
    expect(await readAll('committed', 1, handover)).toEqual(['next']);
  });
});
