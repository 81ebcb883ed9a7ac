import { aggregateProcessor } from './internals/operators/aggregate.ts';
import type { KStream } from './kstream.ts';
import { KTable } from './ktable.ts';
import type { Materialized } from './options.ts';
import type { ProcessorSupplier } from './processor.ts';
import { type Serde, Serdes } from './serde.ts';
import { Stores } from './stores.ts';
import { SessionWindowedKStream, TimeWindowedKStream } from './windowed-kstream.ts';
import { type SessionWindows, TimeWindows } from './windows.ts';

/** A stream grouped by key (partitioned by it), ready to be aggregated or windowed. */
export class KGroupedStream<K, V> {
  /** @internal */ readonly stream: KStream<K, V>;
  /** @internal */ readonly keySerde: Serde<K> | undefined;
  /** @internal */ readonly valueSerde: Serde<V> | undefined;

  /** @internal */
  constructor(stream: KStream<K, V>, serdes: { keySerde?: Serde<K>; valueSerde?: Serde<V> }) {
    this.stream = stream;
    this.keySerde = serdes.keySerde;
    this.valueSerde = serdes.valueSerde;
  }

  /** @internal */
  resolvedKeySerde(m: { keySerde?: Serde<K> }): Serde<K> {
    return m.keySerde ?? this.keySerde ?? (this.stream.state.defaultKeySerde as Serde<K>);
  }

  count(materialized: Materialized<K, number> = {}): KTable<K, number> {
    return this.aggregate(
      () => 0,
      (_k, _v, n) => n + 1,
      { ...materialized, valueSerde: materialized.valueSerde ?? Serdes.number() },
    );
  }

  /** Combines values of a key; the first value is the initial aggregate. */
  reduce(
    reducer: (aggregate: V, value: V, key: K) => V,
    materialized: Materialized<K, V> = {},
  ): KTable<K, V> {
    const valueSerde = materialized.valueSerde ?? this.valueSerde;
    return this.aggregate<V | undefined>(
      () => undefined,
      (k, v, agg) => (agg === undefined ? v : reducer(agg, v, k)),
      { ...materialized, ...(valueSerde ? { valueSerde: valueSerde as Serde<V | undefined> } : {}) },
    ) as KTable<K, V>;
  }

  aggregate<A>(
    initializer: () => A,
    aggregator: (key: K, value: V, aggregate: A) => A,
    materialized: Materialized<K, A> = {},
  ): KTable<K, A> {
    const state = this.stream.state;
    const storeName = materialized.storeName ?? state.graph.nextName('aggregate-store');
    const keySerde = this.resolvedKeySerde(materialized);
    const valueSerde = materialized.valueSerde ?? (state.defaultValueSerde as Serde<A>);
    state.graph.addStore(Stores.keyValue(storeName, keySerde, valueSerde) as never);
    const name = state.graph.nextName('aggregate');
    state.graph.add({
      kind: 'processor',
      name,
      parents: [this.stream.node],
      supplier: aggregateProcessor(storeName, initializer, aggregator) as ProcessorSupplier<
        unknown,
        unknown,
        unknown,
        unknown
      >,
      stores: [storeName],
    });
    return new KTable<K, A>(state, name, storeName, { keySerde, valueSerde });
  }

  windowedBy(windows: TimeWindows): TimeWindowedKStream<K, V>;
  windowedBy(windows: SessionWindows): SessionWindowedKStream<K, V>;
  windowedBy(
    windows: TimeWindows | SessionWindows,
  ): TimeWindowedKStream<K, V> | SessionWindowedKStream<K, V> {
    return windows instanceof TimeWindows
      ? new TimeWindowedKStream(this, windows)
      : new SessionWindowedKStream(this, windows);
  }
}
