import { randomUUID } from 'node:crypto';
import { isCdcError, noopLogger } from '@cdc/core';
import type { Admin, Consumer, Kafka } from 'kafkajs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { localEndpoints } from '../../../../infra/local/src/endpoints.ts';
import {
  type ConsumerGroupMetadata,
  createKafka,
  deleteTopicsIfExist,
  ensureTopics,
  fetchStableOffsets,
  groupLag,
  KafkaConfigSchema,
  TransactionalProducer,
} from '../../src/index.ts';

// What exactly-once with one producer per consumer (Kafka Streams' exactly_once_v2, KIP-447)
// stands on, through the patched kafkajs against the real broker: offsets committed in a
// transaction carry the member's group generation, and the coordinator refuses them once the
// group moved on (TxnOffsetCommit v3); a new owner of a partition reads its offsets only after
// the transaction that commits them has ended (OffsetFetch v7, require_stable).
const run = randomUUID().slice(0, 8);
const topic = `it.kafka.kip447.${run}`;
const groupId = `it-kip447-${run}`;
let kafka: Kafka;
let admin: Admin;
let member: Consumer;
let joined: ConsumerGroupMetadata;

async function readCommitted(expected: number): Promise<string[]> {
  const consumer = kafka.consumer({ groupId: `it-${run}-reader-${randomUUID()}` });
  await consumer.connect();
  await consumer.subscribe({ topic, fromBeginning: true });
  const seen: string[] = [];
  await consumer.run({ eachMessage: async ({ message }) => void seen.push(String(message.value)) });
  const end = Date.now() + 15_000;
  while (seen.length < expected && Date.now() < end) await new Promise((r) => setTimeout(r, 100));
  await new Promise((r) => setTimeout(r, 1_000)); // and what must not arrive
  await consumer.disconnect();
  return seen;
}

const offsetsOf = async (): Promise<number> =>
  (await fetchStableOffsets(admin, groupId, [topic], 10_000)).get(topic)?.get(0) ?? -1;

beforeAll(async () => {
  kafka = createKafka(
    KafkaConfigSchema.parse({ brokers: localEndpoints().kafka.brokers, clientId: `it-${run}` }),
    noopLogger,
  );
  admin = kafka.admin();
  await admin.connect();
  await ensureTopics(admin, [{ topic, numPartitions: 1 }]);
  // A member of the group, so that the group has a generation; it commits nothing itself.
  member = kafka.consumer({ groupId });
  const join = new Promise<ConsumerGroupMetadata>((resolve) =>
    member.on(member.events.GROUP_JOIN, (e) => {
      const p = e.payload as unknown as { generationId: number; memberId: string };
      resolve({ generationId: p.generationId, memberId: p.memberId });
    }),
  );
  await member.connect();
  await member.subscribe({ topic, fromBeginning: true });
  await member.run({ autoCommit: false, eachMessage: async () => {} });
  joined = await join;
}, 60_000);

afterAll(async () => {
  await member?.disconnect();
  await deleteTopicsIfExist(admin, [topic]);
  await admin.disconnect();
});

