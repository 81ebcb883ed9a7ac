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
import type { Admin, Consumer, Kafka, KafkaMessage } from 'kafkajs';
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
  const targets = new Map<string, bigint>();
  try {
    for (const o of await admin.fetchTopicOffsets(topic)) {
      ends.set(o.partition, BigInt(o.high));
      if (BigInt(o.high) > BigInt(o.low)) targets.set(`${topic}:${o.partition}`, BigInt(o.high));
    }
  } catch (err) {
    throw toCdcError(err, `reading the end of ${label}`);
  }
  if (targets.size === 0) return ends;
  const groupId = `cdc-reader-${label.replace(/[^A-Za-z0-9_-]/g, '_')}-${process.pid}-${clock.now()}`;
  const consumer = kafka.consumer({ groupId, readUncommitted: false, maxWaitTimeInMs: 200 });
  let timer: NodeJS.Timeout | undefined;
  try {
    await consumer.connect();
    await consumer.subscribe({ topic, fromBeginning: true });
    await new Promise<void>((resolve, reject) => {
      onConsumerGaveUp(consumer, `reading ${label}`, reject);
      const tracker = trackReadToEnd(consumer, targets, resolve);
      timer = setTimeout(
        () =>
          reject(
            new CdcError(
              'KAFKA_UNAVAILABLE',
              `reading ${label} took longer than ${timeoutMs} ms (read/end: ${tracker.behind().join(', ')}); is an old transaction still open?`,
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

/** What `trackReadToEnd` knows: the partitions not read to their end yet, and the last progress. */
export interface ReadToEndTracker {
  /** `topic:partition next/end` for every partition short of its end. */
  behind(): string[];
  /** When the consumer last moved any partition forward (ms since epoch, on the system clock). */
  lastProgressAt(): number;
}

/**
 * Calls `reached` once the read_committed `consumer` has read every `topic:partition` of `ends`
 * up to its end offset (a last stable offset from ListOffsets). Positions count commit markers
 * and aborted records: kafkajs hands neither to `eachBatch`, but reports every fetched batch's
 * last offset in its END_BATCH_PROCESS event, a batch holding only a topic's last commit marker
 * included. Counting only the records handed to `eachBatch` never reaches an end that a marker
 * closes, which is most ends of a transactional topic.
 */
export function trackReadToEnd(
  consumer: Consumer,
  ends: ReadonlyMap<string, bigint>,
  reached: () => void,
): ReadToEndTracker {
  const next = new Map<string, bigint>();
  const pending = new Set([...ends.keys()]);
  let progressAt = Date.now();
  if (pending.size === 0) queueMicrotask(reached);
  consumer.on(consumer.events.END_BATCH_PROCESS, (e) => {
    const key = `${e.payload.topic}:${e.payload.partition}`;
    const at = BigInt(e.payload.lastOffset) + 1n;
    if (at <= (next.get(key) ?? 0n)) return;
    next.set(key, at);
    progressAt = Date.now();
    if (!pending.has(key) || at < (ends.get(key) as bigint)) return;
    pending.delete(key);
    if (pending.size === 0) reached();
  });
  return {
    behind: () => [...pending].map((k) => `${k} ${next.get(k) ?? 0n}/${ends.get(k)}`),
    lastProgressAt: () => progressAt,
  };
}
