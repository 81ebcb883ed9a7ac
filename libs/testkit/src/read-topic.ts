/**
 * Reading a topic as a test's assertion sees it: every committed record, from the beginning to
 * the end the topic had when the read started.
 */
import { randomUUID } from 'node:crypto';
import type { Kafka } from '@cdc/kafka';

export interface ReadRecord {
  /** The key's bytes in base64: distinct keys stay distinct (Avro keys are not UTF-8 text). */
  key: string;
  value: Buffer | null;
  partition: number;
  headers: Record<string, string>;
  timestamp: number;
}

/** Reads a topic read_committed from the beginning up to its current end (bounded by `timeoutMs`). */
export async function readTopic(kafka: Kafka, topic: string, timeoutMs = 10_000): Promise<ReadRecord[]> {
  const admin = kafka.admin();
  await admin.connect();
  const ends = new Map((await admin.fetchTopicOffsets(topic)).map((o) => [o.partition, Number(o.high)]));
  await admin.disconnect();
  const out: ReadRecord[] = [];
  const next = new Map<number, number>();
  const consumer = kafka.consumer({
    groupId: `reader-${randomUUID()}`,
    readUncommitted: false,
    maxWaitTimeInMs: 100,
  });
  await consumer.connect();
  try {
    await consumer.subscribe({ topic, fromBeginning: true });
    await consumer.run({
      eachMessage: async ({ message, partition }) => {
        next.set(partition, Number(message.offset) + 1);
        const headers: Record<string, string> = {};
        for (const [k, v] of Object.entries(message.headers ?? {})) headers[k] = String(v);
        out.push({
          key: message.key?.toString('base64') ?? '',
          value: message.value,
          partition,
          headers,
          timestamp: Number(message.timestamp),
        });
      },
    });
    const deadline = Date.now() + timeoutMs;
    // transaction markers take an offset each: done once every partition reached its end (or time is up)
    const done = () => [...ends].every(([p, end]) => end === 0 || (next.get(p) ?? 0) >= end - 1);
    while (!done() && Date.now() < deadline) await new Promise((r) => setTimeout(r, 100));
    await new Promise((r) => setTimeout(r, 200));
    return out;
  } finally {
    await consumer.disconnect();
  }
}
