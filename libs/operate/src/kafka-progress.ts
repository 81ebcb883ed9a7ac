/**
 * What Kafka says about a pipeline's progress: the position each capture committed (its
 * offsets topic, read_committed) and how far the sink's consumer group is behind the topics.
 */
import { type Admin, type Kafka, readTopicToEnd } from '@cdc/kafka';

export { drained, groupLag, type PartitionLag } from '@cdc/kafka';

/**
 * Every position stored in an offsets topic (`key → position`), read_committed, from the
 * beginning to its end now; none when the topic does not exist. Fails (retriable) when the end
 * is not reached within `timeoutMs`, rather than answering with what it read so far.
 */
export async function readPositions(
  kafka: Kafka,
  admin: Admin,
  topic: string,
  timeoutMs = 20_000,
): Promise<Map<string, unknown>> {
  const found = new Map<string, unknown>();
  if (!(await admin.listTopics()).includes(topic)) return found;
  await readTopicToEnd(
    kafka,
    topic,
    (messages) => {
      for (const m of messages) {
        if (!m.key || m.value === null) continue;
        try {
          found.set(m.key.toString(), (JSON.parse(m.value.toString()) as { position: unknown }).position);
        } catch {
          /* not ours */
        }
      }
    },
    { admin, label: `offsets topic ${topic}`, timeoutMs },
  );
  return found;
}
