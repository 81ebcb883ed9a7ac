/**
 * Scenario test harness: the two MongoDB-compatible servers of the local stack, unique names
 * per test, the capture in-process (or as a child process for kill -9), a read_committed
 * consumer that decodes the Avro records (wrapped unions), and a cleanup that drops the test's
 * databases and topics.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { openSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { AvroSerde, RegistryClient } from '@cdc/avro';
import { OffsetsStore } from '@cdc/capture';
import { createJsonLogger, type Logger, noopLogger, systemClock } from '@cdc/core';
import { createKafka, deleteTopicsIfExist, type Kafka, KafkaConfigSchema } from '@cdc/kafka';
import { type MongoSource, MongoSourceSchema } from '@cdc/pipeline';
import { MongoClient } from 'mongodb';
import { localEndpoints } from '../../../../infra/local/src/endpoints.ts';
import { MongoCapture } from '../../src/capture.ts';
import { captureId, type StoredMongoPosition } from '../../src/position.ts';

export const endpoints = localEndpoints();
export const serviceDir = resolve(import.meta.dirname, '../..');

export interface ServerCase {
  name: 'SecantusDB' | 'mongo-java-server';
  url: string;
  /** Update events carry `documentKey: { _id }` and `updateDescription`. */
  updateDescription: boolean;
  /** `replaceOne` yields a `replace` event (else an `update`). */
  replaceEvents: boolean;
  /** Dropping a watched collection ends its stream with `invalidate`. */
  invalidateOnDrop: boolean;
  /** Database and deployment streams work (else the capture watches each collection). */
  widerScopes: boolean;
  preImages: boolean;
}

export const SERVERS: ServerCase[] = [
  {
    name: 'SecantusDB',
    url: endpoints.mongo.url,
    updateDescription: true,
    replaceEvents: true,
    invalidateOnDrop: true,
    widerScopes: true,
    preImages: true,
  },
  {
    name: 'mongo-java-server',
    url: endpoints.mongoJava.url,
    updateDescription: false,
    replaceEvents: false,
    invalidateOnDrop: false,
    widerScopes: false,
    preImages: false,
  },
];

export function uniqueName(prefix: string): string {
  return `${prefix}_${Date.now().toString(36)}_${Math.random().toString(36).slice(2, 6)}`;
}

export function mongoClient(url: string): MongoClient {
  return new MongoClient(url, { promoteValues: false, bsonRegExp: true, serverSelectionTimeoutMS: 5_000 });
}

export function kafkaClient(logger: Logger = noopLogger): Kafka {
  return createKafka(
    KafkaConfigSchema.parse({ brokers: endpoints.kafka.brokers, clientId: 'scenario' }),
    logger,
  );
}

export function testLogger(): Logger {
  return process.env.CDC_TEST_LOG ? createJsonLogger({ level: 'debug' }) : noopLogger;
}

export interface LogLine {
  level: string;
  msg: string;
  [field: string]: unknown;
}

/** A logger that keeps its lines (and prints them with CDC_TEST_LOG set). */
export function recordingLogger(): { logger: Logger; lines: LogLine[] } {
  const lines: LogLine[] = [];
  const logger = createJsonLogger({
    level: 'info',
    write: (line) => {
      lines.push(JSON.parse(line) as LogLine);
      if (process.env.CDC_TEST_LOG) process.stderr.write(line);
    },
  });
  return { logger, lines };
}

export function newSerde(): AvroSerde {
  return new AvroSerde({ registry: new RegistryClient({ url: endpoints.registry.url }), wrapUnions: true });
}

export interface Scenario {
  name: string;
  db: string;
  prefix: string;
  offsetsTopic: string;
  server: ServerCase;
  source(overrides?: Record<string, unknown>): MongoSource;
  topicOf(collection: string): string;
  deadLetterTopic: string;
}

export function scenario(label: string, server: ServerCase): Scenario {
  const name = uniqueName(label);
  return {
    name,
    db: `${name}_db`,
    prefix: name,
    offsetsTopic: `${name}.offsets`,
    server,
    deadLetterTopic: `${name}.dead-letter`,
    source: (overrides = {}) =>
      MongoSourceSchema.parse({
        name,
        uri: server.url,
        include: [`${name}_db`],
        offsetsTopic: `${name}.offsets`,
        heartbeatIntervalMs: 1000,
        topicPartitions: 2,
        ...overrides,
      }),
    topicOf: (collection) => `${name}.${name}_db.${collection}`,
  };
}

/** The capture in this process; `stop()` aborts it and waits for it to finish. */
export function runCapture(source: MongoSource, logger: Logger = testLogger(), kafka = kafkaClient(logger)) {
  const admin = kafka.admin();
  const stop = new AbortController();
  const capture = new MongoCapture({ source, kafka, admin, serde: newSerde(), logger, clock: systemClock });
  const running = admin.connect().then(() => capture.run(stop.signal));
  return {
    capture,
    running,
    async stop() {
      stop.abort();
      await running.catch(() => undefined);
      await admin.disconnect();
    },
  };
}

/** Waits until the in-process capture streams. */
export async function waitStreaming(capture: MongoCapture, ms = 60_000): Promise<void> {
  await waitFor('capture streaming', ms, () => capture.stats !== undefined);
}

/** The capture as a child process (built dist), for kill -9. */
export function spawnCapture(source: MongoSource, logFile: string): ChildProcess {
  const file = join(tmpdir(), `${source.name}.pipeline.json`);
  writeFileSync(
    file,
    JSON.stringify({
      kafka: { brokers: endpoints.kafka.brokers },
      registry: { url: endpoints.registry.url },
      sources: { mongo: [source] },
    }),
  );
  const out = openSync(logFile, 'a');
  return spawn(process.execPath, [join(serviceDir, 'dist/main.js'), '--config', file], {
    stdio: ['ignore', out, out],
  });
}