describe('group generation fencing (TxnOffsetCommit v3)', () => {
  it("commits offsets stamped with the member's generation, refuses a stale one and aborts its records; the producer goes on", async () => {
    expect(joined.generationId).toBeGreaterThan(0);
    expect(joined.memberId).not.toBe('');
    const producer = await TransactionalProducer.connect(kafka, {
      transactionalId: `it-${run}-v2`,
      logger: noopLogger,
    });
    const commit = (value: string, offset: number, metadata: ConsumerGroupMetadata) =>
      producer.transaction(async (tx) => {
        await tx.send({ topic, messages: [{ value }] });
        await tx.sendOffsets({
          consumerGroupId: groupId,
          consumerGroupMetadata: metadata,
          topics: [{ topic, partitions: [{ partition: 0, offset: String(offset) }] }],
        });
      });
    await commit('first', 1, joined);
    expect(await offsetsOf()).toBe(1);

    const stale = await commit('stale', 2, { ...joined, generationId: joined.generationId - 1 }).catch(
      (e: unknown) => e,
    );
    expect(isCdcError(stale, 'KAFKA_FENCED')).toBe(true);
    expect((stale as { context: Record<string, unknown> }).context).toMatchObject({
      fencedBy: 'group-generation',
      brokerError: 'ILLEGAL_GENERATION',
    });
    const stranger = await commit('stranger', 2, { ...joined, memberId: `not-a-member-${run}` }).catch(
      (e: unknown) => e,
    );
    expect((stranger as { context: Record<string, unknown> }).context).toMatchObject({
      fencedBy: 'group-generation',
      brokerError: 'UNKNOWN_MEMBER_ID',
    });
    expect(await offsetsOf()).toBe(1);

    // The same producer, its session intact, commits with the current generation.
    await commit('second', 3, joined);
    await producer.disconnect();
    expect(await offsetsOf()).toBe(3);
    expect(await readCommitted(2)).toEqual(['first', 'second']);
  });
});

describe('stable offsets (OffsetFetch v7, require_stable)', () => {
  it('waits for the open transaction that commits offsets, then reads what it committed', async () => {
    const producer = await TransactionalProducer.connect(kafka, {
      transactionalId: `it-${run}-stable`,
      logger: noopLogger,
    });
    const before = await offsetsOf();
    let release!: () => void;
    const gate = new Promise<void>((r) => {
      release = r;
    });
    let offsetsSent!: () => void;
    const sent = new Promise<void>((r) => {
      offsetsSent = r;
    });
    const open = producer.transaction(async (tx) => {
      await tx.send({ topic, messages: [{ value: 'held' }] });
      await tx.sendOffsets({
        consumerGroupId: groupId,
        topics: [{ topic, partitions: [{ partition: 0, offset: String(before + 10) }] }],
      });
      offsetsSent();
      await gate;
    });
    await sent;
    // A plain read answers at once with the offsets committed before the transaction.
    const plain = await admin.fetchOffsets({ groupId, topics: [topic] });
    expect(Number(plain[0]?.partitions.find((p) => p.partition === 0)?.offset)).toBe(before);
    // A stable read does not: within 500 ms it gives up naming the cause.
    const impatient = await fetchStableOffsets(admin, groupId, [topic], 500).catch((e: unknown) => e);
    expect(impatient).toBeInstanceOf(Error);
    expect(String((impatient as Error).message)).toMatch(/unstable offsets/i);
    // Given time, it answers once the transaction commits, with what it committed.
    const startedAt = Date.now();
    const waiting = fetchStableOffsets(admin, groupId, [topic], 15_000);
    setTimeout(release, 700);
    const stable = await waiting;
    await open;
    expect(Date.now() - startedAt).toBeGreaterThanOrEqual(600);
    expect(stable.get(topic)?.get(0)).toBe(before + 10);
    await producer.disconnect();
  });
});

describe('offsets of every topic of a group (OffsetFetch v7)', () => {
  it('answers a fetch without topics with every topic the group committed, so its lag is reported', async () => {
    // Version 7 reads "every topic" from a null list only; kafkajs' admin sends an empty one.
    // Without the patch's mapping the processor's lag metric read nothing, shown as 0.
    const lagGroup = `${groupId}-lag`;
    await admin.setOffsets({ groupId: lagGroup, topic, partitions: [{ partition: 0, offset: '1' }] });
    const fetched = await admin.fetchOffsets({ groupId: lagGroup });
    expect(fetched.map((t) => t.topic)).toEqual([topic]);
    const lags = await groupLag(admin, lagGroup);
    const mine = lags.find((l) => l.topic === topic && l.partition === 0);
    expect(mine?.committed).toBe(1n);
    expect(mine?.end).toBeGreaterThan(mine?.committed ?? 0n);
    expect(mine?.lag).toBe((mine?.end ?? 0n) - (mine?.committed ?? 0n));
  });
});
