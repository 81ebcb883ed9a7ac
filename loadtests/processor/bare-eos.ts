/**
 * The exactly-once reference of the processor benchmark: a bare kafkajs consume-transform-produce
 * loop with no processing of its own. read_committed from a fresh group, one transactional
 * producer, and per fetched batch one transaction holding a copy of every record (same key and
 * value) on `--out` plus the batch's offsets (`sendOffsets`), as the simplest exactly-once
 * pipeline does. Prints one JSON line: `{ records, ms, peakRssMiB, cpuSeconds }`, ms from
 * process start (Node start-up and the group join count, as they do for the processor).
 */
import { readFileSync } from 'node:fs';
import { parseArgs } from 'node:util';
import { noopLogger } from '@cdc/core';
import { createKafka, KafkaConfigSchema } from '@cdc/kafka';

const { values } = parseArgs({
  options: {
    broker: { type: 'string' },
    topic: { type: 'string' },
    out: { type: 'string' },
    group: { type: 'string' },
    records: { type: 'string' },
  },
});
const target = Number(values.records);
const group = values.group as string;
const kafka = createKafka(
  KafkaConfigSchema.parse({ brokers: [values.broker as string], clientId: 'bench-bare-eos' }),
  noopLogger,
);
const producer = kafka.producer({
  transactionalId: `${group}-tx`,
  idempotent: true,
  maxInFlightRequests: 1,
  allowAutoTopicCreation: false,
});
await producer.connect();
const consumer = kafka.consumer({ groupId: group, readUncommitted: false, maxWaitTimeInMs: 200 });
let seen = 0;
let done: () => void = () => {};
const finished = new Promise<void>((r) => {
  done = r;
});
await consumer.connect();
await consumer.subscribe({ topic: values.topic as string, fromBeginning: true });
await consumer.run({
  autoCommit: false,
  eachBatchAutoResolve: false,
  eachBatch: async ({ batch, resolveOffset }) => {
    if (batch.messages.length === 0) return;
    const tx = await producer.transaction();
    try {
      await tx.send({
        topic: values.out as string,
        messages: batch.messages.map((m) => ({ key: m.key, value: m.value, partition: batch.partition })),
      });
      await tx.sendOffsets({
        consumerGroupId: group,
        topics: [
          {
            topic: batch.topic,
            partitions: [{ partition: batch.partition, offset: String(Number(batch.lastOffset()) + 1) }],
          },
        ],
      });
      await tx.commit();
    } catch (err) {
      await tx.abort().catch(() => undefined);
      throw err;
    }
    resolveOffset(batch.lastOffset());
    seen += batch.messages.length;
    if (seen >= target) done();
  },
});
await finished;
const ms = performance.now();
const cpu = process.cpuUsage();
const kb = Number(/VmHWM:\s+(\d+) kB/.exec(readFileSync('/proc/self/status', 'utf8'))?.[1] ?? Number.NaN);
process.stdout.write(
  `${JSON.stringify({ records: seen, ms, peakRssMiB: kb / 1024, cpuSeconds: (cpu.user + cpu.system) / 1e6 })}\n`,
);
await consumer.disconnect();
await producer.disconnect();
process.exit(0);
