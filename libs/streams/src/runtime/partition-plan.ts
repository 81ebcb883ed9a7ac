import { CdcError } from '@cdc/core';
import type { Topology } from '../topology.ts';

export interface PartitionPlan {
  /** Tasks per subtopology (its input partition count). */
  readonly partitions: ReadonlyMap<number, number>;
  /** Partition count of each repartition topic, by real name. */
  readonly repartitionTopics: ReadonlyMap<string, number>;
}

/**
 * How many tasks each subtopology has, and so how many partitions its internal topics need.
 * External source topics of one subtopology must have the same partition count (they are joined
 * or aggregated by key, so key k must live in partition p of each); a repartition topic gets the
 * count of the other sources of the subtopology that reads it, or else of the one that writes it.
 */
export function planPartitions(
  topology: Topology,
  externalPartitions: ReadonlyMap<string, number>,
  topicName: (topic: string, internal: boolean) => string,
): PartitionPlan {
  const partitions = new Map<number, number>();
  for (const st of topology.subtopologies) {
    const counts = new Map<string, number>();
    for (const s of st.sources) {
      if (s.internal) continue;
      for (const t of s.topics) {
        const n = externalPartitions.get(t);
        if (n === undefined) {
          throw new CdcError(
            'KAFKA_TOPIC_INVALID',
            `source topic ${t} does not exist; create it before starting the application`,
            {
              context: { topic: t },
            },
          );
        }
        counts.set(t, n);
      }
    }
    const distinct = new Set(counts.values());
    if (distinct.size > 1) {
      const list = [...counts].map(([t, n]) => `${t}=${n}`).join(', ');
      throw new CdcError(
        'KAFKA_TOPIC_INVALID',
        `topics read together must be co-partitioned, but their partition counts differ (${list}); give them the same number of partitions, or join through a global table`,
        { context: { subtopology: st.id, topics: [...counts.keys()] } },
      );
    }
    const [n] = distinct;
    if (n !== undefined) partitions.set(st.id, n);
  }
  const writerOf = new Map<string, number>();
  for (const st of topology.subtopologies)
    for (const s of st.sinks) if (s.internal) writerOf.set(s.topic, st.id);
  for (let changed = true; changed; ) {
    changed = false;
    for (const st of topology.subtopologies) {
      if (partitions.has(st.id)) continue;
      const internal = st.sources.filter((s) => s.internal).flatMap((s) => s.topics);
      const upstream = internal
        .map((t) => partitions.get(writerOf.get(t) ?? -1))
        .filter((n): n is number => n !== undefined);
      if (upstream.length === internal.length && upstream.length > 0) {
        partitions.set(st.id, Math.max(...upstream));
        changed = true;
      }
    }
  }
  const repartitionTopics = new Map<string, number>();
  for (const st of topology.subtopologies) {
    const n = partitions.get(st.id);
    if (n === undefined) {
      throw new CdcError('INVARIANT_VIOLATED', `cannot size the internal topics of subtopology ${st.id}`, {
        context: { subtopology: st.id },
      });
    }
    for (const s of st.sources)
      if (s.internal) for (const t of s.topics) repartitionTopics.set(topicName(t, true), n);
  }
  return { partitions, repartitionTopics };
}
