/** Record headers: values are bytes on the wire, strings are accepted and written as UTF-8. */
export type Headers = Readonly<Record<string, Buffer | string>>;

/** A record as processors see it: typed key and value, an event-time timestamp, headers. */
export interface StreamRecord<K, V> {
  readonly key: K;
  readonly value: V;
  /** Event time in milliseconds since the epoch (from the source's timestamp extractor). */
  readonly timestamp: number;
  readonly headers?: Headers;
}

/** Where the record being processed came from. */
export interface RecordMetadata {
  readonly topic: string;
  readonly partition: number;
  readonly offset: string;
}

/** What a timestamp extractor sees: the deserialized record and the broker's timestamp. */
export interface ConsumedRecord<K, V> extends RecordMetadata {
  readonly key: K | null;
  readonly value: V | null;
  /** The Kafka record timestamp (create or log-append time). */
  readonly timestamp: number;
  readonly headers: Headers;
}

/** Picks a record's event time. The default is the Kafka record timestamp. */
export type TimestampExtractor<K = unknown, V = unknown> = (record: ConsumedRecord<K, V>) => number;

export const recordTimestamp: TimestampExtractor = (record) => record.timestamp;

/** The old and new value of a table row; `null` is an absent row. */
export interface Change<V> {
  readonly newValue: V | null;
  readonly oldValue: V | null;
}

/** A window in event time, `start` inclusive and `end` exclusive (sessions: both inclusive). */
export interface Window {
  readonly start: number;
  readonly end: number;
}

/** The key of a windowed aggregate: the grouping key and its window. */
export interface Windowed<K> {
  readonly key: K;
  readonly window: Window;
}
