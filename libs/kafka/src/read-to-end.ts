/**
 * Reads a topic from its beginning to the end it has now, with read_committed (an aborted or
 * open transaction's records never count), in a one-off consumer group that is deleted after:
 * how a capture reads back state it keeps on a compacted topic (its stored position, its paused
 * tables).
 *
 *   await readTopicToEnd(kafka, 'cdc.offsets', (messages) => { for (const m of messages) … },
 *     { admin, label: 'offsets topic cdc.offsets' });
 *
 * Fails (retriable `KAFKA_UNAVAILABLE`) when the end is not reached within `timeoutMs`: an old
 * transaction still open holds the last stable offset back until the broker aborts it.
 */
import { CdcError, type Clock, systemClock } from '@cdc/core';
import type { Admin, Kafka, KafkaMessage } from 'kafkajs';
import { onConsumerGaveUp } from './consumer-crash.ts';
import { toCdcError } from './errors.ts';

export interface ReadToEndOptions {
  /** Finds the topic's end and deletes the one-off group after. */
  admin: Admin;
  /** What is read, for errors and the group's name: `offsets topic cdc.offsets`. */
  label: string;
  /** How long reading may take before it fails (retriable), default 60 s. */
  timeoutMs?: number | undefined;
  /** Names the one-off group (default: the system clock). */
  clock?: Clock | undefined;
}

/**
 * Hands every record up to the topic's current end to `onBatch`, in order per partition;
 * resolves with the end offsets (per partition) it read to.
 */
export async function readTopicToEnd(
  kafka: Kafka,
  topic: string,
  onBatch: (messages: readonly KafkaMessage[], partition: number) => void,
  options: ReadToEndOptions,
): Promise<Map<number, bigint>> {
  const { admin, label } = options;
  const timeoutMs = options.timeoutMs ?? 60_000;
  const clock = options.clock ?? systemClock;
  const ends = new Map<number, bigint>();
  const pending = new Set<number>();
  try {
    for (const o of await admin.fetchTopicOffsets(topic)) {
      const high = BigInt(o.high);
      ends.set(o.partition, high);
      if (high > BigInt(o.low)) pending.add(o.partition);
    }
  } catch (err) {
    throw toCdcError(err, `reading the end of ${label}`);
  }
  if (pending.size === 0) return ends;
  const groupId = `cdc-reader-${label.replace(/[^A-Za-z0-9_-]/g, '_')}-${process.pid}-${clock.now()}`;
  const consumer = kafka.consumer({ groupId, readUncommitted: false, maxWaitTimeInMs: 200 });
  let timer: NodeJS.Timeout | undefined;
  try {
    await consumer.connect();
    await consumer.subscribe({ topic, fromBeginning: true });
    await new Promise<void>((resolve, reject) => {
      onConsumerGaveUp(consumer, `reading ${label}`, reject);
      timer = setTimeout(
        () =>
          reject(
            new CdcError(
              'KAFKA_UNAVAILABLE',
              `reading ${label} took longer than ${timeoutMs} ms (end offsets ${[...ends].map(([p, e]) => `${p}:${e}`).join(', ')}); is an old transaction still open?`,
              { retriable: true, context: { topic } },
            ),
          ),
        timeoutMs,
      );
      consumer
        .run({
          autoCommit: false,
          eachBatch: async ({ batch }) => {
            onBatch(batch.messages, batch.partition);
            const end = ends.get(batch.partition) ?? 0n;
            if (BigInt(batch.lastOffset()) + 1n >= end) pending.delete(batch.partition);
            if (pending.size === 0) resolve();
          },
        })
        .catch(reject);
    });
  } catch (err) {
    throw toCdcError(err, `reading ${label}`);
  } finally {
    clearTimeout(timer);
    await consumer.disconnect().catch(() => undefined);
    // A one-off reader: its group is not left behind.
    await admin.deleteGroups([groupId]).catch(() => undefined);
  }
  return ends;
}
