/**
 * The consume side of the processor's input alone: CPU seconds per 100k records of a bare
 * kafkajs consumer (through `@cdc/kafka`, as the processor and the sink consume) against a bare
 * librdkafka consumer (`@confluentinc/kafka-javascript`, native `consume(1000)` loop and its
 * KafkaJS-compatible `eachBatch`), reading the same transactionally written topic from the
 * beginning, read_committed, in a fresh group, with no processing and no offset commits.
 *
 * The topic (`--records` records, key ~12 bytes, `--value-bytes` value, one trace header,
 * `--partitions` partitions) is written once by `@cdc/kafka`'s transactional producer. Each
 * client runs in a child process of its own; CPU is the child's user + system time (all threads,
 * and the main thread alone) from just before it subscribes until it has every record, so the
 * group join counts (little CPU); records/s count from the first record. Rounds change the order.
 * librdkafka is loaded from `--rdkafka-dir` or `CDC_RDKAFKA_DIR` (see ../lib/rdkafka.ts); without
 * it the librdkafka clients are skipped, and the output says so.
 *
 *   node loadtests/kafka-consume/bench.ts [--records 200000] [--value-bytes 150] [--partitions 3]
 *     [--rounds 2] [--rdkafka-dir DIR] [--json]
 */
import { execFileSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { parseArgs } from 'node:util';
import { noopLogger } from '@cdc/core';
import { createKafka, deleteTopicsIfExist, KafkaConfigSchema, TransactionalProducer } from '@cdc/kafka';
import { localEndpoints } from '@cdc/local-stack';
import { type Measured, startMeter } from '../lib/meter.ts';
import { howToInstall, loadRdkafka, type RdkafkaModule, rdkafkaDir } from '../lib/rdkafka.ts';

const { values } = parseArgs({
  options: {
    records: { type: 'string', default: '200000' },
    'value-bytes': { type: 'string', default: '150' },
    partitions: { type: 'string', default: '3' },
    rounds: { type: 'string', default: '2' },
    'rdkafka-dir': { type: 'string' },
    json: { type: 'boolean', default: false },
    // Internal: run one client in this process and print its figures.
    client: { type: 'string' },
    topic: { type: 'string' },
    group: { type: 'string' },
  },
});
const RECORDS = Number(values.records);
const VALUE_BYTES = Number(values['value-bytes']);
const PARTITIONS = Number(values.partitions);
const ROUNDS = Number(values.rounds);
const broker = localEndpoints().kafka.brokers[0] as string;
const log = (s: string) => process.stderr.write(`${s}\n`);

const CLIENTS = {
  kafkajs: '@cdc/kafka (kafkajs, patched), eachBatch',
  'rdkafka-native': 'librdkafka, native API, consume(1000)',
  rdkafka: 'librdkafka, KafkaJS API, eachBatch',
} as const;
type ClientId = keyof typeof CLIENTS;

interface ChildResult extends Measured {
  client: ClientId;
  records: number;
  bytes: number;
  /** From the first record to the last. */
  readSeconds: number;
}

/** Counts records and value bytes until `RECORDS`; `firstAt` is when the first arrived. */
function counter() {
  const c = { records: 0, bytes: 0, firstAt: 0, lastAt: 0, done: () => {} };
  const finished = new Promise<void>((resolve) => {
    c.done = resolve;
  });
  const add = (values: (Buffer | null | undefined)[]) => {
    if (c.firstAt === 0 && values.length > 0) c.firstAt = performance.now();
    c.records += values.length;
    for (const v of values) c.bytes += v?.length ?? 0;
    if (c.records >= RECORDS && c.lastAt === 0) {
      c.lastAt = performance.now();
      c.done();
    }
  };
  return { c, add, finished };
}

async function consumeKafkajs(topic: string, group: string): Promise<ChildResult> {
  const kafka = createKafka(KafkaConfigSchema.parse({ brokers: [broker], clientId: group }), noopLogger);
  const consumer = kafka.consumer({ groupId: group, readUncommitted: false, maxWaitTimeInMs: 200 });
  await consumer.connect();
  const { c, add, finished } = counter();
  const stop = startMeter();
  await consumer.subscribe({ topic, fromBeginning: true });
  await consumer.run({
    autoCommit: false,
    eachBatch: async ({ batch }) => add(batch.messages.map((m) => m.value)),
  });
  await finished;
  const measured = stop();
  await consumer.disconnect();
  return result('kafkajs', c, measured);
}

async function consumeNative(rd: RdkafkaModule, topic: string, group: string): Promise<ChildResult> {
  const consumer = new rd.KafkaConsumer(
    {
      'bootstrap.servers': broker,
      'group.id': group,
      'enable.auto.commit': false,
      'isolation.level': 'read_committed',
    },
    { 'auto.offset.reset': 'earliest' },
  );
  await new Promise<void>((resolve, reject) =>
    consumer.connect({}, (err) => (err ? reject(err) : resolve())),
  );
  consumer.setDefaultConsumeTimeout(200);
  const { c, add } = counter();
  const stop = startMeter();
  consumer.subscribe([topic]);
  while (c.records < RECORDS) {
    const messages = await new Promise<{ value: Buffer | null }[]>((resolve, reject) =>
      consumer.consume(1000, (err, m) => (err ? reject(err) : resolve(m))),
    );
    add(messages.map((m) => m.value));
  }
  const measured = stop();
  await new Promise<void>((resolve) => consumer.disconnect(() => resolve()));
  return result('rdkafka-native', c, measured);
}

async function consumeCompat(rd: RdkafkaModule, topic: string, group: string): Promise<ChildResult> {
  const kafka = new rd.KafkaJS.Kafka({
    kafkaJS: { brokers: [broker], clientId: group, logLevel: rd.KafkaJS.logLevel.ERROR },
  });
  const consumer = kafka.consumer({
    kafkaJS: { groupId: group, fromBeginning: true, autoCommit: false, readUncommitted: false },
  });
  await consumer.connect();
  const { c, add, finished } = counter();
  const stop = startMeter();
  await consumer.subscribe({ topics: [topic] });
  void consumer.run({
    eachBatch: async ({ batch }) => add((batch.messages as { value: Buffer | null }[]).map((m) => m.value)),
  });
  await finished;
  const measured = stop();
  await consumer.disconnect();
  return result('rdkafka', c, measured);
}

function result(
  client: ClientId,
  c: { records: number; bytes: number; firstAt: number; lastAt: number },
  m: Measured,
): ChildResult {
  return { client, records: c.records, bytes: c.bytes, readSeconds: (c.lastAt - c.firstAt) / 1000, ...m };
}

if (values.client) {
  const client = values.client as ClientId;
  const topic = values.topic as string;
  const group = values.group as string;
  let out: ChildResult;
  if (client === 'kafkajs') out = await consumeKafkajs(topic, group);
  else {
    const loaded = loadRdkafka(rdkafkaDir(values['rdkafka-dir']) as string);
    if ('problem' in loaded) throw new Error(loaded.problem);
    out =
      client === 'rdkafka-native'
        ? await consumeNative(loaded.module, topic, group)
        : await consumeCompat(loaded.module, topic, group);
  }
  process.stdout.write(`${JSON.stringify(out)}\n`);
  process.exit(0);
}

const dir = rdkafkaDir(values['rdkafka-dir']);
const problem =
  dir === undefined
    ? `@confluentinc/kafka-javascript is not part of the workspace; ${howToInstall()}`
    : ((l) => ('problem' in l ? l.problem : undefined))(loadRdkafka(dir));
const clients: ClientId[] = problem === undefined ? ['kafkajs', 'rdkafka-native', 'rdkafka'] : ['kafkajs'];
const skipped = problem === undefined ? [] : [{ clients: ['rdkafka-native', 'rdkafka'], reason: problem }];
if (problem !== undefined) log(`skipped rdkafka-native, rdkafka: ${problem}`);

const id = `bench_consume_${Date.now().toString(36)}`;
const topic = `${id}.input`;
const kafka = createKafka(KafkaConfigSchema.parse({ brokers: [broker], clientId: id }), noopLogger);
const admin = kafka.admin();
await admin.connect();
const results: ChildResult[] = [];
const groups: string[] = [];
try {
  await admin.createTopics({ topics: [{ topic, numPartitions: PARTITIONS, replicationFactor: 1 }] });
  log(`writing ${RECORDS} records (transactions of 10,000) …`);
  const producer = await TransactionalProducer.connect(kafka, { transactionalId: id, logger: noopLogger });
  const pool = randomBytes(VALUE_BYTES + 4096);
  for (let start = 0; start < RECORDS; start += 10_000) {
    await producer.transaction(async (tx) => {
      for (let s = start; s < Math.min(start + 10_000, RECORDS); s += 1_000) {
        const messages = [];
        for (let i = s; i < Math.min(s + 1_000, RECORDS); i++) {
          messages.push({
            key: Buffer.from(`\u0000order-${i}`),
            value: pool.subarray(i % 4096, (i % 4096) + VALUE_BYTES),
            headers: {
              traceparent: `00-${(i % 997).toString(16).padStart(32, '0')}-${'1'.padStart(16, '0')}-01`,
            },
          });
        }
        await tx.send({ topic, messages });
      }
    });
  }
  await producer.disconnect();
  for (let round = 0; round < ROUNDS; round++) {
    const order = clients.map((_, i) => clients[(i + round) % clients.length] as ClientId);
    for (const client of order) {
      log(`round ${round + 1}/${ROUNDS}: ${client} …`);
      groups.push(`${id}-${client}-${round}`);
      const args = ['--client', client, '--topic', topic, '--group', groups.at(-1) as string];
      args.push('--records', String(RECORDS), ...(dir === undefined ? [] : ['--rdkafka-dir', dir]));
      const out = execFileSync(process.execPath, [import.meta.filename, ...args], {
        encoding: 'utf8',
        stdio: ['ignore', 'pipe', 'inherit'],
        timeout: 300_000,
      });
      const r = JSON.parse(out.trim().split('\n').at(-1) as string) as ChildResult;
      if (r.records !== RECORDS || r.bytes !== RECORDS * VALUE_BYTES) {
        throw new Error(
          `${client} read ${r.records} records of ${r.bytes} bytes, expected ${RECORDS} of ${RECORDS * VALUE_BYTES}`,
        );
      }
      results.push(r);
    }
  }
  const r3 = (x: number) => Number(x.toFixed(3));
  const summary = (client: ClientId) => {
    const runs = results.filter((r) => r.client === client);
    return {
      client,
      name: CLIENTS[client],
      cpuSecondsPer100k: runs.map((r) => r3((r.cpuSeconds * 100_000) / r.records)),
      mainThreadCpuSecondsPer100k: runs.map((r) => r3((r.mainThreadCpuSeconds * 100_000) / r.records)),
      recordsPerSecond: runs.map((r) => Math.round(r.records / r.readSeconds)),
    };
  };
  const kj = summary('kafkajs');
  const figures = clients.map((client) => {
    const s = summary(client);
    return {
      ...s,
      cpuRatioToKafkajs: r3(Math.min(...s.cpuSecondsPer100k) / Math.min(...kj.cpuSecondsPer100k)),
      rateRatioToKafkajs: r3(Math.max(...s.recordsPerSecond) / Math.max(...kj.recordsPerSecond)),
    };
  });
  if (values.json) {
    const head = {
      bench: 'kafka-consume',
      records: RECORDS,
      valueBytes: VALUE_BYTES,
      partitions: PARTITIONS,
    };
    process.stdout.write(`${JSON.stringify({ ...head, clients: figures, skipped })}\n`);
  } else {
    const width = Math.max(...figures.map((f) => f.name.length)) + 1;
    process.stdout.write(
      [
        `kafka consume, read_committed (${RECORDS.toLocaleString('en')} records of ${VALUE_BYTES} bytes, ${PARTITIONS} partitions; node ${process.version})`,
        ...figures.map(
          (f) =>
            `  ${`${f.name}:`.padEnd(width)} CPU ${f.cpuSecondsPer100k.join(' / ')} s per 100k (main thread ${f.mainThreadCpuSecondsPer100k.join(' / ')}), ${f.recordsPerSecond.map((x) => x.toLocaleString('en')).join(' / ')} records/s; best vs kafkajs: CPU ${f.cpuRatioToKafkajs}, rate ${f.rateRatioToKafkajs}`,
        ),
        ...(problem === undefined ? [] : [`  skipped rdkafka-native, rdkafka: ${problem}`]),
        '',
      ].join('\n'),
    );
  }
} finally {
  await deleteTopicsIfExist(admin, [topic]).catch(() => undefined);
  await admin.deleteGroups(groups).catch(() => undefined);
  await admin.disconnect();
}
