/**
 * The reference of the processor benchmark: a bare kafkajs consumer (read_committed, a fresh
 * group, no processing) reading a topic from the beginning until it has `--records` records.
 * Prints one JSON line: `{ records, ms, peakRssMiB, cpuSeconds }`, ms from process start (so Node start-up
 * and the group join count, as they do for the processor).
 */
import { readFileSync } from 'node:fs';
import { parseArgs } from 'node:util';
import { noopLogger } from '@cdc/core';
import { createKafka, KafkaConfigSchema } from '@cdc/kafka';

const { values } = parseArgs({
  options: {
    broker: { type: 'string' },
    topic: { type: 'string' },
    group: { type: 'string' },
    records: { type: 'string' },
  },
});
const target = Number(values.records);
const kafka = createKafka(
  KafkaConfigSchema.parse({ brokers: [values.broker as string], clientId: 'bench-bare' }),
  noopLogger,
);
const consumer = kafka.consumer({
  groupId: values.group as string,
  readUncommitted: false,
  maxWaitTimeInMs: 200,
});
let seen = 0;
let done: () => void = () => {};
const finished = new Promise<void>((r) => {
  done = r;
});
await consumer.connect();
await consumer.subscribe({ topic: values.topic as string, fromBeginning: true });
await consumer.run({
  autoCommit: false,
  eachBatch: async ({ batch }) => {
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
process.exit(0);
