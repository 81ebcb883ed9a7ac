import { type Logger, noopLogger } from '@cdc/core';
import { defaultErrorHandlers, type ErrorHandlers } from '../error-handlers.ts';
import { withChangelog } from '../internals/stores/bytes-store.ts';
import { applyGlobalRecord } from '../internals/stores/global-store-updater.ts';
import { MemoryBytesStore } from '../internals/stores/memory-bytes-store.ts';
import {
  type AnyStore,
  DecodedKeyValueStore,
  type KeyValueStoreImpl,
  typedStore,
} from '../internals/stores/typed-stores.ts';
import {
  newMetrics,
  type OutgoingRecord,
  type RawRecord,
  type StreamsMetrics,
  StreamTask,
} from '../internals/task.ts';
import type { Headers } from '../record.ts';
import { type Serde, Serdes } from '../serde.ts';
import type { KeyValueStore, SessionStore, WindowStore } from '../stores.ts';
import type { Topology } from '../topology.ts';

export interface TopologyTestDriverOptions {
  /** Prefix of internal topics (repartition, changelog), as in the runtime. Default `test`. */
  applicationId?: string;
  /** Initial wall-clock time (ms); it moves only with `advanceWallClockTime`. Default 0. */
  wallClockMs?: number;
  errorHandlers?: Partial<ErrorHandlers>;
  logger?: Logger;
  /**
   * Commit after every input record (default true): what processors hold back (`flush`) comes
   * out before `pipeInput` resolves. False: only `commit()` flushes, as the runtime's commit
   * interval would, for testing processors that combine records between commits.
   */
  commitEachRecord?: boolean;
}

/** A record the topology wrote, deserialized. */
export interface TestRecord<K, V> {
  key: K | null;
  value: V | null;
  timestamp: number;
  headers: Headers;
}

export interface TestInputTopic<K, V> {
  /** Pipes one record and everything it causes (repartitioned records included) through the topology. */
  pipeInput(key: K | null, value: V | null, timestamp?: number, headers?: Headers): Promise<void>;
  pipeRecords(
    records: readonly { key: K | null; value: V | null; timestamp?: number; headers?: Headers }[],
  ): Promise<void>;
}

export interface TestOutputTopic<K, V> {
  /** Takes the oldest unread record (undefined when there is none). */
  readRecord(): TestRecord<K, V> | undefined;
  readRecords(): TestRecord<K, V>[];
  readValues(): (V | null)[];
  /** The last value per key of the unread records (a `null` value removes the key). */
  readKeyValuesToMap(): Map<K, V>;
  isEmpty(): boolean;
}

/**
 * Runs a topology with no broker: one task per subtopology on partition 0, in-memory stores
 * behind the same interface as LevelDB, a wall clock that moves only when told to, outputs
 * kept per topic. Internal repartition topics are fed back at once, so a record and all its
 * consequences are processed by the time `pipeInput` resolves.
 *
 *   const driver = new TopologyTestDriver(builder.build());
 *   const input = driver.createInputTopic('clicks', Serdes.string(), Serdes.json());
 *   await input.pipeInput('alice', { page: '/' }, 1_000);
 *   driver.createOutputTopic('counts', Serdes.string(), Serdes.number()).readRecords();
 */
export class TopologyTestDriver {
  private readonly applicationId: string;
  private readonly commitEachRecord: boolean;
  private readonly logger: Logger;
  private wallClock: number;
  private readonly tasks: StreamTask[] = [];
  private readonly taskByTopic = new Map<string, StreamTask>();
  private readonly stores = new Map<string, AnyStore>();
  private readonly globalByTopic = new Map<
    string,
    { node: Topology['globals'][number]; store: KeyValueStoreImpl<unknown, unknown> }
  >();
  private readonly outputs = new Map<string, OutgoingRecord[]>();
  private readonly changelogs = new Map<string, { key: Buffer; value: Buffer | null }[]>();
  private readonly internalQueue: OutgoingRecord[] = [];
  private readonly offsets = new Map<string, number>();
  private readonly ready: Promise<void>;
  readonly metrics: StreamsMetrics = newMetrics();

