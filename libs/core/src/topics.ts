/**
 * Every kind of topic the pipeline writes, who names it, and which are internal: an internal
 * topic is never consumed by the sink and never shown as a table, whatever a `topics` pattern
 * says.
 *
 *   topicKind('shop.shop.public.orders')                  // 'change'
 *   topicKind('shop.dead-letter')                         // 'dead-letter'
 *   topicKind('cdc-processor-revenue-changelog')          // 'changelog'
 *   selectTopics(['/^shop\\./'], await admin.listTopics(), { offsetsTopics: ['cdc.offsets'] })
 *
 * | kind               | name                                   | written by                      |
 * | ------------------ | -------------------------------------- | ------------------------------- |
 * | `change`           | `<prefix>.<db>.<schema>.<table>` (`topicFor`), processor outputs | captures, processor |
 * | `dead-letter`      | `<prefix>.dead-letter`                 | a capture, the processor        |
 * | `quarantine`       | `<prefix>.quarantine`                  | a capture's data-quality rules  |
 * | `offsets`          | `cdc.offsets` (a source's `offsetsTopic`) | the captures                 |
 * | `sink-dead-letter` | `*.dlq` (`cdc.sink-clickhouse.dlq`)    | the sink                        |
 * | `changelog`        | `<applicationId>-<store>-changelog`    | the processor's state stores    |
 * | `repartition`      | `<applicationId>-<name>-repartition`   | the processor's re-keying       |
 * | `held`             | `__<prefix>.paused`                    | a capture, for its paused tables |
 * | `signal`           | `__cdc.signals` (`control.signalTopic`) | the control service, for the captures |
 * | `system`           | `__*`, `_schemas`                      | the broker, the schema registry |
 */

/** What a topic holds. Only `change` topics are data a sink projects. */
export type TopicKind =
  | 'change'
  | 'dead-letter'
  | 'quarantine'
  | 'offsets'
  | 'sink-dead-letter'
  | 'changelog'
  | 'repartition'
  | 'held'
  | 'signal'
  | 'system';

/** Where the captures keep their source positions unless a source names its own `offsetsTopic`. */
export const DEFAULT_OFFSETS_TOPIC = 'cdc.offsets';

/** Where the control service sends commands to the captures unless `control.signalTopic` says otherwise. */
export const DEFAULT_SIGNAL_TOPIC = '__cdc.signals';

/** `__<prefix>.paused`: a capture's records of its paused tables, until they are resumed. */
export function heldTopic(prefix: string): string {
  return `__${prefix}.paused`;
}

/** Where the sink writes what it cannot write to ClickHouse. */
export const DEFAULT_SINK_DEAD_LETTER_TOPIC = 'cdc.sink-clickhouse.dlq';

/** `<prefix>.dead-letter`: a capture's (or the processor's) changes that could not be written. */
export function deadLetterTopic(prefix: string): string {
  return `${prefix}.dead-letter`;
}

/** `<prefix>.quarantine`: compacted, keyed by table and row key. */
export function quarantineTopic(prefix: string): string {
  return `${prefix}.quarantine`;
}

/** What the pipeline names beyond the conventions above (the offsets topics are configurable). */
export interface KnownTopics {
  readonly offsetsTopics?: readonly string[];
  readonly signalTopics?: readonly string[];
}

/** The kind of a topic, from its name. */
export function topicKind(name: string, known: KnownTopics = {}): TopicKind {
  if (name === DEFAULT_SIGNAL_TOPIC || known.signalTopics?.includes(name)) return 'signal';
  if (name.startsWith('__') && name.endsWith('.paused')) return 'held';
  if (name.startsWith('__') || name === '_schemas') return 'system';
  if (name === DEFAULT_OFFSETS_TOPIC || known.offsetsTopics?.includes(name)) return 'offsets';
  if (name.endsWith('.dead-letter')) return 'dead-letter';
  if (name.endsWith('.quarantine')) return 'quarantine';
  if (name.endsWith('.dlq')) return 'sink-dead-letter';
  if (name.endsWith('-changelog')) return 'changelog';
  if (name.endsWith('-repartition')) return 'repartition';
  return 'change';
}

/** Whether a topic is the pipeline's own bookkeeping rather than data a sink projects. */
export function isInternalTopic(name: string, known: KnownTopics = {}): boolean {
  return topicKind(name, known) !== 'change';
}

/** `'/^shop\\./'` → a RegExp; anything else is a topic name. */
export function topicPatterns(topics: readonly string[]): (string | RegExp)[] {
  return topics.map((t) =>
    t.length > 2 && t.startsWith('/') && t.endsWith('/') ? new RegExp(t.slice(1, -1)) : t,
  );
}

/**
 * The existing change topics that the patterns (names, or `/regex/`) select, sorted. Internal
 * topics are never selected.
 */
export function selectTopics(
  patterns: readonly string[],
  existing: readonly string[],
  known: KnownTopics = {},
): string[] {
  const res = topicPatterns(patterns);
  return existing
    .filter(
      (t) => !isInternalTopic(t, known) && res.some((r) => (typeof r === 'string' ? r === t : r.test(t))),
    )
    .sort();
}

/**
 * The headers of a dead letter. Captures and the processor write the `cdc.error.*` set with
 * the topic the change was meant for; the sink writes the `cdc.dlq.*` set with where the
 * record was read. `readDeadLetter` reads either.
 */
export const DEAD_LETTER_HEADERS = {
  code: 'cdc.error.code',
  message: 'cdc.error.message',
  /** JSON: the error's context. */
  context: 'cdc.error.context',
  /** The processor: the stage (`deserialize`, `process`, `produce`) and the topology node. */
  stage: 'cdc.error.stage',
  node: 'cdc.error.node',
  /** Where the change was meant to go (captures) or was read from (processor). */
  sourceTopic: 'cdc.source.topic',
  /** The processor: where the record was read. */
  sourcePartition: 'cdc.source.partition',
  sourceOffset: 'cdc.source.offset',
  changeId: 'cdc.change-id',
} as const;

export const SINK_DEAD_LETTER_HEADERS = {
  reason: 'cdc.dlq.reason',
  code: 'cdc.dlq.code',
  topic: 'cdc.dlq.topic',
  partition: 'cdc.dlq.partition',
  offset: 'cdc.dlq.offset',
  table: 'cdc.dlq.table',
  service: 'cdc.dlq.service',
  /** Set when the value was too large to keep: its size in bytes (the reason says where it still is). */
  omittedBytes: 'cdc.dlq.omitted-bytes',
} as const;

/** A dead letter's reason, whoever wrote it. */
export interface DeadLetterReason {
  readonly code: string;
  readonly message: string;
  /** The change topic it belongs to. */
  readonly topic: string | null;
}

/** The reason of a dead letter from its headers (either set); null when they name none. */
export function readDeadLetter(headers: Readonly<Record<string, unknown>>): DeadLetterReason | null {
  const text = (name: string): string | null => {
    const v = headers[name];
    if (v === undefined || v === null) return null;
    return Buffer.isBuffer(v) ? v.toString('utf8') : String(v);
  };
  const code = text(DEAD_LETTER_HEADERS.code) ?? text(SINK_DEAD_LETTER_HEADERS.code);
  const message = text(DEAD_LETTER_HEADERS.message) ?? text(SINK_DEAD_LETTER_HEADERS.reason);
  if (code === null && message === null) return null;
  return {
    code: code ?? 'UNKNOWN',
    message: message ?? '',
    topic: text(DEAD_LETTER_HEADERS.sourceTopic) ?? text(SINK_DEAD_LETTER_HEADERS.topic),
  };
}
