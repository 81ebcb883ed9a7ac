import { selectTopics, tableNameForTopic, topicFor } from '@cdc/core';
import type { Admin } from '@cdc/kafka';
import { knownTopics, type Pipeline } from '@cdc/pipeline';

/** The topics the sink consumes: `clickhouse.sink.topics` (names or `/regex/`) resolved against the cluster. */
export async function sinkTopics(admin: Admin, pipeline: Pipeline): Promise<string[]> {
  if (!pipeline.clickhouse) return [];
  const { deadLetterTopic, topics } = pipeline.clickhouse.sink;
  return selectTopics(topics, await admin.listTopics(), knownTopics(pipeline)).filter(
    (t) => t !== deadLetterTopic,
  );
}

/** The ClickHouse table the sink writes a topic to (services/sink-clickhouse `tableNameFor`). */
export function tableFor(pipeline: Pipeline, topic: string): string {
  return pipeline.clickhouse?.sink.tables[topic]?.table ?? tableNameForTopic(topic);
}

export { topicFor };
