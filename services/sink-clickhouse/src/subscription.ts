/**
 * Which topics the sink consumes: `sink.topics` (names, or `/regex/`) resolved against the
 * topics that exist. The sink resolves them itself, at start and every `topicRefreshMs`, and
 * subscribes by name: kafkajs resolves a pattern only once, when it subscribes, so a topic
 * created later (a new table, a new collection) would otherwise never be read.
 */

/** `'/^shop\\./'` → a RegExp; anything else is a topic name. */
export function topicPatterns(topics: readonly string[]): (string | RegExp)[] {
  return topics.map((t) =>
    t.length > 2 && t.startsWith('/') && t.endsWith('/') ? new RegExp(t.slice(1, -1)) : t,
  );
}

/**
 * The existing topics that the patterns select, sorted. Internal topics (`__…`) and the sink's
 * own dead-letter topic are never selected, whatever the patterns say.
 */
export function matchTopics(
  patterns: readonly string[],
  existing: readonly string[],
  exclude: readonly string[] = [],
): string[] {
  const res = topicPatterns(patterns);
  const skip = new Set(exclude);
  return existing
    .filter(
      (t) =>
        !t.startsWith('__') && !skip.has(t) && res.some((r) => (typeof r === 'string' ? r === t : r.test(t))),
    )
    .sort();
}

/** Whether two sorted topic lists differ. */
export function sameTopics(a: readonly string[], b: readonly string[]): boolean {
  return a.length === b.length && a.every((t, i) => t === b[i]);
}
