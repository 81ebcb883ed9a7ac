import type { GlobalKTable } from './global-ktable.ts';
import type { BuilderState } from './internals/builder-state.ts';
import { filterProcessor } from './internals/operators/filter.ts';
import { flatMapProcessor } from './internals/operators/flat-map.ts';
import { mapProcessor } from './internals/operators/map.ts';
import { mapValuesProcessor } from './internals/operators/map-values.ts';
import { passThroughProcessor } from './internals/operators/pass-through.ts';
import { peekProcessor } from './internals/operators/peek.ts';
import { selectKeyProcessor } from './internals/operators/select-key.ts';
import { splitProcessor } from './internals/operators/split.ts';
import { streamGlobalJoinProcessor } from './internals/operators/stream-global-join.ts';
import { streamTableJoinProcessor } from './internals/operators/stream-table-join.ts';
import { KGroupedStream } from './kgrouped-stream.ts';
import type { KTable } from './ktable.ts';
import type { Grouped, Produced } from './options.ts';
import type { ProcessorSupplier } from './processor.ts';
import { recordTimestamp } from './record.ts';
import type { Serde } from './serde.ts';

/**
 * An unbounded stream of records. Every method adds nodes to the topology graph and returns a
 * new stream; nothing runs until the built topology is given to a runtime or the test driver.
 */
export class KStream<K, V> {
  /** @internal */ readonly state: BuilderState;
  /** @internal */ readonly node: string;
  /** @internal */ readonly keySerde: Serde<K> | undefined;
  /** @internal */ readonly valueSerde: Serde<V> | undefined;
  /** @internal True once the key may have changed: grouping and joins repartition first. */
  readonly keyChanged: boolean;

  /** @internal */
  constructor(
    state: BuilderState,
    node: string,
    serdes: { keySerde?: Serde<K>; valueSerde?: Serde<V> },
    keyChanged: boolean,
  ) {
    this.state = state;
    this.node = node;
    this.keySerde = serdes.keySerde;
    this.valueSerde = serdes.valueSerde;
    this.keyChanged = keyChanged;
  }

  private child<KR, VR>(
    prefix: string,
    supplier: ProcessorSupplier<K, V, KR, VR>,
    serdes: { keySerde?: Serde<KR>; valueSerde?: Serde<VR> },
    keyChanged: boolean,
    stores: string[] = [],
  ): KStream<KR, VR> {
    const name = this.state.graph.nextName(prefix);
    this.state.graph.add({
      kind: 'processor',
      name,
      parents: [this.node],
      supplier: supplier as ProcessorSupplier<unknown, unknown, unknown, unknown>,
      stores,
    });
    return new KStream(this.state, name, serdes, keyChanged);
  }

  private same(): { keySerde?: Serde<K>; valueSerde?: Serde<V> } {
    return {
      ...(this.keySerde ? { keySerde: this.keySerde } : {}),
      ...(this.valueSerde ? { valueSerde: this.valueSerde } : {}),
    };
  }

  private sameKey(): { keySerde?: Serde<K> } {
    return this.keySerde ? { keySerde: this.keySerde } : {};
  }

  filter(predicate: (key: K, value: V) => boolean): KStream<K, V> {
    return this.child('filter', filterProcessor(predicate), this.same(), this.keyChanged);
  }

  filterNot(predicate: (key: K, value: V) => boolean): KStream<K, V> {
    return this.filter((k, v) => !predicate(k, v));
  }

  map<KR, VR>(mapper: (key: K, value: V) => { key: KR; value: VR }): KStream<KR, VR> {
    return this.child('map', mapProcessor(mapper), {}, true);
  }

  mapValues<VR>(mapper: (value: V, key: K) => VR): KStream<K, VR> {
    return this.child('map-values', mapValuesProcessor(mapper), this.sameKey(), this.keyChanged);
  }

  flatMap<KR, VR>(mapper: (key: K, value: V) => Iterable<{ key: KR; value: VR }>): KStream<KR, VR> {
    return this.child('flat-map', flatMapProcessor(mapper), {}, true);
  }

