import { GlobalKTable } from './global-ktable.ts';
import type { BuilderState } from './internals/builder-state.ts';
import { TopologyGraph } from './internals/graph.ts';
import { tableSourceProcessor } from './internals/operators/table-source.ts';
import { KStream } from './kstream.ts';
import { KTable } from './ktable.ts';
import type { Consumed, TableOptions } from './options.ts';
import type { ProcessorSupplier } from './processor.ts';
import { recordTimestamp, type TimestampExtractor } from './record.ts';
import { type Serde, Serdes } from './serde.ts';
import { type StoreSpec, Stores } from './stores.ts';
import { Topology } from './topology.ts';

export interface StreamsBuilderOptions {
  /** Serdes used where none is given (default: JSON). Plug Avro serdes from `@cdc/avro` in here. */
  defaultKeySerde?: Serde<unknown>;
  defaultValueSerde?: Serde<unknown>;
}

/** The entry point of the DSL: declare sources, chain operators, then `build()` a `Topology`. */
export class StreamsBuilder {
  private readonly state: BuilderState;

  constructor(options: StreamsBuilderOptions = {}) {
    this.state = {
      graph: new TopologyGraph(),
      defaultKeySerde: options.defaultKeySerde ?? Serdes.json(),
      defaultValueSerde: options.defaultValueSerde ?? Serdes.json(),
    };
  }

  /** A stream of the records of one or more topics. */
  stream<K, V>(topics: string | readonly string[], consumed: Consumed<K, V> = {}): KStream<K, V> {
    const keySerde = consumed.keySerde ?? (this.state.defaultKeySerde as Serde<K>);
    const valueSerde = consumed.valueSerde ?? (this.state.defaultValueSerde as Serde<V>);
    const name = this.state.graph.nextName('source');
    this.state.graph.add({
      kind: 'source',
      name,
      topics: typeof topics === 'string' ? [topics] : [...topics],
      internal: false,
      keySerde: keySerde as Serde<unknown>,
      valueSerde: valueSerde as Serde<unknown>,
      timestampExtractor: (consumed.timestampExtractor ?? recordTimestamp) as TimestampExtractor,
    });
    return new KStream<K, V>(this.state, name, { keySerde, valueSerde }, false);
  }

  /**
   * A table of the latest value per key of a topic (a CDC topic, typically): tombstones and
   * values that `isDelete` recognizes remove the key.
   */
  table<K, V>(topic: string, options: TableOptions<K, V> = {}): KTable<K, V> {
    const source = this.stream<K, V>(topic, options);
    const keySerde = source.keySerde as Serde<K>;
    const valueSerde = source.valueSerde as Serde<V>;
    const storeName = options.storeName ?? this.state.graph.nextName('table-store');
    this.state.graph.addStore(Stores.keyValue(storeName, keySerde, valueSerde) as StoreSpec);
    const name = this.state.graph.nextName('table');
    this.state.graph.add({
      kind: 'processor',
      name,
      parents: [source.node],
      supplier: tableSourceProcessor<K, V>(storeName, options.isDelete ?? (() => false)) as ProcessorSupplier<
        unknown,
        unknown,
        unknown,
        unknown
      >,
      stores: [storeName],
    });
    return new KTable<K, V>(this.state, name, storeName, { keySerde, valueSerde });
  }

  /** A table of a whole topic in every task, for lookups by a key taken from the value. */
  globalTable<K, V>(topic: string, options: TableOptions<K, V> = {}): GlobalKTable<K, V> {
    const keySerde = options.keySerde ?? (this.state.defaultKeySerde as Serde<K>);
    const valueSerde = options.valueSerde ?? (this.state.defaultValueSerde as Serde<V>);
    const storeName = options.storeName ?? this.state.graph.nextName('global-store');
    this.state.graph.addGlobal({
      kind: 'global',
      name: storeName,
      topic,
      keySerde: keySerde as Serde<unknown>,
      valueSerde: valueSerde as Serde<unknown>,
      store: Stores.keyValue(storeName, keySerde, valueSerde, { logged: false }) as StoreSpec,
      isDelete: (options.isDelete ?? (() => false)) as (value: unknown) => boolean,
    });
    return new GlobalKTable<K, V>(storeName, topic);
  }

  /** A store for custom processors (`KStream.process(supplier, { stores: [name] })`). */
  addStateStore(spec: StoreSpec<unknown, unknown> | StoreSpec<never, never>): this {
    this.state.graph.addStore(spec as StoreSpec);
    return this;
  }

  build(): Topology {
    return Topology.compile(this.state.graph);
  }
}
