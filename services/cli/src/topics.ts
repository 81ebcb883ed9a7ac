import { tableNameForTopic, topicFor } from '@cdc/core';
import type { Admin } from '@cdc/kafka';
import type { Pipeline } from '@cdc/pipeline';

/** The topics the sink consumes: `clickhouse.sink.topics` (names or `/regex/`) resolved against the cluster. */
export async function sinkTopics(admin: Admin, pipeline: Pipeline): Promise<string[]> {
  if (!pipeline.clickhouse) return [];
  const all = await admin.listTopics();
  return matchTopics(pipeline.clickhouse.sink.topics, all);
}

export function matchTopics(patterns: readonly string[], all: readonly string[]): string[] {
  const res = patterns.map((t) =>
    t.length > 2 && t.startsWith('/') && t.endsWith('/') ? new RegExp(t.slice(1, -1)) : t,
  );
  return all
    .filter((t) => !t.startsWith('__') && res.some((r) => (typeof r === 'string' ? r === t : r.test(t))))
    .sort();
}

/** The ClickHouse table the sink writes a topic to (services/sink-clickhouse `tableNameFor`). */
export function tableFor(pipeline: Pipeline, topic: string): string {
  return pipeline.clickhouse?.sink.tables[topic]?.table ?? tableNameForTopic(topic);
}

export { topicFor };
