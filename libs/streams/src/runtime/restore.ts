import { randomUUID } from 'node:crypto';
import { CdcError, type Logger } from '@cdc/core';
import { type Kafka, onConsumerGaveUp } from '@cdc/kafka';
import type { BatchBytesStore } from '../internals/stores/caching-bytes-store.ts';

export interface RestoreTarget {
  topic: string;
  partition: number;
  /** First offset to apply. */
  from: number;
  /** The end offset (high watermark) to restore up to, read after fencing the previous owner. */
  to: number;
  /** Written one LevelDB batch per fetched batch: a put per record cost a write (and its promise) each. */
  store: BatchBytesStore;
}

/**
 * Replays changelog partitions into stores, read_committed (records of aborted transactions
 * never reach a store). Done when every target reaches its end offset, or when fetches stop
 * returning data below it (what remains are transaction markers or aborted records). Fails
 * (retriable) only when the restore stops moving for `stallMs`: a large store takes as long as
 * its changelog takes to read, and a limit on the whole restore would fail it at every attempt.
 */
export async function restoreChangelogs(
  kafka: Kafka,
  targets: readonly RestoreTarget[],
  options: {
    logger: Logger;
    stallMs?: number;
    onProgress?: () => Promise<void>;
    /** Offsets of `target` read since the last call (a finished target counts whole). */
    onRead?: (target: RestoreTarget, offsets: number) => void;
  },
): Promise<number> {
  const pending = targets.filter((t) => t.to > t.from);
  if (pending.length === 0) return 0;
  const byKey = new Map(pending.map((t) => [`${t.topic}:${t.partition}`, { ...t, position: t.from }]));
  const consumer = kafka.consumer({
    groupId: `cdc-restore-${randomUUID()}`,
    readUncommitted: false,
    allowAutoTopicCreation: false,
    maxWaitTimeInMs: 200,
  });
  let applied = 0;
  let idleFetches = 0;
  let movedAt = Date.now();
  let joined = false;
  let gaveUp: Error | undefined;
  onConsumerGaveUp(consumer, 'restoring state stores from their changelogs', (err) => {
    gaveUp = err;
  });
  const finished = () => [...byKey.values()].every((t) => t.position >= t.to);
  try {
    await consumer.connect();
    await consumer.subscribe({ topics: [...new Set(pending.map((t) => t.topic))], fromBeginning: true });
    consumer.on(consumer.events.GROUP_JOIN, (e) => {
      joined = true;
      movedAt = Date.now();
      const pause: { topic: string; partitions: number[] }[] = [];
      for (const [topic, partitions] of Object.entries(e.payload.memberAssignment)) {
        const others = partitions.filter((p) => !byKey.has(`${topic}:${p}`));
        if (others.length > 0) pause.push({ topic, partitions: others });
      }
      if (pause.length > 0) consumer.pause(pause);
    });
    consumer.on(consumer.events.FETCH, () => {
      if (joined) idleFetches += 1;
    });
    await consumer.run({
      autoCommit: false,
      eachBatch: async ({ batch }) => {
        const t = byKey.get(`${batch.topic}:${batch.partition}`);
        if (!t) return;
        const entries: [Buffer, Buffer | null][] = [];
        let position = t.position;
        for (const m of batch.messages) {
          const offset = Number(m.offset);
          if (offset < t.from || offset >= t.to || m.key === null) continue;
          // In offset order: a later record of a key overrides an earlier one within the batch.
          entries.push([m.key, m.value]);
          position = offset + 1;
        }
        await t.store.write(entries);
        applied += entries.length;
        if (position > t.position) options.onRead?.(t, position - t.position);
        t.position = position;
        idleFetches = 0;
        movedAt = Date.now();
        await options.onProgress?.();
      },
    });
    for (const t of byKey.values())
      consumer.seek({ topic: t.topic, partition: t.partition, offset: String(t.from) });
    const stallMs = options.stallMs ?? 60_000;
    movedAt = Date.now();
    while (!finished() && idleFetches < 6) {
      if (gaveUp) throw gaveUp;
      if (Date.now() - movedAt > stallMs) {
        const at = [...byKey.entries()].map(([k, t]) => `${k} at ${t.position} of ${t.to}`);
        throw new CdcError(
          'STATE_STORE_FAILED',
          `restoring the state stores stopped moving for ${stallMs} ms (${at.join(', ')}); check that Kafka is reachable`,
          {
            retriable: true,
            context: { targets: [...byKey.keys()] },
          },
        );
      }
      await new Promise((r) => setTimeout(r, 50));
      await options.onProgress?.();
    }
    // What remains below the end holds no record (transaction markers, aborted records).
    for (const t of byKey.values()) if (t.position < t.to) options.onRead?.(t, t.to - t.position);
    options.logger.info('stores restored from changelog', { records: applied, targets: [...byKey.keys()] });
    return applied;
  } finally {
    await consumer.disconnect();
  }
}
