/**
 * What Kafka says about a pipeline's progress: the position each capture committed (its
 * offsets topic, read_committed) and how far the sink's consumer group is behind the topics.
 */
import type { Admin, Kafka } from '@cdc/kafka';

export { drained, groupLag, type PartitionLag } from '@cdc/kafka';

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
