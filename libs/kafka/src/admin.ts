import { CdcError } from '@cdc/core';
import kafkajs, { type Admin } from 'kafkajs';
import { toCdcError } from './errors.ts';

// kafkajs is CommonJS and Node's ESM loader does not see this export by name (vitest does).
const { ConfigResourceTypes } = kafkajs;

export interface TopicSpec {
  topic: string;
  numPartitions?: number;
  replicationFactor?: number;
  /** Topic configs, e.g. `{ 'cleanup.policy': 'compact' }`. */
  config?: Record<string, string>;
}

/**
 * Creates the topics that do not exist yet and checks those that do: a topic with fewer
 * partitions than asked for, or with a different value for a config that was asked for
 * (a non-compacted offsets topic loses positions), is an error naming the topic and the fix.
 */
export async function ensureTopics(
  admin: Admin,
  specs: readonly TopicSpec[],
): Promise<{ created: string[] }> {
  if (specs.length === 0) return { created: [] };
  let existing: Set<string>;
  try {
    existing = new Set(await admin.listTopics());
  } catch (err) {
    throw toCdcError(err, 'listing topics');
  }
  const missing = specs.filter((s) => !existing.has(s.topic));
  if (missing.length > 0) {
    try {
      await admin.createTopics({
        waitForLeaders: true,
        topics: missing.map((s) => ({
          topic: s.topic,
          numPartitions: s.numPartitions ?? 1,
          replicationFactor: s.replicationFactor ?? -1,
          configEntries: Object.entries(s.config ?? {}).map(([name, value]) => ({ name, value })),
        })),
      });
    } catch (err) {
      // A concurrent creator is fine; anything else is not.
      if ((err as { type?: string }).type !== 'TOPIC_ALREADY_EXISTS')
        throw toCdcError(err, 'creating topics', { topics: missing.map((s) => s.topic) });
    }
  }
  const present = specs.filter((s) => existing.has(s.topic));
  if (present.length > 0) await checkTopics(admin, present);
  return { created: missing.map((s) => s.topic) };
}

async function checkTopics(admin: Admin, specs: readonly TopicSpec[]): Promise<void> {
  const meta = await admin.fetchTopicMetadata({ topics: specs.map((s) => s.topic) });
  for (const s of specs) {
    const partitions = meta.topics.find((t) => t.name === s.topic)?.partitions.length ?? 0;
    if (s.numPartitions !== undefined && partitions < s.numPartitions) {
      throw new CdcError(
        'KAFKA_TOPIC_INVALID',
        `topic ${s.topic} has ${partitions} partitions, ${s.numPartitions} are required; add partitions with kafka-topics --alter (keys will move) or recreate it`,
        {
          context: { topic: s.topic, partitions, required: s.numPartitions },
        },
      );
    }
  }
  const withConfig = specs.filter((s) => s.config && Object.keys(s.config).length > 0);
  if (withConfig.length === 0) return;
  const described = await admin.describeConfigs({
    includeSynonyms: false,
    resources: withConfig.map((s) => ({
      type: ConfigResourceTypes.TOPIC,
      name: s.topic,
      configNames: Object.keys(s.config!),
    })),
  });
  for (const s of withConfig) {
    const entries = described.resources.find((r) => r.resourceName === s.topic)?.configEntries ?? [];
    for (const [name, want] of Object.entries(s.config!)) {
      const have = entries.find((e) => e.configName === name)?.configValue;
      if (have !== want) {
        throw new CdcError(
          'KAFKA_TOPIC_INVALID',
          `topic ${s.topic} has ${name}=${have ?? '(unset)'}, ${want} is required; fix it with kafka-configs --alter --add-config ${name}=${want}`,
          {
            context: { topic: s.topic, config: name, have: have ?? null, want },
          },
        );
      }
    }
  }
}

/** The next offset to be written in each partition of a topic (its high watermark), by partition. */
export async function endOffsets(admin: Admin, topic: string): Promise<Map<number, bigint>> {
  const offsets = await admin.fetchTopicOffsets(topic);
  return new Map(offsets.map((o) => [o.partition, BigInt(o.high)]));
}

/** Deletes the topics that exist; missing ones are not an error. */
export async function deleteTopicsIfExist(admin: Admin, topics: readonly string[]): Promise<void> {
  const existing = new Set(await admin.listTopics());
  const present = topics.filter((t) => existing.has(t));
  if (present.length > 0) await admin.deleteTopics({ topics: present });
}
