/**
 * readTopicToEnd: what a capture reads back from its own compacted topics (the stored position,
 * the paused tables) — every committed record up to the end, never an aborted one, across
 * partitions, in a group that is not left behind, without waiting for a transaction still
 * open; reading that takes too long fails retriably, naming what it read.
 */
import { randomUUID } from 'node:crypto';
import { isCdcError, ManualClock, noopLogger } from '@cdc/core';
import type { Admin, Kafka } from 'kafkajs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { localEndpoints } from '../../../../infra/local/src/endpoints.ts';
import {
  createKafka,
  deleteTopicsIfExist,
  ensureTopics,
  KafkaConfigSchema,
  readTopicToEnd,
  TransactionalProducer,
} from '../../src/index.ts';

const run = `i23a-${randomUUID().slice(0, 8)}`;
const topic = `it.kafka.read-to-end.${run}`;
const empty = `it.kafka.read-to-end-empty.${run}`;
let kafka: Kafka;
let admin: Admin;

beforeAll(async () => {
  kafka = createKafka(
    KafkaConfigSchema.parse({ brokers: localEndpoints().kafka.brokers, clientId: `it-${run}` }),
    noopLogger,
  );
  admin = kafka.admin();
  await admin.connect();
  await ensureTopics(admin, [
    { topic, numPartitions: 2 },
    { topic: empty, numPartitions: 1 },
  ]);
});

afterAll(async () => {
  await deleteTopicsIfExist(admin, [topic, empty]);
  await admin.disconnect();
});

describe('readTopicToEnd', () => {
  it('reads every committed record of every partition, skips aborted ones, and deletes its group', async () => {
    const producer = await TransactionalProducer.connect(kafka, {
      transactionalId: `it-${run}-a`,
      logger: noopLogger,
    });
    await producer.transaction(async (tx) => {
      await tx.send({
        topic,
        messages: [
          { partition: 0, key: 'a', value: 'committed-1' },
          { partition: 1, key: 'b', value: 'committed-2' },
        ],
      });
    });
    await expect(
      producer.transaction(async (tx) => {
        await tx.send({ topic, messages: [{ partition: 0, key: 'a', value: 'aborted' }] });
        throw new Error('abort');
      }),
    ).rejects.toThrow('abort');
    await producer.transaction(async (tx) => {
      await tx.send({ topic, messages: [{ partition: 0, key: 'a', value: 'committed-3' }] });
    });
    await producer.disconnect();

    const clock = new ManualClock(1_234_567);
    const seen: string[] = [];
    const ends = await readTopicToEnd(
      kafka,
      topic,
      (messages) => {
        for (const m of messages) seen.push(m.value?.toString() ?? '');
      },
      { admin, label: `test topic ${run}`, timeoutMs: 30_000, clock },
    );
    expect(seen.sort()).toEqual(['committed-1', 'committed-2', 'committed-3']);
    expect([...ends.keys()].sort()).toEqual([0, 1]);
    const groups = (await admin.listGroups()).groups.map((g) => g.groupId);
    expect(groups.filter((g) => g.includes(run) && g.includes(String(clock.now())))).toEqual([]);
  });

  it('returns at once for a topic with no records', async () => {
    const seen: unknown[] = [];
    await readTopicToEnd(kafka, empty, (messages) => seen.push(...messages), { admin, label: 'empty topic' });
    expect(seen).toEqual([]);
  });

  it('is not held back by an open transaction: it reads what committed before it', async () => {
    const holder = await TransactionalProducer.connect(kafka, {
      transactionalId: `it-${run}-open`,
      logger: noopLogger,
      transactionTimeoutMs: 60_000,
    });
    let release: () => void = () => {};
    let sent: () => void = () => {};
    const written = new Promise<void>((r) => {
      sent = r;
    });
    const open = holder
      .transaction(async (tx) => {
        await tx.send({ topic, messages: [{ partition: 1, key: 'b', value: 'open' }] });
        sent();
        await new Promise<void>((r) => {
          release = r;
        });
        throw new Error('abort the open transaction');
      })
      .catch(() => undefined);
    try {
      await written;
      const seen: string[] = [];
      const started = Date.now();
      await readTopicToEnd(
        kafka,
        topic,
        (messages) => {
          for (const m of messages) seen.push(m.value?.toString() ?? '');
        },
        { admin, label: `test topic ${run}`, timeoutMs: 20_000 },
      );
      expect(seen.sort()).toEqual(['committed-1', 'committed-2', 'committed-3']);
      expect(Date.now() - started).toBeLessThan(20_000);
    } finally {
      release();
      await open;
      await holder.disconnect();
    }
  });

  it('fails retriably, naming what it reads and the end, when reading takes longer than allowed', async () => {
    const err = await readTopicToEnd(kafka, topic, () => {}, {
      admin,
      label: `test topic ${run}`,
      timeoutMs: 1,
    }).catch((e: unknown) => e);
    expect(isCdcError(err) && err.code).toBe('KAFKA_UNAVAILABLE');
    expect(isCdcError(err) && err.retriable).toBe(true);
    expect((err as Error).message).toContain(`reading test topic ${run} took longer than 1 ms`);
    expect((err as Error).message).toContain('is an old transaction still open?');
  });
});
