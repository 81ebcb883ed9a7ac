/**
 * A consumer group's lag per partition (end offset minus the committed offset), polled from the
 * broker for the `cdc_consumer_lag` gauge. Transactional topics end with a commit marker, so a
 * partition the group has fully consumed shows 1.
 */
import type { Logger } from '@cdc/core';
import type { Admin } from 'kafkajs';

export interface PartitionLag {
  topic: string;
  partition: number;
  /** The group's committed offset (-1: none yet). */
  committed: bigint;
  end: bigint;
  /** Offsets not yet consumed; transactional topics end with a commit marker, so a partition that is fully consumed shows 1. */
  lag: bigint;
}

/**
 * The lag of `groupId` on `topics` (default: every topic the group has committed offsets for).
 * A topic deleted since it was listed has nothing left to consume and is left out.
 */
export async function groupLag(
  admin: Admin,
  groupId: string,
  topics?: readonly string[],
): Promise<PartitionLag[]> {
  if (topics?.length === 0) return [];
  const committed = await admin.fetchOffsets(topics ? { groupId, topics: [...topics] } : { groupId });
  const out: PartitionLag[] = [];
  for (const topic of topics ?? committed.map((c) => c.topic)) {
    let ends: Awaited<ReturnType<Admin['fetchTopicOffsets']>>;
    try {
      ends = await admin.fetchTopicOffsets(topic);
    } catch (err) {
      if ((err as { type?: string }).type === 'UNKNOWN_TOPIC_OR_PARTITION') continue;
      throw err;
    }
    const mine = committed.find((c) => c.topic === topic);
    for (const e of ends) {
      const c = BigInt(mine?.partitions.find((p) => p.partition === e.partition)?.offset ?? '-1');
      const end = BigInt(e.high);
      const from = c < 0n ? BigInt(e.low) : c;
      out.push({ topic, partition: e.partition, committed: c, end, lag: end > from ? end - from : 0n });
    }
  }
  return out;
}

/**
 * Whether a group has consumed every data record: a partition may be behind by its last
 * transaction's commit marker (one offset that holds no record), never more.
 */
export function drained(lags: readonly PartitionLag[]): boolean {
  return lags.every((l) => l.lag <= 1n);
}

/**
 * Every `intervalMs`: `report` gets the lag of `groupId` on `topics()`. Stops with the returned
 * function. A failed poll is logged at debug level and retried at the next tick.
 */
export function pollGroupLag(options: {
  admin: Admin;
  groupId: string;
  topics?: () => readonly string[];
  intervalMs: number;
  report: (lags: readonly PartitionLag[]) => void;
  logger: Logger;
}): () => void {
  let busy = false;
  const tick = async () => {
    if (busy) return;
    busy = true;
    try {
      options.report(await groupLag(options.admin, options.groupId, options.topics?.()));
    } catch (err) {
      options.logger.debug('reading the consumer lag failed', { err });
    } finally {
      busy = false;
    }
  };
  const timer = setInterval(() => void tick(), options.intervalMs);
  timer.unref();
  void tick();
  return () => clearInterval(timer);
}
