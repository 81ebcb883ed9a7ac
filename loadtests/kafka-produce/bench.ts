/**
 * The produce path alone: CPU seconds per 100k records of `@cdc/kafka`'s transactional producer
 * (kafkajs with this repository's patch, as every service uses it) against @platformatic/kafka's
 * transactional producer and, when it is installed (`--rdkafka-dir`, see rdkafka.ts), librdkafka
 * through `@confluentinc/kafka-javascript` in three ways, in the same run, on the same broker and
 * the same records.
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
import { type Measured, startMeter } from '../lib/meter.ts';
import { howToInstall, loadRdkafka, RDKAFKA_PACKAGE, RDKAFKA_VERSION, rdkafkaDir } from '../lib/rdkafka.ts';
import { type BenchRecord, type RdkafkaMode, runRdkafka } from './rdkafka.ts';

const { values } = parseArgs({
  options: {
    records: { type: 'string', default: '200000' },
    'value-bytes': { type: 'string', default: '150' },
    'tx-records': { type: 'string', default: '10000' },
    partitions: { type: 'string', default: '3' },
    rounds: { type: 'string', default: '2' },
    json: { type: 'boolean', default: false },
    'rdkafka-dir': { type: 'string' },
    clients: { type: 'string' },
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

interface ChildResult extends Measured {
  client: ClientId;
  records: number;
}

/** The clients, in the order of the first round. */
const CLIENTS = {
  kafkajs: { name: '@cdc/kafka (kafkajs, patched)', rdkafka: undefined },
  platformatic: { name: '@platformatic/kafka', rdkafka: undefined },
  rdkafka: { name: 'librdkafka, KafkaJS API, sends awaited', rdkafka: 'compat' },
  'rdkafka-native': { name: 'librdkafka, native API, flush per 1,000', rdkafka: 'native-awaited' },
  'rdkafka-batch': { name: 'librdkafka, native API, flush before commit', rdkafka: 'native-batched' },
} as const satisfies Record<string, { name: string; rdkafka: RdkafkaMode | undefined }>;
type ClientId = keyof typeof CLIENTS;

/** The same records for every client: keys and values fixed by index, one trace header each. */
function records(): BenchRecord[] {
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
  const stop = startMeter();
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
  const measured = stop();
  await producer.disconnect();
  return { client: 'kafkajs', records: data.length, ...measured };
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
  const stop = startMeter();
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
  const measured = stop();
  await producer.close();
  return { client: 'platformatic', records: data.length, ...measured };
}

async function runLibrdkafka(client: ClientId, topic: string, id: string): Promise<ChildResult> {
  const dir = rdkafkaDir(values['rdkafka-dir']) as string;
  const loaded = loadRdkafka(dir);
  if ('problem' in loaded) throw new Error(loaded.problem);
  const data = records();
  const mode = CLIENTS[client].rdkafka as RdkafkaMode;
  const measured = await runRdkafka(loaded.module, mode, {
    broker,
    topic,
    id,
    txRecords: TX_RECORDS,
    send: SEND,
    data,
  });
  return { client, records: data.length, ...measured };
}

if (values.client) {
  const client = values.client as ClientId;
  const topic = values.topic as string;
  const childId = values.id as string;
  const result =
    client === 'kafkajs'
      ? await runKafkajs(topic, childId)
      : client === 'platformatic'
        ? await runPlatformatic(topic, childId)
        : await runLibrdkafka(client, topic, childId);
  process.stdout.write(`${JSON.stringify(result)}\n`);
  process.exit(0);
}

/** The clients to run, and those left out with the reason. */
function chooseClients(): { run: ClientId[]; skipped: { client: ClientId; reason: string }[] } {
  const asked = (values.clients?.split(',').map((c) => c.trim()) ?? Object.keys(CLIENTS)) as ClientId[];
  const unknown = asked.filter((c) => !(c in CLIENTS));
  if (unknown.length > 0) {
    throw new Error(`--clients: unknown ${unknown.join(', ')}; known: ${Object.keys(CLIENTS).join(', ')}`);
  }
  if (!asked.includes('kafkajs')) throw new Error('--clients must include kafkajs: it is the reference');
  const wantsRdkafka = asked.filter((c) => CLIENTS[c].rdkafka !== undefined);
  if (wantsRdkafka.length === 0) return { run: asked, skipped: [] };
  const dir = rdkafkaDir(values['rdkafka-dir']);
  const problem =
    dir === undefined
      ? `${RDKAFKA_PACKAGE} ${RDKAFKA_VERSION} is not part of the workspace (it builds librdkafka when installed); ${howToInstall()}`
      : ((l) => ('problem' in l ? l.problem : undefined))(loadRdkafka(dir));
  if (problem === undefined) return { run: asked, skipped: [] };
  // Asked for by name: an error. Left out of a default run: skipped, and said so.
  if (values.clients !== undefined) throw new Error(problem);
  return {
    run: asked.filter((c) => CLIENTS[c].rdkafka === undefined),
    skipped: wantsRdkafka.map((client) => ({ client, reason: problem })),
  };
}

const { run: clients, skipped } = (() => {
  try {
    return chooseClients();
  } catch (err) {
    log((err as Error).message);
    process.exit(2);
  }
})();
const skippedLine = () => `skipped ${skipped.map((s) => s.client).join(', ')}: ${skipped[0]?.reason}`;
if (skipped.length > 0) log(skippedLine());

