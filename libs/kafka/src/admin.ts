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
  /**
   * Numeric topic configs that must be at least this, e.g. `{ 'max.message.bytes': 67_174_400 }`:
   * raised on a new or existing topic whose effective value (its own or the broker's default)
   * is smaller, never lowered.
   */
  atLeast?: Record<string, number>;
}

/**
 * The topic configs a record of `maxRecordBytes` needs: the topic's record batch limit with room
 * for the batch header, and segments that can hold such a batch (a batch never spans segments).
 */
export function recordSizeConfig(maxRecordBytes: number): Record<string, number> {
  const batch = maxRecordBytes + 64 * 1024;
  return { 'max.message.bytes': batch, 'segment.bytes': Math.max(batch, 64 * 1024 * 1024) };
}

/**
 * Creates the topics that do not exist yet and checks those that do: a topic with fewer
 * partitions than asked for, or with a different value for a config that was asked for
 * (a non-compacted offsets topic loses positions), is an error naming the topic and the fix.
 * `atLeast` configs are raised in place (a topic created by an older version with the
 * broker's 1 MB record limit gets the limit the pipeline needs).
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
      if ((err as { type?: string }).type !== 'TOPIC_ALREADY_EXISTS') {
        const invalid = invalidTopics(err);
        if (invalid.length > 0) throw topicRefused(invalid, existing);
        throw toCdcError(err, 'creating topics', { topics: missing.map((s) => s.topic) });
      }
    }
  }
  const present = specs.filter((s) => existing.has(s.topic));
  if (present.length > 0) await checkTopics(admin, present);
  // New topics too: only what is below the broker's default is set, so nothing is lowered.
  const raise = specs.filter((s) => s.atLeast && Object.keys(s.atLeast).length > 0);
  if (raise.length > 0) await raiseConfigs(admin, raise);
  return { created: missing.map((s) => s.topic) };
}

/** The topics a `createTopics` refused as invalid names (`INVALID_TOPIC_EXCEPTION`). */
function invalidTopics(err: unknown): string[] {
  const e = err as { type?: string; topic?: string; errors?: { type?: string; topic?: string }[] };
  const all = e.errors ?? [e];
  return all.filter((x) => x.type === 'INVALID_TOPIC_EXCEPTION' && x.topic).map((x) => x.topic as string);
}

/**
 * Kafka refuses a topic whose name collides with an existing one (the same name with `.` and
 * `_` swapped: they share metric names) or is over 249 characters. Not retriable: the name
 * must change. `KAFKA_TOPIC_INVALID`, naming the topic, the one it collides with and the fix.
 */
function topicRefused(topics: readonly string[], existing: ReadonlySet<string>): CdcError {
  const norm = (t: string) => t.replaceAll('.', '_');
  const reasons = topics.map((t) => {
    const other = [...existing].find((x) => x !== t && norm(x) === norm(t));
    return other
      ? `topic ${t} collides with the existing topic ${other} (Kafka treats '.' and '_' alike in topic names)`
      : t.length > 249
        ? `topic ${t} is ${t.length} characters, more than Kafka's 249`
        : `Kafka refuses the topic name ${t}`;
  });
  return new CdcError(
    'KAFKA_TOPIC_INVALID',
    `${reasons.join('; ')}: rename the table (or collection), leave it out of the capture, or give the source another topicPrefix`,
    { context: { topics } },
  );
}

/** Raises each `atLeast` config whose effective value is smaller, keeping the topic's other configs. */
async function raiseConfigs(admin: Admin, specs: readonly TopicSpec[]): Promise<void> {
  let described: Awaited<ReturnType<Admin['describeConfigs']>>;
  try {
    described = await admin.describeConfigs({
      includeSynonyms: false,
      resources: specs.map((s) => ({ type: ConfigResourceTypes.TOPIC, name: s.topic })),
    });
  } catch (err) {
    throw toCdcError(err, 'describing topic configs', { topics: specs.map((s) => s.topic) });
  }
  for (const s of specs) {
    const entries = described.resources.find((r) => r.resourceName === s.topic)?.configEntries ?? [];
    const low = Object.entries(s.atLeast!).filter(([name, want]) => {
      const have = Number(entries.find((e) => e.configName === name)?.configValue);
      return !(have >= want);
    });
    if (low.length === 0) continue;
    // kafkajs has only the non-incremental AlterConfigs, which resets what it is not given: send
    // the topic's own configs along with the raised ones.
    const own = entries
      .filter((e) => (e.configSource === undefined ? !e.isDefault : e.configSource === TOPIC_CONFIG))
      .filter((e) => !low.some(([name]) => name === e.configName) && e.configValue !== null);
    try {
      await admin.alterConfigs({
        validateOnly: false,
        resources: [
          {
            type: ConfigResourceTypes.TOPIC,
            name: s.topic,
            configEntries: [
              ...own.map((e) => ({ name: e.configName, value: e.configValue })),
              ...low.map(([name, value]) => ({ name, value: String(value) })),
            ],
          },
        ],
      });
    } catch (err) {
      throw toCdcError(err, `raising ${low.map(([n, v]) => `${n} to ${v}`).join(', ')} on topic ${s.topic}`, {
        topic: s.topic,
      });
    }
  }
}

/** `ConfigSource.TOPIC_CONFIG`: a config set on the topic itself. */
const TOPIC_CONFIG = 1;

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

/**
 * A consumer group's committed offsets of `topics` (per topic, per partition; -1 where none),
 * read stably: while a transaction that commits offsets of one of these partitions is still
 * open, the group coordinator answers UNSTABLE_OFFSET_COMMIT instead of the offsets committed
 * before it (OffsetFetch v7, KIP-447), and this waits (retrying) until that transaction has
 * ended, at most `timeoutMs` (which should exceed the writers' transaction timeout: the broker
 * aborts a dead writer's transaction after it). A new owner of a partition then starts from
 * exactly what its previous owner committed, whatever producer that owner used.
 */
export async function fetchStableOffsets(
  admin: Admin,
  groupId: string,
  topics: readonly string[],
  timeoutMs: number,
  onWait?: () => Promise<void>,
): Promise<Map<string, Map<number, number>>> {
  const deadline = Date.now() + timeoutMs;
  for (let wait = 20; ; wait = Math.min(wait * 2, 500)) {
    try {
      const fetched = await (
        admin.fetchOffsets as (o: {
          groupId: string;
          topics: string[];
          requireStable: boolean;
        }) => ReturnType<Admin['fetchOffsets']>
      )({ groupId, topics: [...topics], requireStable: true });
      const out = new Map<string, Map<number, number>>();
      for (const t of fetched)
        out.set(t.topic, new Map(t.partitions.map((p) => [p.partition, Number(p.offset)])));
      return out;
    } catch (err) {
      const unstable = (err as { type?: string }).type === 'UNSTABLE_OFFSET_COMMIT';
      if (!unstable || Date.now() + wait > deadline) {
        throw toCdcError(err, `reading the committed offsets of group ${groupId}`, { groupId });
      }
      await onWait?.();
      await new Promise((r) => setTimeout(r, wait));
    }
  }
}