  constructor(topology: Topology, options: TopologyTestDriverOptions = {}) {
    this.applicationId = options.applicationId ?? 'test';
    this.commitEachRecord = options.commitEachRecord ?? true;
    this.logger = options.logger ?? noopLogger;
    this.wallClock = options.wallClockMs ?? 0;
    const handlers = { ...defaultErrorHandlers, ...options.errorHandlers };
    const globalStores = new Map<string, AnyStore>();
    for (const g of topology.globals) {
      // As the Kafka runtime keeps them (global-tables.ts): reads kept decoded.
      const store: KeyValueStoreImpl<unknown, unknown> =
        g.store.type === 'key-value'
          ? new DecodedKeyValueStore(g.store, new MemoryBytesStore())
          : (typedStore(g.store, new MemoryBytesStore()) as KeyValueStoreImpl<unknown, unknown>);
      globalStores.set(g.store.name, store);
      this.stores.set(g.store.name, store);
      this.globalByTopic.set(g.topic, { node: g, store });
    }
    for (const st of topology.subtopologies) {
      const id = `${st.id}_0`;
      const stores = new Map<string, AnyStore>();
      for (const spec of st.stores) {
        const log: { key: Buffer; value: Buffer | null }[] = [];
        this.changelogs.set(spec.name, log);
        const bytes = spec.logged
          ? withChangelog(new MemoryBytesStore(), (key, value) => log.push({ key, value }))
          : new MemoryBytesStore();
        const store = typedStore(spec, bytes);
        stores.set(spec.name, store);
        this.stores.set(spec.name, store);
      }
      const task = new StreamTask({
        id,
        partition: 0,
        subtopology: st,
        stores,
        globalStores,
        collector: { send: (r) => this.collect(r) },
        topicName: (t, internal) => this.topicName(t, internal),
        wallClock: () => this.wallClock,
        handlers,
        logger: this.logger,
        metrics: this.metrics,
      });
      for (const t of task.inputTopics) this.taskByTopic.set(t, task);
      this.tasks.push(task);
    }
    this.ready = (async () => {
      for (const t of this.tasks) await t.init();
    })();
  }

  private topicName(topic: string, internal: boolean): string {
    return internal ? `${this.applicationId}-${topic}` : topic;
  }

  private collect(record: OutgoingRecord): void {
    if (this.taskByTopic.has(record.topic) && record.topic.startsWith(`${this.applicationId}-`)) {
      this.internalQueue.push(record);
      return;
    }
    const list = this.outputs.get(record.topic) ?? [];
    list.push(record);
    this.outputs.set(record.topic, list);
  }

  private nextOffset(topic: string): string {
    const o = this.offsets.get(topic) ?? 0;
    this.offsets.set(topic, o + 1);
    return String(o);
  }

  /** Pipes raw bytes into `topic` (for testing deserialization failures). */
  async pipeRaw(
    topic: string,
    key: Buffer | null,
    value: Buffer | null,
    timestamp = this.wallClock,
    headers: Headers = {},
  ): Promise<void> {
    await this.ready;
    const raw: RawRecord = {
      topic,
      partition: 0,
      offset: this.nextOffset(topic),
      key,
      value,
      timestamp,
      headers,
    };
    const global = this.globalByTopic.get(topic);
    if (global) {
      await applyGlobalRecord(global.node, global.store, raw, this.logger);
      return;
    }
    const task = this.taskByTopic.get(topic);
    if (!task) throw new Error(`no part of the topology reads topic ${topic}`);
    await task.process(raw);
    // As if every record were committed on its own: nothing stays held back.
    if (this.commitEachRecord) await task.flush();
    await this.drainInternal();
  }

  /** Flushes what every task's processors hold back (as before a commit) and processes it. */
  async commit(): Promise<void> {
    await this.ready;
    for (const t of this.tasks) {
      await t.flush();
      await this.drainInternal();
    }
  }

