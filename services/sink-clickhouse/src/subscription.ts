/**
 * Which topics the sink consumes: `sink.topics` (names, or `/regex/`) resolved against the
 * topics that exist, by `selectTopics` of `@cdc/core` (internal topics are never selected). The
 * sink's `BatchConsumer` (`@cdc/kafka`) resolves them at start and every `topicRefreshMs`, and
 * subscribes by name: kafkajs
 * resolves a pattern only once, when it subscribes, so a topic created later (a new table, a new
 * collection) would otherwise never be read.
 */
import { type KnownTopics, selectTopics } from '@cdc/core';

/**
 * The existing change topics that the patterns select, sorted, without the sink's own
 * dead-letter topic (whatever it is named).
 */
export function matchTopics(
  patterns: readonly string[],
  existing: readonly string[],
  deadLetterTopic: string,
  known: KnownTopics = {},
): string[] {
  return selectTopics(patterns, existing, known).filter((t) => t !== deadLetterTopic);
}
