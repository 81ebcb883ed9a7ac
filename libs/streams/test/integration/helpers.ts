import { randomUUID } from 'node:crypto';
import { rm } from 'node:fs/promises';
import { createJsonLogger, type Logger, noopLogger } from '@cdc/core';
import {
  createIdempotentProducer,
  createKafka,
  deleteTopicsIfExist,
  ensureTopics,
  type Kafka,
  KafkaConfigSchema,
} from '@cdc/kafka';
import { localEndpoints } from '../../../../infra/local/src/endpoints.ts';

export function localKafka(clientId: string): Kafka {
  return createKafka(
    KafkaConfigSchema.parse({ brokers: localEndpoints().kafka.brokers, clientId }),
    noopLogger,
  );
}

export function runId(): string {
  return randomUUID().slice(0, 8);
}

export interface InputRecord {
  key: string;
  value: string;
  timestamp: number;
}

/** Writes records (keyed, so the default partitioner spreads them) and waits for the acks. */
export async function produce(kafka: Kafka, topic: string, records: readonly InputRecord[]): Promise<void> {
  const producer = createIdempotentProducer(kafka);
  await producer.connect();
  try {
    for (let i = 0; i < records.length; i += 500) {
      await producer.send({
        topic,
        messages: records
          .slice(i, i + 500)
          .map((r) => ({ key: r.key, value: r.value, timestamp: String(r.timestamp) })),
      });
    }
  } finally {
    await producer.disconnect();
  }
}

export interface OutputRecord {
  key: string;
  /** The key as written (binary keys: a store's changelog). */
  keyBytes: Buffer | null;
  value: Buffer | null;
  partition: number;
  offset: string;
}

/** Reads a topic read_committed from the beginning until `until` holds or `timeoutMs` passes. */
export async function readTopic(
  kafka: Kafka,
  topic: string,
  until: (records: OutputRecord[]) => boolean,
  timeoutMs = 60_000,
): Promise<OutputRecord[]> {
  const consumer = kafka.consumer({
    groupId: `reader-${randomUUID()}`,
    readUncommitted: false,
    maxWaitTimeInMs: 200,
  });
  const out: OutputRecord[] = [];
  await consumer.connect();
  try {
    await consumer.subscribe({ topic, fromBeginning: true });
    await consumer.run({
      eachMessage: async ({ message, partition }) => {
        out.push({
          key: message.key?.toString() ?? '',
          keyBytes: message.key,
          value: message.value,
          partition,
          offset: message.offset,
        });
      },
    });
    const deadline = Date.now() + timeoutMs;
    while (!until(out) && Date.now() < deadline) await new Promise((r) => setTimeout(r, 100));
    return out;
  } finally {
    await consumer.disconnect();
  }
}

export async function waitFor(condition: () => boolean, timeoutMs: number, what: string): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!condition()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

/** Quiet unless STREAMS_IT_LOG=1 (then JSON lines on stderr). */
export function testLogger(): Logger {
  return process.env.STREAMS_IT_LOG === '1' ? createJsonLogger({ level: 'debug' }) : noopLogger;
}

/** Creates a test's topics (those that exist are left as they are). */
export async function createTopics(
  kafka: Kafka,
  topics: readonly { topic: string; numPartitions: number }[],
): Promise<void> {
  const admin = kafka.admin();
  await admin.connect();
  try {
    await ensureTopics(admin, [...topics]);
  } finally {
    await admin.disconnect();
  }
}

/** Deletes a test's topics and consumer groups, and its state folders. */
export async function removeScenario(
  kafka: Kafka,
  { topics, groups, dirs = [] }: { topics: string[]; groups: string[]; dirs?: string[] },
): Promise<void> {
  const admin = kafka.admin();
  await admin.connect();
  await deleteTopicsIfExist(admin, topics);
  await admin.deleteGroups(groups).catch(() => {});
  await admin.disconnect();
  for (const dir of dirs) if (dir) await rm(dir, { recursive: true, force: true });
}
