import { CdcError } from '@cdc/core';
import type { BuilderState } from './internals/builder-state.ts';
import { passThroughProcessor } from './internals/operators/pass-through.ts';
import { tableJoinSideProcessor } from './internals/operators/table-table-join.ts';
import { toStreamProcessor } from './internals/operators/to-stream.ts';
import { KStream } from './kstream.ts';
import type { Materialized } from './options.ts';
import type { ProcessorSupplier } from './processor.ts';
import type { Serde } from './serde.ts';
import { Stores } from './stores.ts';

/**
 * A changelog seen as a table: the latest value per key, kept in a store named `storeName`
 * (queryable through the test driver, or a processor). Its changes flow downstream.
 */
export class KTable<K, V> {
  /** @internal */ readonly state: BuilderState;
  /** @internal */ readonly node: string;
  readonly storeName: string;
  /** @internal */ readonly keySerde: Serde<K> | undefined;
  /** @internal */ readonly valueSerde: Serde<V> | undefined;
  /** Windowed aggregates are tables too, but only `toStream` applies to them. */
  readonly windowed: boolean;

  /** @internal */
  constructor(
    state: BuilderState,
    node: string,
    storeName: string,
    serdes: { keySerde?: Serde<K>; valueSerde?: Serde<V> },
    windowed = false,
  ) {
    this.state = state;
    this.node = node;
    this.storeName = storeName;
    this.keySerde = serdes.keySerde;
    this.valueSerde = serdes.valueSerde;
    this.windowed = windowed;
  }

  /** The table's changes: each new value, `null` (a tombstone) where a row was deleted. */
  toStream(): KStream<K, V | null> {
    const name = this.state.graph.nextName('to-stream');
    this.state.graph.add({
      kind: 'processor',
      name,
      parents: [this.node],
      supplier: toStreamProcessor() as ProcessorSupplier<unknown, unknown, unknown, unknown>,
      stores: [],
    });
    return new KStream<K, V | null>(
      this.state,
      name,
      {
        ...(this.keySerde ? { keySerde: this.keySerde } : {}),
        ...(this.valueSerde ? { valueSerde: this.valueSerde as Serde<V | null> } : {}),
      },
      false,
    );
  }

  /** Table–table inner join on the key: a row exists while both sides have one. */
  join<R, J>(
    other: KTable<K, R>,
    joiner: (left: V, right: R) => J,
    materialized: Materialized<K, J> = {},
  ): KTable<K, J> {
    return this.joinTables(other, joiner as (l: V, r: R | null) => J, false, materialized);
  }

  /** Table–table left join: a row exists while this side has one; `right` is `null` when the other has none. */
  leftJoin<R, J>(
    other: KTable<K, R>,
    joiner: (left: V, right: R | null) => J,
    materialized: Materialized<K, J> = {},
  ): KTable<K, J> {
    return this.joinTables(other, joiner, true, materialized);
  }

  private joinTables<R, J>(
    other: KTable<K, R>,
    joiner: (left: V, right: R | null) => J,
    leftJoin: boolean,
    materialized: Materialized<K, J>,
  ): KTable<K, J> {
    if (this.windowed || other.windowed) {
      throw new CdcError(
        'CONFIG_INVALID',
        'windowed tables cannot be joined; join their streams (toStream) instead',
      );
    }
    const g = this.state.graph;
    const joinedStore = materialized.storeName ?? g.nextName('join-store');
    const keySerde = materialized.keySerde ?? this.keySerde ?? (this.state.defaultKeySerde as Serde<K>);
    const valueSerde = materialized.valueSerde ?? (this.state.defaultValueSerde as Serde<J>);
    g.addStore(Stores.keyValue(joinedStore, keySerde, valueSerde) as never);
    const side = (parent: string, otherStore: string, thisIsLeft: boolean) => {
      const name = g.nextName(thisIsLeft ? 'join-left' : 'join-right');
      g.add({
        kind: 'processor',
        name,
        parents: [parent],
        supplier: tableJoinSideProcessor<K, V, R, J>({
          otherStore,
          joinedStore,
          thisIsLeft,
          joiner,
          leftJoin,
        }) as ProcessorSupplier<unknown, unknown, unknown, unknown>,
        stores: [otherStore, joinedStore],
      });
      return name;
    };
    const l = side(this.node, other.storeName, true);
    const r = side(other.node, this.storeName, false);
    const merged = g.nextName('join-merge');
    g.add({
      kind: 'processor',
      name: merged,
      parents: [l, r],
      supplier: passThroughProcessor() as ProcessorSupplier<unknown, unknown, unknown, unknown>,
      stores: [],
    });
    return new KTable<K, J>(this.state, merged, joinedStore, { keySerde, valueSerde });
  }
}
