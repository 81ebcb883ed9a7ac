/**
 * Aborted transactions interleaved: two writers of one partition (two tasks of an instance killed
 * with -9, both writing one repartition partition) each leave a transaction open; the next owners
 * fence them in any order, so the one that began first may be aborted last. The broker lists a
 * partition's aborted transactions in the order they ended, not the order they began; a reader
 * that takes that list as sorted by first offset hands on the records of the earlier transaction
 * (kafkajs 2.2.4 did, and the processor counted an aborted batch of deltas a second time). A task
 * must count every committed record once and no aborted one. And a partition whose only records
 * belong to an aborted transaction is committed past them (no lag left where there is no data).
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { noopLogger } from '@cdc/core';
import { deleteTopicsIfExist, ensureTopics, TransactionalProducer } from '@cdc/kafka';
import { afterAll, describe, expect, it } from 'vitest';
import { KafkaStreams } from '../../src/index.ts';
import { createTopics, localKafka, produce, readTopic, runId, testLogger } from './helpers.ts';
import { lastCounts, WINDOW_MS, windowedCountTopology } from './windowed-count-topology.ts';

const run = runId();
const input = `it.streams.aborted.in.${run}`;
const output = `it.streams.aborted.out.${run}`;
const appId = `it-streams-aborted-${run}`;
const kafka = localKafka(appId);
let stateDir = '';
/** The second case's topics and application. */
const onlyAborted = {
  input: `it.streams.aborted-only.in.${run}`,
  output: `it.streams.aborted-only.out.${run}`,
  appId: `it-streams-aborted-only-${run}`,
};

/** A transaction that writes `count` records to a partition (0 of `input`) and stays open until `abort()`. */
async function openTransaction(
  name: string,
  count: number,
  timestamp: number,
  to: { topic: string; partition: number } = { topic: input, partition: 0 },
): Promise<{ abort: () => Promise<void> }> {
  const producer = await TransactionalProducer.connect(kafka, {
    transactionalId: `${appId}-${name}`,
    logger: noopLogger,
    transactionTimeoutMs: 60_000,
  });
  let sent: () => void = () => {};
  let fail: (err: Error) => void = () => {};
  const written = new Promise<void>((r) => {
    sent = r;
  });
  const ended = producer
    .transaction(async (tx) => {
      await tx.send({
        topic: to.topic,
        messages: Array.from({ length: count }, (_, i) => ({
          partition: to.partition,
          key: 'aborted',
          value: `${name}${i}`,
          timestamp: String(timestamp),
        })),
      });
      sent();
      await new Promise<void>((_, reject) => {
        fail = reject;
      });
    })
    .catch(() => undefined);
  await written;
  return {
    abort: async () => {
      fail(new Error('aborted by the test'));
      await ended;
      await producer.disconnect();
    },
  };
}

afterAll(async () => {
  const admin = kafka.admin();
  await admin.connect();
  await deleteTopicsIfExist(admin, [
    input,
    output,
    `${appId}-counts-changelog`,
    onlyAborted.input,
    onlyAborted.output,
    `${onlyAborted.appId}-counts-changelog`,
  ]);
  await admin.deleteGroups([appId, onlyAborted.appId]).catch(() => {});
  await admin.disconnect();
  if (stateDir) await rm(stateDir, { recursive: true, force: true });
});

describe('aborted-transactions-interleaved', () => {
  it('counts no record of two transactions open at once on one partition and aborted in the reverse order of their start', async () => {
    stateDir = await mkdtemp(join(tmpdir(), 'streams-aborted-'));
    await createTopics(kafka, [
      { topic: input, numPartitions: 1 },
      { topic: output, numPartitions: 1 },
    ]);
    const ts = Math.floor(Date.now() / WINDOW_MS) * WINDOW_MS - 5 * WINDOW_MS;
    const window = `${ts}`;
    const committed = (n: number) =>
      Array.from({ length: n }, (_, i) => ({ key: 'committed', value: `c${i}`, timestamp: ts }));

    await produce(kafka, input, committed(3));
    // The first to begin is the last to end: the broker lists `second` before `first`.
    const first = await openTransaction('first', 20, ts);
    const second = await openTransaction('second', 20, ts);
    await second.abort();
    await first.abort();
    await produce(kafka, input, committed(4));

    const app = new KafkaStreams(windowedCountTopology(input, output), {
      applicationId: appId,
      kafka,
      stateDir,
      logger: testLogger(),
    });
    await app.start();
    try {
      // Records are processed in offset order: once the last committed one is counted, every
      // aborted one before it has been seen (and, if wrongly counted, written) too.
      const out = await readTopic(
        kafka,
        output,
        (r) => lastCounts(r).get(`committed@${window}`) === 7,
        30_000,
      );
      const counts = lastCounts(out);
      expect(counts.get(`aborted@${window}`), 'records of aborted transactions were counted').toBeUndefined();
      expect(counts.get(`committed@${window}`)).toBe(7);
    } finally {
      await app.close();
    }
  }, 90_000);

  it('commits past an input partition whose only records belong to an aborted transaction', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'streams-aborted-only-'));
    const admin = kafka.admin();
    await admin.connect();
    try {
      await ensureTopics(admin, [
        { topic: onlyAborted.input, numPartitions: 2 },
        { topic: onlyAborted.output, numPartitions: 2 },
      ]);
      const ts = Math.floor(Date.now() / WINDOW_MS) * WINDOW_MS - 5 * WINDOW_MS;
      // Partition 1 holds an aborted transaction (a writer killed or fenced mid-transaction) and
      // its abort marker, nothing else; partition 0 nothing. So the first fetch holds only them
      // and arrives while the tasks may still be opening (restoring, fencing): the position must
      // move past them either way, since kafkajs never fetches them again.
      const open = await openTransaction('only', 5, ts, { topic: onlyAborted.input, partition: 1 });
      await open.abort();
      // The coordinator writes the abort marker after EndTxn has answered: read the end until it
      // holds the marker (at most 10 s).
      const endOf1 = async () =>
        Number((await admin.fetchTopicOffsets(onlyAborted.input)).find((o) => o.partition === 1)?.high);
      let end = await endOf1();
      for (const deadline = Date.now() + 10_000; end !== 6 && Date.now() < deadline; end = await endOf1())
        await new Promise((r) => setTimeout(r, 100));
      expect(end).toBe(6); // 5 aborted records and the marker

      const app = new KafkaStreams(windowedCountTopology(onlyAborted.input, onlyAborted.output), {
        applicationId: onlyAborted.appId,
        kafka,
        stateDir: dir,
        logger: testLogger(),
      });
      await app.start();
      try {
        // The group's position on partition 1 moves past the aborted records and the marker, as a
        // Java consumer's committed position does: no lag is left on a partition with no data.
        const deadline = Date.now() + 30_000;
        let committed = '-1';
        while (Date.now() < deadline) {
          const [offsets] = await admin.fetchOffsets({
            groupId: onlyAborted.appId,
            topics: [onlyAborted.input],
          });
          committed = offsets?.partitions.find((p) => p.partition === 1)?.offset ?? '-1';
          if (committed === '6') break;
          await new Promise((r) => setTimeout(r, 250));
        }
        expect(committed, 'the committed offset of the partition holding only an aborted transaction').toBe(
          '6',
        );
      } finally {
        await app.close();
      }
    } finally {
      await admin.disconnect();
      await rm(dir, { recursive: true, force: true });
    }
  }, 90_000);
});