export interface Envelope {
  before: Record<string, unknown> | null;
  after: Record<string, unknown> | null;
  source: Record<string, unknown>;
  op: string;
  changeId: string;
  updateDescription: Record<string, unknown> | null;
}

export interface Consumed {
  topic: string;
  partition: number;
  offset: string;
  key: { id: string } | null;
  /** Decoded value (null for dead letters, which are JSON). */
  value: Envelope | null;
  raw: Buffer | null;
  headers: Record<string, string>;
}

/** Unwraps a wrapped union value (`{ "ns.Value": {…} }` → `{…}`). */
export function unwrap<T>(v: unknown): T | null {
  if (v === null || v === undefined) return null;
  const entries = Object.entries(v as Record<string, unknown>);
  return (entries.length === 1 ? entries[0]![1] : v) as T;
}

/**
 * Reads `topics` from the beginning with read_committed until `expected` records arrived (then
 * `settleMs` more, to catch extras) or `timeoutMs` passed. Avro values are decoded; records of
 * topics ending in `.dead-letter` are kept raw.
 */
export async function consume(
  topics: string[],
  options: {
    expected: number;
    timeoutMs?: number;
    settleMs?: number;
    /** Also wait until this holds for what arrived. */
    until?: (records: readonly Consumed[]) => boolean;
  },
): Promise<Consumed[]> {
  const kafka = kafkaClient();
  const serde = newSerde();
  const consumer = kafka.consumer({
    groupId: uniqueName('scenario-reader'),
    readUncommitted: false,
    maxWaitTimeInMs: 200,
    maxBytesPerPartition: 64 * 1024 * 1024,
  });
  const out: Consumed[] = [];
  const admin = kafka.admin();
  await admin.connect();
  try {
    await waitFor(`topics ${topics.join(', ')} exist`, options.timeoutMs ?? 60_000, async () => {
      const have = new Set(await admin.listTopics());
      return topics.every((t) => have.has(t));
    });
  } finally {
    await admin.disconnect();
  }
  await consumer.connect();
  try {
    for (const topic of topics) await consumer.subscribe({ topic, fromBeginning: true });
    let reachedAt = 0;
    await consumer.run({
      autoCommit: false,
      eachBatch: async ({ batch }) => {
        for (const m of batch.messages) {
          const dead = batch.topic.endsWith('.dead-letter');
          const headers = Object.fromEntries(
            Object.entries(m.headers ?? {}).map(([k, v]) => [
              k,
              String(Buffer.isBuffer(v) ? v.toString() : v),
            ]),
          );
          out.push({
            topic: batch.topic,
            partition: batch.partition,
            offset: m.offset,
            key: dead || !m.key ? null : ((await serde.deserialize(m.key)) as { id: string }),
            value:
              dead || !m.value
                ? null
                : normalise((await serde.deserialize(m.value)) as Record<string, unknown>),
            raw: m.value,
            headers,
          });
        }
      },
    });
    const deadline = Date.now() + (options.timeoutMs ?? 60_000);
    while (Date.now() < deadline) {
      if (out.length >= options.expected && (options.until?.(out) ?? true)) {
        if (reachedAt === 0) reachedAt = Date.now();
        if (Date.now() - reachedAt >= (options.settleMs ?? 1500)) break;
      }
      await new Promise((r) => setTimeout(r, 100));
    }
  } finally {
    await consumer.disconnect();
  }
  return out;
}

function normalise(v: Record<string, unknown>): Envelope {
  return {
    before: unwrap(v.before),
    after: unwrap(v.after),
    source: v.source as Record<string, unknown>,
    op: v.op as string,
    changeId: v.changeId as string,
    updateDescription: unwrap(v.updateDescription),
  };
}

export async function waitFor(
  what: string,
  ms: number,
  check: () => Promise<boolean> | boolean,
): Promise<void> {
  const deadline = Date.now() + ms;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`${what}: still not true after ${ms} ms`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

/**
 * The position committed in the scenario's offsets topic (read_committed, on a direct
 * connection). The read fails after `timeoutMs` when a transaction is left open in front of
 * the end of the topic.
 */
export async function storedPosition(
  s: Scenario,
  timeoutMs = 10_000,
): Promise<StoredMongoPosition | undefined> {
  const kafka = kafkaClient();
  const admin = kafka.admin();
  await admin.connect();
  try {
    const offsets = new OffsetsStore({
      kafka,
      admin,
      topic: s.offsetsTopic,
      logger: noopLogger,
      readTimeoutMs: timeoutMs,
    });
    return await offsets.read<StoredMongoPosition>(captureId(s.name));
  } finally {
    await admin.disconnect();
  }
}

/** Drops the scenario's database and deletes its topics. */
export async function cleanup(s: Scenario, collections: string[], topics: string[] = []): Promise<void> {
  const client = mongoClient(s.server.url);
  try {
    await client.connect();
    await client.db(s.db).dropDatabase();
  } catch {
    // best effort
  } finally {
    await client.close();
  }
  const admin = kafkaClient().admin();
  await admin.connect();
  try {
    await deleteTopicsIfExist(admin, [
      s.offsetsTopic,
      s.deadLetterTopic,
      ...collections.map((c) => s.topicOf(c)),
      ...topics,
    ]);
  } finally {
    await admin.disconnect();
  }
}
