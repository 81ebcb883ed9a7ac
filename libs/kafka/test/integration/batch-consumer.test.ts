/**
 * The batch consumer against the local broker: every record of transactional producers reaches
 * the handler once, a topic created while it runs is picked up by the next refresh, and the
 * group's committed offsets reach each partition's end (past the transaction markers); a batch
 * the handler gave up on is not committed, so the next consumer of the group reads it again.
 */
import { randomUUID } from 'node:crypto';
import { noopLogger } from '@cdc/core';
import type { Admin, Kafka } from 'kafkajs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { localEndpoints } from '../../../../infra/local/src/endpoints.ts';
import {
  BatchConsumer,
  type ConsumedRecord,
  createKafka,
  deleteTopicsIfExist,
  ensureTopics,
  KafkaConfigSchema,
  TransactionalProducer,
} from '../../src/index.ts';

const run = `i23b-${randomUUID().slice(0, 8)}`;
const prefix = `it.kafka.batch.${run}`;
const first = `${prefix}.first`;
const later = `${prefix}.later`;
let kafka: Kafka;
let admin: Admin;

async function until(what: string, ms: number, check: () => boolean | Promise<boolean>): Promise<void> {
  const deadline = Date.now() + ms;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`${what}: not within ${ms / 1000} s`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

/** `count` records in transactions of 25 (each transaction leaves a commit marker). */
async function produce(topic: string, count: number, from = 0): Promise<void> {
  const producer = await TransactionalProducer.connect(kafka, {
    transactionalId: `${run}-${topic}-${from}`,
    logger: noopLogger,
  });
  try {
    for (let i = from; i < from + count; i += 25)
      await producer.transaction(async (tx) => {
        await tx.send({
          topic,
          messages: Array.from({ length: Math.min(25, from + count - i) }, (_, j) => ({
            key: String(i + j),
            value: `${topic}:${i + j}`,
          })),
        });
      });
  } finally {
    await producer.disconnect();
  }
}

function consumer(groupId: string): BatchConsumer {
  return new BatchConsumer({
    kafka,
    groupId,
    topics: async () => (await admin.listTopics()).filter((t) => t.startsWith(prefix)).sort(),
    refreshMs: 500,
    maxRows: 100,
    maxWaitMs: 200,
    sessionTimeoutMs: 10_000,
    fetchBytes: 1024 * 1024,
    logger: noopLogger,
  });
}

/** Whether the group committed every partition of `topics` up to its end. */
async function committedToEnd(groupId: string, topics: string[]): Promise<boolean> {
  const committed = await admin.fetchOffsets({ groupId, topics });
  for (const topic of topics) {
    const ends = await admin.fetchTopicOffsets(topic);
    const got = committed.find((c) => c.topic === topic)?.partitions ?? [];
    for (const e of ends)
      if (Number(got.find((p) => p.partition === e.partition)?.offset ?? -1) !== Number(e.high)) return false;
  }
  return true;
}

beforeAll(async () => {
  kafka = createKafka(
    KafkaConfigSchema.parse({ brokers: localEndpoints().kafka.brokers, clientId: run }),
    noopLogger,
  );
  admin = kafka.admin();
  await admin.connect();
  await ensureTopics(admin, [{ topic: first, numPartitions: 2 }]);
});

afterAll(async () => {
  await deleteTopicsIfExist(admin, [first, later]);
  await admin.deleteGroups([`${run}-a`, `${run}-b`]).catch(() => undefined);
  await admin.disconnect();
});

describe('BatchConsumer', () => {
  it('hands every record to the handler once, picks up a topic created while it runs, and commits to the end', async () => {
    await produce(first, 250);
    const groupId = `${run}-a`;
    const batches = consumer(groupId);
    const seen: string[] = [];
    const sizes: number[] = [];
    await batches.start();
    expect(batches.topics).toEqual([first]);
    const done = batches.run(async (records: ConsumedRecord[]) => {
      sizes.push(records.length);
      for (const r of records) seen.push(r.value!.toString());
      await batches.commit(records);
      return true;
    });
    try {
      await until('the first topic read', 30_000, () => seen.length >= 250);
      await ensureTopics(admin, [{ topic: later, numPartitions: 1 }]);
      await produce(later, 60);
      await until('the topic created later read', 30_000, () => seen.length >= 310);
      expect(batches.topics).toEqual([first, later]);
      expect(batches.resubscriptions).toBe(1);
      await until('offsets committed to the end, past the transaction markers', 15_000, () =>
        committedToEnd(groupId, [first, later]),
      );
    } finally {
      await batches.stop();
      await done;
    }
    expect(seen.length).toBe(310);
    expect(new Set(seen).size).toBe(310);
    // Batches go out at maxRows (plus what one fetch added) or after maxWaitMs.
    expect(Math.max(...sizes)).toBeLessThan(250);
    expect(batches.bufferedRecords).toBe(0);
  });

  it('does not commit a batch the handler gave up on: the next consumer of the group reads it again', async () => {
    const groupId = `${run}-b`;
    const giveUp = consumer(groupId);
    let handed = 0;
    await giveUp.start();
    const ended = giveUp.run(async (records) => {
      handed += records.length;
      return false;
    });
    await ended;
    await giveUp.stop();
    expect(handed).toBeGreaterThan(0);

    const again = consumer(groupId);
    const seen = new Set<string>();
    await again.start();
    const done = again.run(async (records) => {
      for (const r of records) seen.add(r.value!.toString());
      await again.commit(records);
      return true;
    });
    try {
      await until('every record read by the next consumer', 30_000, () => seen.size >= 310);
    } finally {
      await again.stop();
      await done;
    }
    expect(seen.size).toBe(310);
  });
});
