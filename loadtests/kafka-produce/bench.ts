/**
 * The produce path alone: CPU seconds per 100k records of `@cdc/kafka`'s transactional producer
 * (kafkajs with this repository's patch, as every service uses it) against @platformatic/kafka's
 * transactional producer, in the same run, on the same broker and the same records.
 *
 * Each client runs in a child process of its own (so one's garbage does not bill the other) and
 * writes `--records` records (key ~12 bytes, value `--value-bytes` random bytes, one trace
 * header, as the capture writes them) to a topic of its own with `--partitions` partitions: one
 * Kafka transaction per `--tx-records` records, sends of 1,000 records awaited one after the
 * other (as the change writer does). CPU is the child's user + system time around the produce
 * loop (connecting excluded); the rounds alternate clients. Then both topics' end offsets per
 * partition are compared: equal offsets mean the same keys landed on the same partitions
 * (@platformatic/kafka with its Java-compatible murmur2 partitioner; its default differs).
 *
 *   node loadtests/kafka-produce/bench.ts [--records 200000] [--value-bytes 150]
 *     [--tx-records 10000] [--partitions 3] [--rounds 2] [--json]
 */
import { execFileSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { parseArgs } from 'node:util';
import { noopLogger } from '@cdc/core';
import {
  createKafka,
  deleteTopicsIfExist,
  endOffsets,
  KafkaConfigSchema,
  TransactionalProducer,
} from '@cdc/kafka';
import { localEndpoints } from '@cdc/local-stack';
import { compatibilityPartitioner, Producer } from '@platformatic/kafka';

const { values } = parseArgs({
  options: {
    records: { type: 'string', default: '200000' },
    'value-bytes': { type: 'string', default: '150' },
    'tx-records': { type: 'string', default: '10000' },
    partitions: { type: 'string', default: '3' },
    rounds: { type: 'string', default: '2' },
    json: { type: 'boolean', default: false },
    // Internal: run one client in this process and print its figures.
    client: { type: 'string' },
    topic: { type: 'string' },
    id: { type: 'string' },
  },
});
const RECORDS = Number(values.records);
const VALUE_BYTES = Number(values['value-bytes']);
const TX_RECORDS = Number(values['tx-records']);
const PARTITIONS = Number(values.partitions);
const ROUNDS = Number(values.rounds);
const SEND = 1_000;
const broker = localEndpoints().kafka.brokers[0] as string;
const log = (s: string) => process.stderr.write(`${s}\n`);

interface ChildResult {
  client: string;
  records: number;
  seconds: number;
  cpuSeconds: number;
}

/** The same records for every client: keys and values fixed by index, one trace header each. */
function records(): { key: Buffer; value: Buffer; traceparent: string }[] {
  const pool = randomBytes(VALUE_BYTES + 4096);
  return Array.from({ length: RECORDS }, (_, i) => ({
    key: Buffer.from(`\u0000order-${i}`),
    value: Buffer.from(pool.subarray(i % 4096, (i % 4096) + VALUE_BYTES)),
    traceparent: `00-${(i % 997).toString(16).padStart(32, '0')}-${'1'.padStart(16, '0')}-01`,
  }));
}

async function runKafkajs(topic: string, id: string): Promise<ChildResult> {
  const kafka = createKafka(
    KafkaConfigSchema.parse({ brokers: [broker], clientId: `${id}-kafkajs` }),
    noopLogger,
  );
  const producer = await TransactionalProducer.connect(kafka, {
    transactionalId: `${id}-kafkajs`,
    logger: noopLogger,
  });
  const data = records();
  const t0 = performance.now();
  const c0 = process.cpuUsage();
  for (let start = 0; start < data.length; start += TX_RECORDS) {
    await producer.transaction(async (tx) => {
      for (let s = start; s < Math.min(start + TX_RECORDS, data.length); s += SEND) {
        const messages = data
          .slice(s, Math.min(s + SEND, start + TX_RECORDS, data.length))
          .map((r) => ({ key: r.key, value: r.value, headers: { traceparent: r.traceparent } }));
        await tx.send({ topic, messages });
      }
    });
  }
  const cpu = process.cpuUsage(c0);
  const seconds = (performance.now() - t0) / 1000;
  await producer.disconnect();
  return { client: 'kafkajs', records: data.length, seconds, cpuSeconds: (cpu.user + cpu.system) / 1e6 };
}

async function runPlatformatic(topic: string, id: string): Promise<ChildResult> {
  const producer = new Producer({
    clientId: `${id}-platformatic`,
    bootstrapBrokers: [broker],
    transactionalId: `${id}-platformatic`,
    idempotent: true,
    // Without these, a transactional id is (re)started with producer id 0 and epoch 0: the
    // broker's fencing of an older instance and a restart with the same id both fail.
    producerId: -1n,
    producerEpoch: -1,
    partitioner: compatibilityPartitioner,
    autocreateTopics: false,
  });
  const data = records();
  // Headers as a Map of Buffers: with a plain object (as kafkajs takes them) the send never
  // settles (2.12.1, default serializers).
  const traceparent = Buffer.from('traceparent');
  const header = (r: { traceparent: string }) => new Map([[traceparent, Buffer.from(r.traceparent)]]);
  const t0 = performance.now();
  const c0 = process.cpuUsage();
  for (let start = 0; start < data.length; start += TX_RECORDS) {
    const tx = await producer.beginTransaction();
    for (let s = start; s < Math.min(start + TX_RECORDS, data.length); s += SEND) {
      const messages = data
        .slice(s, Math.min(s + SEND, start + TX_RECORDS, data.length))
        .map((r) => ({ topic, key: r.key, value: r.value, headers: header(r) }));
      await tx.send({ messages });
    }
    await tx.commit();
  }
  const cpu = process.cpuUsage(c0);
  const seconds = (performance.now() - t0) / 1000;
  await producer.close();
  return {
    client: '@platformatic/kafka',
    records: data.length,
    seconds,
    cpuSeconds: (cpu.user + cpu.system) / 1e6,
  };
}

if (values.client) {
  const run = values.client === 'kafkajs' ? runKafkajs : runPlatformatic;
  const result = await run(values.topic as string, values.id as string);
  process.stdout.write(`${JSON.stringify(result)}\n`);
  process.exit(0);
}

const id = `bench_produce_17_${Date.now().toString(36)}`;
const kafka = createKafka(KafkaConfigSchema.parse({ brokers: [broker], clientId: id }), noopLogger);
const admin = kafka.admin();
await admin.connect();
const topics = { kafkajs: `${id}.kafkajs`, platformatic: `${id}.platformatic` };
const made: string[] = [];
const results: ChildResult[] = [];
try {
  for (let round = 0; round < ROUNDS; round++) {
    for (const client of round % 2 === 0 ? ['kafkajs', 'platformatic'] : ['platformatic', 'kafkajs']) {
      const topic = `${topics[client as keyof typeof topics]}.${round}`;
      await admin.createTopics({ topics: [{ topic, numPartitions: PARTITIONS, replicationFactor: 1 }] });
      made.push(topic);
      log(`round ${round + 1}/${ROUNDS}: ${client}, ${RECORDS} records …`);
      const out = execFileSync(
        process.execPath,
        [
          import.meta.filename,
          '--client',
          client,
          '--topic',
          topic,
          '--id',
          `${id}_${round}`,
          ...passThrough(),
        ],
        { encoding: 'utf8', stdio: ['ignore', 'pipe', 'inherit'] },
      );
      results.push(JSON.parse(out.trim().split('\n').at(-1) as string) as ChildResult);
    }
  }
  // Same keys, same partitions: every partition has the same end offset on both topics.
  const a = await endOffsets(admin, `${topics.kafkajs}.0`);
  const b = await endOffsets(admin, `${topics.platformatic}.0`);
  const samePartitions = [...a].every(([p, o]) => b.get(p) === o);
  const per100k = (r: ChildResult) => (r.cpuSeconds * 100_000) / r.records;
  const summary = (client: string) => {
    const runs = results.filter((r) => r.client === client);
    return {
      client,
      cpuSecondsPer100k: runs.map((r) => round3(per100k(r))),
      recordsPerSecond: runs.map((r) => Math.round(r.records / r.seconds)),
    };
  };
  const kj = summary('kafkajs');
  const pl = summary('@platformatic/kafka');
  const best = (xs: number[]) => Math.min(...xs);
  const ratio = round3(best(pl.cpuSecondsPer100k) / best(kj.cpuSecondsPer100k));
  if (values.json) {
    process.stdout.write(
      `${JSON.stringify({
        bench: 'kafka-produce',
        records: RECORDS,
        valueBytes: VALUE_BYTES,
        kafkajs: kj,
        platformatic: pl,
        best: {
          kafkajsRecordsPerSecond: Math.max(...kj.recordsPerSecond),
          platformaticRecordsPerSecond: Math.max(...pl.recordsPerSecond),
          kafkajsCpuSecondsPer100k: best(kj.cpuSecondsPer100k),
          platformaticCpuSecondsPer100k: best(pl.cpuSecondsPer100k),
        },
        cpuRatioPlatformaticToKafkajs: ratio,
        samePartitions,
      })}\n`,
    );
  } else {
    process.stdout.write(
      [
        `kafka produce, transactional (${RECORDS.toLocaleString('en')} records of ${VALUE_BYTES} bytes, ${TX_RECORDS} per transaction, ${PARTITIONS} partitions; node ${process.version})`,
        `  @cdc/kafka (kafkajs, patched): CPU ${kj.cpuSecondsPer100k.join(' / ')} s per 100k, ${kj.recordsPerSecond.map((x) => x.toLocaleString('en')).join(' / ')} records/s`,
        `  @platformatic/kafka:           CPU ${pl.cpuSecondsPer100k.join(' / ')} s per 100k, ${pl.recordsPerSecond.map((x) => x.toLocaleString('en')).join(' / ')} records/s`,
        `  CPU ratio platformatic / kafkajs (best runs): ${ratio}; same partitions for the same keys: ${samePartitions}`,
        '',
      ].join('\n'),
    );
  }
} finally {
  await deleteTopicsIfExist(admin, made).catch(() => undefined);
  await admin.disconnect();
}

function passThrough(): string[] {
  return [
    '--records',
    String(RECORDS),
    '--value-bytes',
    String(VALUE_BYTES),
    '--tx-records',
    String(TX_RECORDS),
  ];
}

function round3(x: number): number {
  return Number(x.toFixed(3));
}
