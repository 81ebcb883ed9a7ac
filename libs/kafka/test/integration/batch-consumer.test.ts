/**
 * The batch consumer against the local broker: every record of transactional producers reaches
 * the handler once, a topic created while it runs is picked up by the next refresh, and the
 * group's committed offsets reach each partition's end (past the transaction markers); a batch
 * the handler gave up on is not committed, so the next consumer of the group reads it again.
 * With a prepare step, the next batch is prepared while one is handled (one batch ahead, at most
 * `maxRows` records a batch) and nothing of it is committed before its own handler commits.
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

function consumer(groupId: string, maxRows = 100): BatchConsumer {
  return new BatchConsumer({
    kafka,
    groupId,
    topics: async () => (await admin.listTopics()).filter((t) => t.startsWith(prefix)).sort(),
    refreshMs: 500,
    maxRows,
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
  await admin
    .deleteGroups([`${run}-a`, `${run}-b`, `${run}-c`, `${run}-d`, `${run}-e`])
    .catch(() => undefined);
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

  it('prepares the next batch while one is handled, and commits nothing of it before its own handler', async () => {
    const groupId = `${run}-c`;
    const batches = consumer(groupId, 40);
    const seen = new Set<string>();
    const sizes: number[] = [];
    let prepared = 0;
    let handledAhead = 0;
    const aheadOfCommit: string[] = [];
    await batches.start();
    const done = batches.run<Promise<string[]>>(
      async (records, ahead) => {
        sizes.push(records.length);
        if (ahead !== undefined) {
          handledAhead += 1;
          // What prepare made of exactly this batch.
          expect(await ahead).toEqual(records.map((r) => r.value!.toString()));
        }
        // Nothing at or past this batch's first record of a partition is committed yet.
        const committed = await admin.fetchOffsets({ groupId, topics: [first] });
        for (const r of records) {
          if (r.topic !== first) continue;
          const c = committed[0]?.partitions.find((p) => p.partition === r.partition);
          if (c && BigInt(c.offset) > BigInt(r.offset)) aheadOfCommit.push(`${r.partition}@${r.offset}`);
        }
        await new Promise((r) => setTimeout(r, 50)); // a slow write: the next batch is taken meanwhile
        for (const r of records) seen.add(r.value!.toString());
        await batches.commit(records);
        return true;
      },
      async (records) => {
        prepared += 1;
        return records.map((r) => r.value!.toString());
      },
    );
    try {
      await until(
        'every record of the first topic read',
        30_000,
        () => [...seen].filter((v) => v.startsWith(`${first}:`)).length >= 250,
      );
      await until('offsets committed to the end, past the transaction markers', 15_000, () =>
        committedToEnd(groupId, [first]),
      );
    } finally {
      await batches.stop();
      await done;
    }
    expect(Math.max(...sizes)).toBeLessThanOrEqual(40);
    expect(handledAhead).toBeGreaterThan(0);
    expect(prepared).toBeGreaterThanOrEqual(handledAhead);
    expect(aheadOfCommit).toEqual([]);
    expect(batches.bufferedRecords).toBe(0);
  });

  it('fails run, naming the cause, when kafkajs gives up on the consumer instead of idling while it looks alive', async () => {
    // The broker refuses a session shorter than its group.min.session.timeout.ms (6 s): kafkajs
    // crashes on the join without restarting, as after a coordinator it cannot find.
    const batches = new BatchConsumer({
      kafka,
      groupId: `${run}-d`,
      topics: async () => [first],
      refreshMs: 0,
      maxRows: 100,
      maxWaitMs: 200,
      sessionTimeoutMs: 1_000,
      fetchBytes: 1024 * 1024,
      logger: noopLogger,
    });
    await batches.start();
    let handled = 0;
    const done = batches.run(async () => {
      handled += 1;
      return true;
    });
    const outcome = await Promise.race([
      done.then(
        () => 'resolved',
        (err: Error) => err,
      ),
      new Promise((r) => setTimeout(() => r('still running after 30 s'), 30_000)),
    ]);
    await batches.stop().catch(() => undefined); // rethrows what failed `run`
    expect(outcome).toBeInstanceOf(Error);
    expect((outcome as Error).message).toMatch(/consuming group .*-d: the Kafka client stopped consuming/);
    expect((outcome as Error).message).toMatch(/session timeout/i);
    expect(handled).toBe(0);
  });
});
