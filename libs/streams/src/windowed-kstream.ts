import { sessionAggregateProcessor } from './internals/operators/session-window-aggregate.ts';
import { timeWindowAggregateProcessor } from './internals/operators/time-window-aggregate.ts';
import type { KGroupedStream } from './kgrouped-stream.ts';
import { KTable } from './ktable.ts';
import type { WindowedMaterialized } from './options.ts';
import type { ProcessorSupplier } from './processor.ts';
import type { Windowed } from './record.ts';
import { type Serde, Serdes } from './serde.ts';
import { Stores } from './stores.ts';
import type { SessionWindows, TimeWindows } from './windows.ts';

function addNode(
  grouped: KGroupedStream<unknown, unknown>,
  prefix: string,
  supplier: unknown,
  storeName: string,
): string {
  const g = grouped.stream.state.graph;
  const name = g.nextName(prefix);
  g.add({
    kind: 'processor',
    name,
    parents: [grouped.stream.node],
    supplier: supplier as ProcessorSupplier<unknown, unknown, unknown, unknown>,
    stores: [storeName],
  });
  return name;
}

function lateTopic(m: { lateRecordsTopic?: string }): { lateRecordsTopic?: string } {
  return m.lateRecordsTopic ? { lateRecordsTopic: m.lateRecordsTopic } : {};
}

/** A grouped stream cut into tumbling or hopping windows. */
export class TimeWindowedKStream<K, V> {
  private readonly grouped: KGroupedStream<K, V>;
  readonly windows: TimeWindows;

  /** @internal */
  constructor(grouped: KGroupedStream<K, V>, windows: TimeWindows) {
    this.grouped = grouped;
    this.windows = windows;
  }

  count(materialized: WindowedMaterialized<K, number> = {}): KTable<Windowed<K>, number> {
    return this.aggregate(
      () => 0,
      (_k, _v, n) => n + 1,
      { ...materialized, valueSerde: materialized.valueSerde ?? Serdes.number() },
    );
  }

  reduce(
    reducer: (aggregate: V, value: V, key: K) => V,
    materialized: WindowedMaterialized<K, V> = {},
  ): KTable<Windowed<K>, V> {
    const valueSerde = materialized.valueSerde ?? this.grouped.valueSerde;
    return this.aggregate<V | undefined>(
      () => undefined,
      (k, v, a) => (a === undefined ? v : reducer(a, v, k)),
      {
        ...materialized,
        ...(valueSerde ? { valueSerde: valueSerde as Serde<V | undefined> } : {}),
      },
    ) as KTable<Windowed<K>, V>;
  }

  aggregate<A>(
    initializer: () => A,
    aggregator: (key: K, value: V, aggregate: A) => A,
    materialized: WindowedMaterialized<K, A> = {},
  ): KTable<Windowed<K>, A> {
    const state = this.grouped.stream.state;
    const storeName = materialized.storeName ?? state.graph.nextName('window-store');
    const keySerde = this.grouped.resolvedKeySerde(materialized);
    const valueSerde = materialized.valueSerde ?? (state.defaultValueSerde as Serde<A>);
    const { sizeMs, graceMs } = this.windows;
    const retentionMs = Math.max(materialized.retentionMs ?? 0, sizeMs + graceMs);
    state.graph.addStore(
      Stores.window(storeName, { windowSizeMs: sizeMs, retentionMs }, keySerde, valueSerde) as never,
    );
    const supplier = timeWindowAggregateProcessor<K, V, A>({
      storeName,
      windows: this.windows,
      emit: materialized.emit ?? 'on-update',
      afterGrace: materialized.afterGrace ?? 'drop',
      ...lateTopic(materialized),
      initializer,
      aggregator,
    });
    const name = addNode(
      this.grouped as KGroupedStream<unknown, unknown>,
      'window-aggregate',
      supplier,
      storeName,
    );
    return new KTable<Windowed<K>, A>(state, name, storeName, { valueSerde }, true);
  }
}

/** A grouped stream cut into sessions of activity. */
export class SessionWindowedKStream<K, V> {
  private readonly grouped: KGroupedStream<K, V>;
  readonly windows: SessionWindows;

  /** @internal */
  constructor(grouped: KGroupedStream<K, V>, windows: SessionWindows) {
    this.grouped = grouped;
    this.windows = windows;
  }

  count(materialized: WindowedMaterialized<K, number> = {}): KTable<Windowed<K>, number> {
    return this.aggregate(
      () => 0,
      (_k, _v, n) => n + 1,
      (_k, a, b) => a + b,
      { ...materialized, valueSerde: materialized.valueSerde ?? Serdes.number() },
    );
  }

  reduce(
    reducer: (aggregate: V, value: V, key: K) => V,
    materialized: WindowedMaterialized<K, V> = {},
  ): KTable<Windowed<K>, V> {
    const valueSerde = materialized.valueSerde ?? this.grouped.valueSerde;
    return this.aggregate<V | undefined>(
      () => undefined,
      (k, v, a) => (a === undefined ? v : reducer(a, v, k)),
      (k, a, b) => (a === undefined ? b : b === undefined ? a : reducer(a, b, k)),
      { ...materialized, ...(valueSerde ? { valueSerde: valueSerde as Serde<V | undefined> } : {}) },
    ) as KTable<Windowed<K>, V>;
  }

  /** `merger` combines two sessions' aggregates when a record bridges them. */
  aggregate<A>(
    initializer: () => A,
    aggregator: (key: K, value: V, aggregate: A) => A,
    merger: (key: K, left: A, right: A) => A,
    materialized: WindowedMaterialized<K, A> = {},
  ): KTable<Windowed<K>, A> {
    const state = this.grouped.stream.state;
    const storeName = materialized.storeName ?? state.graph.nextName('session-store');
    const keySerde = this.grouped.resolvedKeySerde(materialized);
    const valueSerde = materialized.valueSerde ?? (state.defaultValueSerde as Serde<A>);
    const { gapMs, graceMs } = this.windows;
    const retentionMs = Math.max(materialized.retentionMs ?? 0, gapMs + graceMs);
    state.graph.addStore(Stores.session(storeName, { retentionMs }, keySerde, valueSerde) as never);
    const supplier = sessionAggregateProcessor<K, V, A>({
      storeName,
      windows: this.windows,
      emit: materialized.emit ?? 'on-update',
      afterGrace: materialized.afterGrace ?? 'drop',
      ...lateTopic(materialized),
      initializer,
      aggregator,
      merger,
    });
    const name = addNode(
      this.grouped as KGroupedStream<unknown, unknown>,
      'session-aggregate',
      supplier,
      storeName,
    );
    return new KTable<Windowed<K>, A>(state, name, storeName, { valueSerde }, true);
  }
}
