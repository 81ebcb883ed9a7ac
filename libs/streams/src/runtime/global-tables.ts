import { randomUUID } from 'node:crypto';
import { mkdir, rm, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { CdcError, type Logger } from '@cdc/core';
import {
  type Admin,
  type Consumer,
  type Kafka,
  onConsumerGaveUp,
  toCdcError,
  trackReadToEnd,
} from '@cdc/kafka';
import type { GlobalStoreNode } from '../internals/graph.ts';
import { applyGlobalRecord, readGlobalRecord } from '../internals/stores/global-store-updater.ts';
import { LevelBytesStore } from '../internals/stores/level-bytes-store.ts';
import { MemoryBytesStore } from '../internals/stores/memory-bytes-store.ts';
import {
  type AnyStore,
  DecodedKeyValueStore,
  type KeyValueStoreImpl,
  typedStore,
} from '../internals/stores/typed-stores.ts';
import type { RawRecord } from '../internals/task.ts';
import { readCheckpointFile, syncFolder, writeCheckpoint } from './checkpoint.ts';

/** Bumped when what a persistent global store holds changes meaning: older folders are reloaded. */
const FORMAT = 1;

interface GlobalCheckpoint {
  format: number;
  /** Store name → topic. */
  stores: Record<string, string>;
  /** `topic:partition` → the next offset to read: the stores hold every record before it. */
  offsets: Record<string, number>;
}

export interface GlobalTablesOptions {
  /**
   * A folder of this instance's own (under its state directory): the tables are kept there in
   * LevelDB, with a checkpoint of the offsets they hold, so that a restart reads only what was
   * written since. Without it they are held in memory and read whole at every start.
   */
  dir?: string;
  /** How often the checkpoint is written while the tables follow their topics (and at `stop`). */
  checkpointIntervalMs?: number;
}

function lockedBy(err: unknown): boolean {
  for (let e = err as { code?: unknown; cause?: unknown } | undefined; e; e = e.cause as typeof e)
    if (e.code === 'LEVEL_LOCKED') return true;
  return false;
}

/**
 * Global tables: each instance reads every partition of their topics and keeps following them.
 * With a folder (`dir`, as the runtime gives it under the state directory) each table is a
 * LevelDB store there, looked up through a bounded cache of decoded rows, and a checkpoint of
 * the offsets the stores hold is written every `checkpointIntervalMs` and at `stop`: a restart
 * reads only the records written since, and a table larger than memory costs disk, not heap,
 * as Kafka Streams keeps its global stores in RocksDB. Records are applied in offset order per
 * partition, and a restart after a crash re-applies those past the last checkpoint, which leaves
 * the same rows (a CDC topic keeps each key in one partition). A checkpoint that the topic no
 * longer matches (a partition's log now starts past it or ends before it: the topic was
 * recreated or its retention removed records) reloads the tables whole. Without a folder they
 * are held in memory and read whole at every start.
 *
 * `start` returns once every partition is read to the last stable offset it had when `start`
 * began: every row committed before then, none of a transaction still open. It fails
 * (retriable) when the read stops moving for `stallMs` before that: enriching from a table
 * half loaded would be wrong without anyone knowing, and a join does not re-emit.
 * Lookups see the table as of the moment of the lookup: there is no time synchronization with
 * the stream being enriched (as in Kafka Streams). A consumer kafkajs gave up on is reported to
 * `failed`: tables that stopped following their topics would enrich with stale rows unseen.
 */
export class GlobalTables {
  readonly stores = new Map<string, AnyStore>();
  private consumer: Consumer | undefined;
  private readonly nodes: readonly GlobalStoreNode[];
  private readonly kafka: Kafka;
  private readonly logger: Logger;
  private readonly options: GlobalTablesOptions;
  /** Store name → topic: what a checkpoint must name to be this folder's. */
  private readonly identity: Record<string, string>;
  /** Persistent tables: each store's LevelDB engine. */
  private readonly engines = new Map<string, LevelBytesStore>();
  /** Persistent tables: per `topic:partition`, the next offset to read (the stores hold all before). */
  private readonly positions = new Map<string, number>();
  private written = '';
  /** The checkpoint write under way (the timer's and the one at `stop` never overlap). */
  private checkpointing: Promise<void> = Promise.resolve();
  private timer: NodeJS.Timeout | undefined;
  private records = 0;

  constructor(
    kafka: Kafka,
    nodes: readonly GlobalStoreNode[],
    logger: Logger,
    options: GlobalTablesOptions = {},
  ) {
    this.kafka = kafka;
    this.nodes = nodes;
    this.logger = logger;
    this.options = options;
    this.identity = Object.fromEntries(nodes.map((n) => [n.store.name, n.topic]));
    if (options.dir !== undefined) return; // the stores open in `start`
    for (const n of nodes) {
      // Looked up by every record of the streams they enrich: kept decoded (read-only for processors).
      const store =
        n.store.type === 'key-value'
          ? new DecodedKeyValueStore(n.store, new MemoryBytesStore())
          : typedStore(n.store, new MemoryBytesStore());
      this.stores.set(n.store.name, store as AnyStore);
    }
  }

  /** Records read from the tables' topics since `start` began. */
  get recordsRead(): number {
    return this.records;
  }

  async start(admin: Admin, failed: (err: Error) => void, stallMs = 60_000): Promise<void> {
    if (this.nodes.length === 0) return;
    const byTopic = new Map(this.nodes.map((n) => [n.topic, n]));
    /** Per `topic:partition`: where its log starts and ends. */
    const logs = new Map<string, { partition: number; low: bigint; high: bigint }>();
    try {
      for (const topic of byTopic.keys())
        for (const o of await admin.fetchTopicOffsets(topic))
          logs.set(`${topic}:${o.partition}`, {
            partition: o.partition,
            low: BigInt(o.low),
            high: BigInt(o.high),
          });
    } catch (err) {
      throw toCdcError(err, 'reading the ends of the global tables');
    }
    const from = this.options.dir === undefined ? new Map<string, number>() : await this.openStores(logs);
    const ends = new Map<string, bigint>();
    for (const [key, { low, high }] of logs) {
      const start = BigInt(from.get(key) ?? 0);
      if (high > (start > low ? start : low)) ends.set(key, high);
    }
    const consumer = this.kafka.consumer({
      groupId: `cdc-global-${randomUUID()}`,
      readUncommitted: false,
      maxWaitTimeInMs: 200,
    });
    this.consumer = consumer;
    let loaded = false;
    const tracker = trackReadToEnd(consumer, ends, () => {
      loaded = true;
    });
    let gaveUp: Error | undefined;
    onConsumerGaveUp(consumer, 'following the global tables', (err) => {
      if (loaded) failed(err);
      else gaveUp = err;
    });
    await consumer.connect();
    await consumer.subscribe({ topics: [...byTopic.keys()], fromBeginning: true });
    await consumer.run({
      autoCommit: false,
      eachBatch: async ({ batch }) => {
        const node = byTopic.get(batch.topic) as GlobalStoreNode;
        const raws = batch.messages.map(
          (m): RawRecord => ({
            topic: batch.topic,
            partition: batch.partition,
            offset: m.offset,
            key: m.key,
            value: m.value,
            timestamp: Number(m.timestamp),
            headers: {},
          }),
        );
        this.records += raws.length;
        const engine = this.engines.get(node.store.name);
        if (engine === undefined) {
          const store = this.stores.get(node.store.name) as KeyValueStoreImpl<unknown, unknown>;
          for (const raw of raws) await applyGlobalRecord(node, store, raw, this.logger);
          return;
        }
        await this.applyBatch(node, engine, raws);
        this.positions.set(`${batch.topic}:${batch.partition}`, Number(batch.lastOffset()) + 1);
      },
    });
    for (const [key, offset] of from) {
      const log = logs.get(key);
      if (log !== undefined && offset > 0)
        consumer.seek({
          topic: key.slice(0, key.lastIndexOf(':')),
          partition: log.partition,
          offset: String(offset),
        });
    }
    const started = Date.now();
    while (!loaded) {
      if (gaveUp) throw gaveUp;
      if (Date.now() - tracker.lastProgressAt() > stallMs)
        throw new CdcError(
          'KAFKA_UNAVAILABLE',
          `loading the global tables stopped moving for ${stallMs} ms before their end (read/end: ${tracker.behind().join(', ')}); the processor starts again`,
          { retriable: true },
        );
      await new Promise((r) => setTimeout(r, 10));
    }
    if (this.options.dir !== undefined) {
      await this.checkpoint();
      this.timer = setInterval(() => {
        this.checkpoint().catch((err: unknown) =>
          this.logger.warn('writing the checkpoint of the global tables failed; the next start reads more', {
            err,
          }),
        );
      }, this.options.checkpointIntervalMs ?? 10_000);
      this.timer.unref();
    }
    this.logger.info('global tables loaded', {
      tables: this.nodes.map((n) => n.store.name),
      ms: Date.now() - started,
      records: this.records,
      ...(this.options.dir === undefined ? {} : { fromCheckpoint: from.size > 0 }),
    });
  }

  /**
   * Opens the persistent stores, and returns where to read each partition from: the
   * checkpoint's offsets when the folder has a checkpoint that the topics still match; nothing
   * (read from the beginning) after the folder is wiped otherwise.
   */
  private async openStores(
    logs: ReadonlyMap<string, { low: bigint; high: bigint }>,
  ): Promise<Map<string, number>> {
    const dir = this.options.dir as string;
    const from = new Map<string, number>();
    const checkpoint = (await readCheckpointFile(dir)) as Partial<GlobalCheckpoint> | null | undefined;
    let why: string | undefined;
    if (typeof checkpoint !== 'object' || checkpoint === null) why = 'no checkpoint';
    else if (
      checkpoint.format !== FORMAT ||
      JSON.stringify(checkpoint.stores) !== JSON.stringify(this.identity)
    )
      why = 'the tables changed';
    else {
      for (const [key, { low, high }] of logs) {
        const at = checkpoint.offsets?.[key] ?? 0;
        if (BigInt(at) > high || (at > 0 && BigInt(at) < low)) why = `${key} no longer holds offset ${at}`;
        else from.set(key, at);
      }
    }
    const missing = async (store: string) =>
      stat(join(dir, store)).then(
        () => false,
        () => true,
      );
    for (const n of this.nodes)
      if (why === undefined && (await missing(n.store.name)))
        why = `the folder of ${n.store.name} is missing`;
    if (why !== undefined) {
      from.clear();
      if (why !== 'no checkpoint') this.logger.info('global tables are read whole', { reason: why });
      await rm(dir, { recursive: true, force: true });
    }
    await mkdir(dir, { recursive: true });
    for (const n of this.nodes) {
      let engine: LevelBytesStore;
      try {
        engine = await LevelBytesStore.open(join(dir, n.store.name));
      } catch (err) {
        // Retriable: a previous attempt of this process may still be closing them.
        if (lockedBy(err))
          throw new CdcError(
            'STATE_STORE_FAILED',
            `the global tables at ${dir} are in use by another process (or an attempt still closing): give each instance its own processing.stateDir`,
            { cause: err, retriable: true },
          );
        throw err;
      }
      this.engines.set(n.store.name, engine);
      this.stores.set(n.store.name, new DecodedKeyValueStore(n.store, engine) as AnyStore);
    }
    for (const [key, at] of from) this.positions.set(key, at);
    return from;
  }

  /** A fetched batch of one table, in one LevelDB write; the decoded rows of its keys are dropped after it. */
  private async applyBatch(
    node: GlobalStoreNode,
    engine: LevelBytesStore,
    raws: readonly RawRecord[],
  ): Promise<void> {
    const store = this.stores.get(node.store.name) as DecodedKeyValueStore<unknown, unknown>;
    const { keySerde, valueSerde, name } = node.store;
    const entries: [Buffer, Buffer | null][] = [];
    const keys: unknown[] = [];
    for (const raw of raws) {
      const row = await readGlobalRecord(node, raw, this.logger);
      if (row === undefined) continue;
      const key = keySerde.serialize(name, row.key);
      if (key === null) continue;
      entries.push([key, row.value === null ? null : valueSerde.serialize(name, row.value)]);
      keys.push(row.key);
    }
    if (entries.length === 0) return;
    await engine.write(entries);
    // After the write: a lookup meanwhile read the old row, which must not stay cached.
    for (const k of keys) store.forget(k);
  }

  /** Writes the offsets the persistent stores hold (when they moved), one write at a time. */
  private checkpoint(): Promise<void> {
    const next = this.checkpointing.then(
      () => this.writeCheckpoint(),
      () => this.writeCheckpoint(),
    );
    this.checkpointing = next;
    return next;
  }

  private async writeCheckpoint(): Promise<void> {
    const dir = this.options.dir;
    if (dir === undefined || this.engines.size === 0) return;
    const body: GlobalCheckpoint = {
      format: FORMAT,
      stores: this.identity,
      offsets: Object.fromEntries(this.positions),
    };
    const text = JSON.stringify(body);
    if (text === this.written) return;
    // The stores hold at least what `body` says (positions move after their writes): on disk first.
    for (const e of this.engines.values()) await syncFolder(e.location);
    await writeCheckpoint(dir, body);
    this.written = text;
  }

  async stop(): Promise<void> {
    if (this.timer) clearInterval(this.timer);
    await this.consumer
      ?.disconnect()
      .catch((err: unknown) => this.logger.warn('disconnecting the global tables consumer failed', { err }));
    if (this.engines.size === 0) return;
    try {
      await this.checkpoint();
    } finally {
      for (const e of this.engines.values()) await e.close().catch(() => {});
      this.engines.clear();
    }
  }
}
