import type { EmitStrategy } from './internals/operators/emit.ts';
import type { TimestampExtractor } from './record.ts';
import type { Serde } from './serde.ts';

export type { EmitStrategy };

/** How a source topic is read. Unset serdes fall back to the builder's defaults. */
export interface Consumed<K, V> {
  keySerde?: Serde<K>;
  valueSerde?: Serde<V>;
  /** Event time of each record; the default is the Kafka record timestamp. */
  timestampExtractor?: TimestampExtractor<K, V>;
}

/** How a stream is written to a topic. */
export interface Produced<K, V> {
  keySerde?: Serde<K>;
  valueSerde?: Serde<V>;
}

export interface TableOptions<K, V> extends Consumed<K, V> {
  /** The store's name (and so its changelog's); generated when unset. */
  storeName?: string;
  /**
   * Whether a (non-null) value deletes its key; tombstones always do. For a CDC topic pass
   * `isChangeEventDelete`, which recognizes `op: 'd'` envelopes.
   */
  isDelete?: (value: V) => boolean;
}

/** The store behind an aggregate or join result. */
export interface Materialized<K, V> {
  storeName?: string;
  keySerde?: Serde<K>;
  valueSerde?: Serde<V>;
}

export interface WindowedMaterialized<K, V> extends Materialized<K, V> {
  /** Default `on-update`. */
  emit?: EmitStrategy;
  /** Where records that arrive after the grace period go (they are always counted). */
  lateRecordsTopic?: string;
  /** How long windows stay queryable; default and minimum: size + grace (sessions: gap + grace). */
  retentionMs?: number;
  /**
   * What a record for a window past its grace does (default `drop`, as in Kafka Streams: it is
   * late, counted and skipped). `amend`: while the window is retained it is applied and the
   * window's new result emitted (a correction, also after `on-window-close`); only a record for
   * a window already out of retention is late. For results that must equal their source, such
   * as aggregates of change-data-capture streams: a retraction can target any past window, and
   * a backlog (a snapshot, a restart) reaches windows after stream time moved past them.
   */
  afterGrace?: AfterGrace;
}

export type AfterGrace = 'drop' | 'amend';

/** Serdes for the repartition topic that `groupBy` (or grouping after a key change) creates. */
export interface Grouped<K, V> {
  keySerde?: Serde<K>;
  valueSerde?: Serde<V>;
  /** Names the repartition topic `<applicationId>-<name>-repartition`. */
  name?: string;
}

/** Recognizes a CDC change-event delete (`op: 'd'`), for `table(topic, { isDelete })`. */
export function isChangeEventDelete(value: unknown): boolean {
  return typeof value === 'object' && value !== null && (value as { op?: unknown }).op === 'd';
}
