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
  lag: number;
}

/** The lag of `groupId` on `topics` (default: every topic the group has committed offsets for). */
export async function groupLag(
  admin: Admin,
  groupId: string,
  topics?: readonly string[],
): Promise<PartitionLag[]> {
  if (topics?.length === 0) return [];
  const committed = await admin.fetchOffsets(topics ? { groupId, topics: [...topics] } : { groupId });
  const out: PartitionLag[] = [];
  for (const topic of topics ?? committed.map((c) => c.topic)) {
    const mine = committed.find((c) => c.topic === topic);
    for (const end of await admin.fetchTopicOffsets(topic)) {
      const c = Number(mine?.partitions.find((p) => p.partition === end.partition)?.offset ?? '-1');
      const from = c < 0 ? Number(end.low) : c;
      out.push({ topic, partition: end.partition, lag: Math.max(0, Number(end.high) - from) });
    }
  }
  return out;
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
