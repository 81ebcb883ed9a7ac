/**
 * What Kafka says about a pipeline's progress: the position each capture committed (its
 * offsets topic, read_committed) and how far the sink's consumer group is behind the topics.
 */
import type { Admin, Kafka } from '@cdc/kafka';

export interface PartitionLag {
  topic: string;
  partition: number;
  /** The group's committed offset (-1: none yet). */
  committed: bigint;
  end: bigint;
  /** Offsets not yet consumed; transactional topics end with a commit marker, so a partition that is fully consumed shows 1. */
  lag: bigint;
}

export async function groupLag(
  admin: Admin,
  groupId: string,
  topics: readonly string[],
): Promise<PartitionLag[]> {
  if (topics.length === 0) return [];
  const committed = await admin.fetchOffsets({ groupId, topics: [...topics] });
  const out: PartitionLag[] = [];
  for (const t of topics) {
    let ends: Awaited<ReturnType<Admin['fetchTopicOffsets']>>;
    try {
      ends = await admin.fetchTopicOffsets(t);
    } catch (err) {
      // Deleted since it was listed: nothing left to consume.
      if ((err as { type?: string }).type === 'UNKNOWN_TOPIC_OR_PARTITION') continue;
      throw err;
    }
    const mine = committed.find((c) => c.topic === t);
    for (const e of ends) {
      const c = BigInt(mine?.partitions.find((p) => p.partition === e.partition)?.offset ?? '-1');
      const end = BigInt(e.high);
      const start = BigInt(e.low);
      const from = c < 0n ? start : c;
      out.push({ topic: t, partition: e.partition, committed: c, end, lag: end > from ? end - from : 0n });
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

/** Every position stored in an offsets topic (`key → position`), read_committed, from the beginning. */
export async function readPositions(
  kafka: Kafka,
  admin: Admin,
  topic: string,
  timeoutMs = 20_000,
): Promise<Map<string, unknown>> {
  const found = new Map<string, unknown>();
  const existing = await admin.listTopics();
  if (!existing.includes(topic)) return found;
  const ends = await admin.fetchTopicOffsets(topic);
  const end = BigInt(ends.find((o) => o.partition === 0)?.high ?? '0');
  if (end === 0n) return found;
  const consumer = kafka.consumer({
    groupId: `cdc-cli-positions-${process.pid}-${Date.now()}`,
    readUncommitted: false,
    maxWaitTimeInMs: 200,
  });
  try {
    await consumer.connect();
    await consumer.subscribe({ topic, fromBeginning: true });
    await new Promise<void>((done, fail) => {
      const timer = setTimeout(() => done(), timeoutMs);
      consumer
        .run({
          autoCommit: false,
          eachBatch: async ({ batch }) => {
            for (const m of batch.messages) {
              if (!m.key || m.value === null) continue;
              try {
                found.set(
                  m.key.toString(),
                  (JSON.parse(m.value.toString()) as { position: unknown }).position,
                );
              } catch {
                /* not ours */
              }
            }
            if (BigInt(batch.lastOffset()) + 1n >= end) {
              clearTimeout(timer);
              done();
            }
          },
        })
        .catch(fail);
    });
  } finally {
    await consumer.disconnect().catch(() => undefined);
  }
  return found;
}