const id = `bench_produce_17_${Date.now().toString(36)}`;
const kafka = createKafka(KafkaConfigSchema.parse({ brokers: [broker], clientId: id }), noopLogger);
const admin = kafka.admin();
await admin.connect();
const topicOf = (client: ClientId, round: number) => `${id}.${client}.${round}`;
const made: string[] = [];
const results: ChildResult[] = [];
try {
  for (let round = 0; round < ROUNDS; round++) {
    // Each round starts with another client, so that no client always runs first or last.
    const order = clients.map((_, i) => clients[(i + round) % clients.length] as ClientId);
    for (const client of order) {
      const topic = topicOf(client, round);
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
  // Same keys, same partitions: every partition has the same end offset on every client's topic.
  const reference = await endOffsets(admin, topicOf('kafkajs', 0));
  const partitionsDiffer: ClientId[] = [];
  for (const client of clients) {
    const offsets = await endOffsets(admin, topicOf(client, 0));
    if (![...reference].every(([p, o]) => offsets.get(p) === o)) partitionsDiffer.push(client);
  }
  const samePartitions = partitionsDiffer.length === 0;
  const per100k = (r: ChildResult) => (r.cpuSeconds * 100_000) / r.records;
  const summary = (client: ClientId) => {
    const runs = results.filter((r) => r.client === client);
    const cpu = runs.map((r) => round3(per100k(r)));
    const rate = runs.map((r) => Math.round(r.records / r.seconds));
    const main = runs.map((r) => round3((r.mainThreadCpuSeconds * 100_000) / r.records));
    return {
      client,
      name: CLIENTS[client].name,
      cpuSecondsPer100k: cpu,
      mainThreadCpuSecondsPer100k: main,
      recordsPerSecond: rate,
    };
  };
  const kj = summary('kafkajs');
  const bestCpu = (xs: number[]) => Math.min(...xs);
  const bestRate = (xs: number[]) => Math.max(...xs);
  const figures = clients.map((client) => {
    const s = summary(client);
    return {
      ...s,
      bestCpuSecondsPer100k: bestCpu(s.cpuSecondsPer100k),
      bestRecordsPerSecond: bestRate(s.recordsPerSecond),
      cpuRatioToKafkajs: round3(bestCpu(s.cpuSecondsPer100k) / bestCpu(kj.cpuSecondsPer100k)),
      rateRatioToKafkajs: round3(bestRate(s.recordsPerSecond) / bestRate(kj.recordsPerSecond)),
    };
  });
  const pl = clients.includes('platformatic') ? summary('platformatic') : undefined;
  if (values.json) {
    process.stdout.write(
      `${JSON.stringify({
        bench: 'kafka-produce',
        records: RECORDS,
        valueBytes: VALUE_BYTES,
        txRecords: TX_RECORDS,
        partitions: PARTITIONS,
        clients: figures,
        skipped,
        // The figures of the first two clients under the names `run.ts` reads.
        kafkajs: kj,
        ...(pl && {
          platformatic: pl,
          best: {
            kafkajsRecordsPerSecond: bestRate(kj.recordsPerSecond),
            platformaticRecordsPerSecond: bestRate(pl.recordsPerSecond),
            kafkajsCpuSecondsPer100k: bestCpu(kj.cpuSecondsPer100k),
            platformaticCpuSecondsPer100k: bestCpu(pl.cpuSecondsPer100k),
          },
          cpuRatioPlatformaticToKafkajs: round3(
            bestCpu(pl.cpuSecondsPer100k) / bestCpu(kj.cpuSecondsPer100k),
          ),
        }),
        samePartitions,
        partitionsDiffer,
      })}\n`,
    );
  } else {
    const width = Math.max(...figures.map((f) => f.name.length)) + 1;
    process.stdout.write(
      [
        `kafka produce, transactional (${RECORDS.toLocaleString('en')} records of ${VALUE_BYTES} bytes, ${TX_RECORDS} per transaction, ${PARTITIONS} partitions; node ${process.version})`,
        ...figures.map(
          (f) =>
            `  ${`${f.name}:`.padEnd(width)} CPU ${f.cpuSecondsPer100k.join(' / ')} s per 100k (main thread ${f.mainThreadCpuSecondsPer100k.join(' / ')}), ${f.recordsPerSecond.map((x) => x.toLocaleString('en')).join(' / ')} records/s; best vs kafkajs: CPU ${f.cpuRatioToKafkajs}, rate ${f.rateRatioToKafkajs}`,
        ),
        ...(skipped.length > 0 ? [`  ${skippedLine()}`] : []),
        `  same partitions for the same keys: ${samePartitions ? 'yes' : `no (${partitionsDiffer.join(', ')})`}`,
        '',
      ].join('\n'),
    );
  }
} finally {
  await deleteTopicsIfExist(admin, made).catch(() => undefined);
  await admin.disconnect();
}

function passThrough(): string[] {
  const dir = rdkafkaDir(values['rdkafka-dir']);
  return [
    '--records',
    String(RECORDS),
    '--value-bytes',
    String(VALUE_BYTES),
    '--tx-records',
    String(TX_RECORDS),
    ...(dir === undefined ? [] : ['--rdkafka-dir', dir]),
  ];
}

function round3(x: number): number {
  return Number(x.toFixed(3));
}