  private async drainInternal(): Promise<void> {
    while (this.internalQueue.length > 0) {
      const r = this.internalQueue.shift() as OutgoingRecord;
      const next = this.taskByTopic.get(r.topic) as StreamTask;
      await next.process({
        topic: r.topic,
        partition: 0,
        offset: this.nextOffset(r.topic),
        key: r.key,
        value: r.value,
        timestamp: r.timestamp,
        headers: r.headers ?? {},
      });
      if (this.commitEachRecord) await next.flush();
    }
  }

  createInputTopic<K, V>(
    topic: string,
    keySerde: Serde<K> = Serdes.json(),
    valueSerde: Serde<V> = Serdes.json(),
  ): TestInputTopic<K, V> {
    const pipeInput = (key: K | null, value: V | null, timestamp?: number, headers?: Headers) =>
      this.pipeRaw(
        topic,
        keySerde.serialize(topic, key),
        valueSerde.serialize(topic, value),
        timestamp ?? this.wallClock,
        headers ?? {},
      );
    return {
      pipeInput,
      async pipeRecords(records) {
        for (const r of records) await pipeInput(r.key, r.value, r.timestamp, r.headers);
      },
    };
  }

  createOutputTopic<K, V>(
    topic: string,
    keySerde: Serde<K> = Serdes.json(),
    valueSerde: Serde<V> = Serdes.json(),
  ): TestOutputTopic<K, V> {
    const take = (): OutgoingRecord[] => {
      const list = this.outputs.get(topic) ?? [];
      this.outputs.set(topic, []);
      return list;
    };
    const decode = (r: OutgoingRecord): TestRecord<K, V> => ({
      key: keySerde.deserialize(topic, r.key),
      value: valueSerde.deserialize(topic, r.value),
      timestamp: r.timestamp,
      headers: r.headers ?? {},
    });
    return {
      readRecord: () => {
        const list = this.outputs.get(topic) ?? [];
        const r = list.shift();
        return r === undefined ? undefined : decode(r);
      },
      readRecords: () => take().map(decode),
      readValues: () => take().map((r) => decode(r).value),
      readKeyValuesToMap: () => {
        const m = new Map<K, V>();
        for (const r of take().map(decode)) {
          if (r.value === null) m.delete(r.key as K);
          else m.set(r.key as K, r.value);
        }
        return m;
      },
      isEmpty: () => (this.outputs.get(topic) ?? []).length === 0,
    };
  }

  /** Moves the wall clock and fires the wall-clock punctuations that fall due. */
  async advanceWallClockTime(ms: number): Promise<void> {
    await this.ready;
    this.wallClock += ms;
    for (const t of this.tasks) await t.punctuateWallClock(this.wallClock);
  }

  get wallClockTime(): number {
    return this.wallClock;
  }

  private store(name: string): AnyStore {
    const s = this.stores.get(name);
    if (!s)
      throw new Error(
        `no store named ${name}; the topology has ${[...this.stores.keys()].join(', ') || 'none'}`,
      );
    return s;
  }

  getKeyValueStore<K, V>(name: string): KeyValueStore<K, V> {
    return this.store(name) as unknown as KeyValueStore<K, V>;
  }

  getWindowStore<K, V>(name: string): WindowStore<K, V> {
    return this.store(name) as unknown as WindowStore<K, V>;
  }

  getSessionStore<K, V>(name: string): SessionStore<K, V> {
    return this.store(name) as unknown as SessionStore<K, V>;
  }

  /** Every change a logged store wrote (what the runtime sends to its changelog topic). */
  changelog(storeName: string): readonly { key: Buffer; value: Buffer | null }[] {
    return this.changelogs.get(storeName) ?? [];
  }

  /** The topics the topology wrote to and how many records each holds unread. */
  producedTopics(): Map<string, number> {
    return new Map([...this.outputs].map(([t, l]) => [t, l.length]));
  }

  async close(): Promise<void> {
    await this.ready;
    for (const t of this.tasks) await t.close();
  }
}
