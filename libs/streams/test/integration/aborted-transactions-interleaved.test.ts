/**
 * Aborted transactions interleaved: two writers of one partition (two tasks of an instance killed
 * with -9, both writing one repartition partition) each leave a transaction open; the next owners
 * fence them in any order, so the one that began first may be aborted last. The broker lists a
 * partition's aborted transactions in the order they ended, not the order they began; a reader
 * that takes that list as sorted by first offset hands on the records of the earlier transaction
 * (kafkajs 2.2.4 did, and the processor counted an aborted batch of deltas a second time). A task
 * must count every committed record once and no aborted one.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { noopLogger } from '@cdc/core';
import { deleteTopicsIfExist, ensureTopics, TransactionalProducer } from '@cdc/kafka';
import { afterAll, describe, expect, it } from 'vitest';
import { KafkaStreams } from '../../src/index.ts';
import { localKafka, produce, readTopic, runId, testLogger } from './helpers.ts';
import { lastCounts, WINDOW_MS, windowedCountTopology } from './windowed-count-topology.ts';

const run = runId();
const input = `it.streams.aborted.in.${run}`;
const output = `it.streams.aborted.out.${run}`;
const appId = `it-streams-aborted-${run}`;
const kafka = localKafka(appId);
let stateDir = '';

/** A transaction that writes `count` records to partition 0 and stays open until `abort()`. */
async function openTransaction(
  name: string,
  count: number,
  timestamp: number,
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
        topic: input,
        messages: Array.from({ length: count }, (_, i) => ({
          partition: 0,
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
  await deleteTopicsIfExist(admin, [input, output, `${appId}-counts-changelog`]);
  await admin.deleteGroups([appId]).catch(() => {});
  await admin.disconnect();
  if (stateDir) await rm(stateDir, { recursive: true, force: true });
});

describe('aborted-transactions-interleaved', () => {
  it('counts no record of two transactions open at once on one partition and aborted in the reverse order of their start', async () => {
    stateDir = await mkdtemp(join(tmpdir(), 'streams-aborted-'));
    const admin = kafka.admin();
    await admin.connect();
    await ensureTopics(admin, [
      { topic: input, numPartitions: 1 },
      { topic: output, numPartitions: 1 },
    ]);
    await admin.disconnect();
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
});
