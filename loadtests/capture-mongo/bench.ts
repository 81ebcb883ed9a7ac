/**
 * capture-mongo throughput: change events per second into Kafka (Avro, one transaction per
 * group of changes with the resume token) against the rate at which the same server delivers
 * the raw change stream to a bare `watch()` loop, in the same run, over the same backlog.
 *
 *   npx tsc -b services/capture-mongo
 *   node_modules/.bin/node loadtests/capture-mongo/bench.ts [--docs 20000] [--server mongo|mongo-java] [--json]
 *
 * Steps: a first capture run stores its start point and stops; `--docs` documents (10 fields,
 * nested) are inserted; the bare loop reads the backlog from a token taken before the inserts;
 * then the capture starts again and writes the same backlog to Kafka. Both rates are over the
 * backlog only (the capture's startup is excluded: timed from its first change to its last).
 * Peak RSS is sampled every 50 ms over the capture phase (the capture runs in this process).
 */
import { parseArgs } from 'node:util';
import { AvroSerde, RegistryClient } from '@cdc/avro';
import { MongoCapture } from '@cdc/capture-mongo';
import { noopLogger, systemClock } from '@cdc/core';
import { createKafka, deleteTopicsIfExist, KafkaConfigSchema } from '@cdc/kafka';
import { localEndpoints } from '@cdc/local-stack';
import { MongoSourceSchema } from '@cdc/pipeline';
import { Int32, MongoClient } from 'mongodb';

const { values } = parseArgs({
  options: {
    docs: { type: 'string', default: '20000' },
    server: { type: 'string', default: 'mongo' },
    json: { type: 'boolean', default: false },
  },
});
const DOCS = Number(values.docs);
const endpoints = localEndpoints();
const url = values.server === 'mongo-java' ? endpoints.mongoJava.url : endpoints.mongo.url;
const name = `bench_${Date.now().toString(36)}`;
const db = `${name}_db`;
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

const client = new MongoClient(url, { promoteValues: false, bsonRegExp: true });
await client.connect();
const coll = client.db(db).collection<{ _id: number; [k: string]: unknown }>('events');
await coll.insertOne({ _id: -1, seed: true });

const kafka = createKafka(
  KafkaConfigSchema.parse({ brokers: endpoints.kafka.brokers, clientId: 'bench' }),
  noopLogger,
);
const admin = kafka.admin();
await admin.connect();
const source = MongoSourceSchema.parse({
  name,
  uri: url,
  include: [db],
  snapshot: 'never',
  offsetsTopic: `${name}.offsets`,
  topicPartitions: 3,
});
const newCapture = () =>
  new MongoCapture({
    source,
    kafka,
    admin,
    serde: new AvroSerde({ registry: new RegistryClient({ url: endpoints.registry.url }), wrapUnions: true }),
    logger: noopLogger,
    clock: systemClock,
  });

// 1. Store the start point, then stop.
let stop = new AbortController();
let capture = newCapture();
let running = capture.run(stop.signal);
while (!capture.stats) await sleep(50);
stop.abort();
await running;

// 2. The backlog, with a token from before it for the bare loop.
const bare = coll.watch([], { fullDocument: 'updateLookup', batchSize: 1000 });
await bare.tryNext();
const token = bare.resumeToken;
await bare.close();
if (!token) {
  // mongo-java-server gives no token before the first event: the bare loop has no start point.
  console.error(
    `${values.server} gives no resume token before the first event; run the benchmark on SecantusDB (--server mongo)`,
  );
  process.exit(2);
}
for (let i = 0; i < DOCS; i += 1000) {
  await coll.insertMany(
    Array.from({ length: Math.min(1000, DOCS - i) }, (_, j) => ({
      _id: i + j,
      n: new Int32(i + j),
      name: `customer ${i + j}`,
      price: (i + j) * 1.25,
      at: new Date(),
      tags: ['a', 'b'],
      address: { city: 'Paris', zip: '75001', lines: ['1 rue X'] },
      items: [
        { sku: 'p1', qty: new Int32(1) },
        { sku: 'p2', qty: new Int32(2) },
      ],
      active: true,
      note: 'x'.repeat(100),
    })),
  );
}

// 3. Bare watch() loop over the backlog.
const reader = coll.watch([], { fullDocument: 'updateLookup', batchSize: 1000, startAfter: token });
let seen = 0;
let bareStart = 0;
let bareCpu0 = process.cpuUsage();
while (seen < DOCS) {
  const e = await reader.tryNext();
  if (!e) {
    await sleep(5);
    continue;
  }
  if (seen === 0) {
    bareStart = performance.now();
    bareCpu0 = process.cpuUsage();
  }
  seen++;
}
const bareSeconds = (performance.now() - bareStart) / 1000;
const bareCpu = process.cpuUsage(bareCpu0);
await reader.close();

// 4. The capture over the same backlog.
let peakRss = process.memoryUsage().rss;
const sampler = setInterval(() => {
  peakRss = Math.max(peakRss, process.memoryUsage().rss);
}, 50);
stop = new AbortController();
capture = newCapture();
running = capture.run(stop.signal);
let captureStart = 0;
let captureCpu0 = process.cpuUsage();
for (;;) {
  const changes = capture.stats?.changes ?? 0;
  if (changes > 0 && captureStart === 0) {
    captureStart = performance.now();
    captureCpu0 = process.cpuUsage();
  }
  if (changes >= DOCS) break;
  await sleep(5);
}
const captureSeconds = (performance.now() - captureStart) / 1000;
const captureCpu = process.cpuUsage(captureCpu0);
const per100k = (c: NodeJS.CpuUsage) => Number((((c.user + c.system) / 1e6) * (100_000 / DOCS)).toFixed(2));
stop.abort();
await running;
clearInterval(sampler);
const stats = capture.stats!;

const result = {
  server: values.server,
  docs: DOCS,
  bareEventsPerSecond: Math.round(DOCS / bareSeconds),
  captureEventsPerSecond: Math.round(DOCS / captureSeconds),
  ratio: Number((bareSeconds / captureSeconds).toFixed(2)),
  // this process's CPU (the MongoDB client and, for the capture, the Kafka producer in it), per 100k events
  bareCpuSecondsPer100k: per100k(bareCpu),
  captureCpuSecondsPer100k: per100k(captureCpu),
  kafkaTransactions: stats.transactions,
  peakRssMb: Math.round(peakRss / 1024 / 1024),
};
if (values.json) console.log(JSON.stringify(result));
else console.table(result);

await client.db(db).dropDatabase();
await client.close();
await deleteTopicsIfExist(admin, [`${name}.offsets`, `${name}.dead-letter`, `${name}.${db}.events`]);
await admin.disconnect();
process.exit(0);