  flatMapValues<VR>(mapper: (value: V, key: K) => Iterable<VR>): KStream<K, VR> {
    return this.child(
      'flat-map-values',
      flatMapProcessor<K, V, K, VR>((key, value) => [...mapper(value, key)].map((v) => ({ key, value: v }))),
      this.sameKey(),
      this.keyChanged,
    );
  }

  selectKey<KR>(selector: (key: K, value: V) => KR): KStream<KR, V> {
    return this.child(
      'select-key',
      selectKeyProcessor(selector),
      this.valueSerde ? { valueSerde: this.valueSerde } : {},
      true,
    );
  }

  peek(action: (key: K, value: V) => void): KStream<K, V> {
    return this.child('peek', peekProcessor(action), this.same(), this.keyChanged);
  }

  /** Routes each record to the first matching branch: `split().branch('big', p).defaultBranch()`. */
  split(): BranchedStreams<K, V> {
    return new BranchedStreams(this);
  }

  merge(other: KStream<K, V>): KStream<K, V> {
    const name = this.state.graph.nextName('merge');
    this.state.graph.add({
      kind: 'processor',
      name,
      parents: [this.node, other.node],
      supplier: passThroughProcessor() as ProcessorSupplier<unknown, unknown, unknown, unknown>,
      stores: [],
    });
    return new KStream(this.state, name, this.same(), this.keyChanged || other.keyChanged);
  }

  /** A custom processor (see `Processor`); `stores` names the stores it uses (add them with `addStateStore`). */
  process<KR, VR>(
    supplier: ProcessorSupplier<K, V, KR, VR>,
    options: { stores?: string[] } = {},
  ): KStream<KR, VR> {
    return this.child('process', supplier, {}, true, options.stores ?? []);
  }

  to(topic: string, produced: Produced<K, V> = {}): void {
    this.state.graph.add({
      kind: 'sink',
      name: this.state.graph.nextName('sink'),
      parents: [this.node],
      topic,
      internal: false,
      keySerde: (produced.keySerde ?? this.keySerde ?? this.state.defaultKeySerde) as Serde<unknown>,
      valueSerde: (produced.valueSerde ?? this.valueSerde ?? this.state.defaultValueSerde) as Serde<unknown>,
    });
  }

  /**
   * Writes the stream to an internal topic `<applicationId>-<name>-repartition` and reads it
   * back, so that records are partitioned by their current key.
   */
  repartition(grouped: Grouped<K, V> = {}): KStream<K, V> {
    const g = this.state.graph;
    const base = grouped.name ?? g.nextName('repartition');
    const topic = `${base}-repartition`;
    const keySerde = (grouped.keySerde ?? this.keySerde ?? this.state.defaultKeySerde) as Serde<unknown>;
    const valueSerde = (grouped.valueSerde ??
      this.valueSerde ??
      this.state.defaultValueSerde) as Serde<unknown>;
    g.add({
      kind: 'sink',
      name: `${base}-sink`,
      parents: [this.node],
      topic,
      internal: true,
      keySerde,
      valueSerde,
    });
    const source = `${base}-source`;
    g.add({
      kind: 'source',
      name: source,
      topics: [topic],
      internal: true,
      keySerde,
      valueSerde,
      timestampExtractor: recordTimestamp,
    });
    return new KStream(
      this.state,
      source,
      { keySerde: keySerde as Serde<K>, valueSerde: valueSerde as Serde<V> },
      false,
    );
  }

  /** Groups by the current key (repartitioning first if the key was changed upstream). */
  groupByKey(grouped: Grouped<K, V> = {}): KGroupedStream<K, V> {
    const stream = this.keyChanged ? this.repartition(grouped) : this;
    return new KGroupedStream(stream, {
      ...((grouped.keySerde ?? stream.keySerde)
        ? { keySerde: (grouped.keySerde ?? stream.keySerde) as Serde<K> }
        : {}),
      ...((grouped.valueSerde ?? stream.valueSerde)
        ? { valueSerde: (grouped.valueSerde ?? stream.valueSerde) as Serde<V> }
        : {}),
    });
  }

  /** Groups by a new key, through a repartition topic. */
  groupBy<KR>(selector: (key: K, value: V) => KR, grouped: Grouped<KR, V> = {}): KGroupedStream<KR, V> {
    return this.selectKey(selector).groupByKey(grouped);
  }

  private joinable(): KStream<K, V> {
    return this.keyChanged ? this.repartition() : this;
  }

  /** Stream–table inner join on the key: records with no row in the table are dropped. */
  join<T, R>(table: KTable<K, T>, joiner: (value: V, tableValue: T, key: K) => R): KStream<K, R> {
    const s = this.joinable();
    return s.child(
      'join',
      streamTableJoinProcessor(table.storeName, joiner as (v: V, t: T | null, k: K) => R, false),
      s.sameKey(),
      false,
      [table.storeName],
    );
  }

  /** Stream–table left join on the key: records with no row are joined with `null`. */
  leftJoin<T, R>(table: KTable<K, T>, joiner: (value: V, tableValue: T | null, key: K) => R): KStream<K, R> {
    const s = this.joinable();
    return s.child('left-join', streamTableJoinProcessor(table.storeName, joiner, true), s.sameKey(), false, [
      table.storeName,
    ]);
  }

  /** Stream–global-table join by a key taken from the record (no co-partitioning needed). */
  joinGlobal<GK, T, R>(
    table: GlobalKTable<GK, T>,
    keySelector: (key: K, value: V) => GK | null,
    joiner: (value: V, tableValue: T, key: K) => R,
  ): KStream<K, R> {
    return this.child(
      'global-join',
      streamGlobalJoinProcessor(
        table.storeName,
        keySelector,
        joiner as (v: V, t: T | null, k: K) => R,
        false,
      ),
      this.sameKey(),
      this.keyChanged,
      [table.storeName],
    );
  }

  leftJoinGlobal<GK, T, R>(
    table: GlobalKTable<GK, T>,
    keySelector: (key: K, value: V) => GK | null,
    joiner: (value: V, tableValue: T | null, key: K) => R,
  ): KStream<K, R> {
    return this.child(
      'global-left-join',
      streamGlobalJoinProcessor(table.storeName, keySelector, joiner, true),
      this.sameKey(),
      this.keyChanged,
      [table.storeName],
    );
  }
}

/** Collects branches; `defaultBranch()` or `noDefaultBranch()` ends it and returns the streams by name. */
export class BranchedStreams<K, V> {
  private readonly parent: KStream<K, V>;
  private readonly branches: { name: string; predicate?: (key: K, value: V) => boolean }[] = [];

  /** @internal */
  constructor(parent: KStream<K, V>) {
    this.parent = parent;
  }

  branch(name: string, predicate: (key: K, value: V) => boolean): this {
    if (this.branches.some((b) => b.name === name)) throw new Error(`branch ${name} is defined twice`);
    this.branches.push({ name, predicate });
    return this;
  }

  defaultBranch(name = 'default'): Record<string, KStream<K, V>> {
    this.branches.push({ name });
    return this.done();
  }

  noDefaultBranch(): Record<string, KStream<K, V>> {
    return this.done();
  }

  private done(): Record<string, KStream<K, V>> {
    const p = this.parent;
    const g = p.state.graph;
    const splitName = g.nextName('split');
    const specs = this.branches.map((b) => ({ ...b, child: `${splitName}-${b.name}` }));
    g.add({
      kind: 'processor',
      name: splitName,
      parents: [p.node],
      supplier: splitProcessor(specs) as ProcessorSupplier<unknown, unknown, unknown, unknown>,
      stores: [],
    });
    const out: Record<string, KStream<K, V>> = {};
    for (const b of specs) {
      g.add({
        kind: 'processor',
        name: b.child,
        parents: [splitName],
        supplier: passThroughProcessor() as ProcessorSupplier<unknown, unknown, unknown, unknown>,
        stores: [],
      });
      out[b.name] = new KStream<K, V>(
        p.state,
        b.child,
        {
          ...(p.keySerde ? { keySerde: p.keySerde } : {}),
          ...(p.valueSerde ? { valueSerde: p.valueSerde } : {}),
        },
        p.keyChanged,
      );
    }
    return out;
  }
}
