import { randomUUID } from 'node:crypto';
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
import { applyGlobalRecord } from '../internals/stores/global-store-updater.ts';
import { MemoryBytesStore } from '../internals/stores/memory-bytes-store.ts';
import {
  type AnyStore,
  DecodedKeyValueStore,
  type KeyValueStoreImpl,
  typedStore,
} from '../internals/stores/typed-stores.ts';

/**
 * Global tables: each instance reads every partition of their topics into memory, from the
 * beginning at start (the topic is the changelog, so nothing is kept on disk), and keeps
 * following them. `start` returns once every partition is read to the last stable offset it had
 * when `start` began: every row committed before then, none of a transaction still open. It
 * fails (retriable) when the read stops moving for `stallMs` before that: enriching from a table
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

  constructor(kafka: Kafka, nodes: readonly GlobalStoreNode[], logger: Logger) {
    this.kafka = kafka;
    this.nodes = nodes;
    this.logger = logger;
    for (const n of nodes) {
      // Looked up by every record of the streams they enrich: kept decoded (read-only for processors).
      const store =
        n.store.type === 'key-value'
          ? new DecodedKeyValueStore(n.store, new MemoryBytesStore())
          : typedStore(n.store, new MemoryBytesStore());
      this.stores.set(n.store.name, store as AnyStore);
    }
  }

  async start(admin: Admin, failed: (err: Error) => void, stallMs = 60_000): Promise<void> {
    if (this.nodes.length === 0) return;
    const byTopic = new Map(this.nodes.map((n) => [n.topic, n]));
    const ends = new Map<string, bigint>();
    try {
      for (const topic of byTopic.keys())
        for (const o of await admin.fetchTopicOffsets(topic))
          if (BigInt(o.high) > BigInt(o.low)) ends.set(`${topic}:${o.partition}`, BigInt(o.high));
    } catch (err) {
      throw toCdcError(err, 'reading the ends of the global tables');
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
        const store = this.stores.get(node.store.name) as KeyValueStoreImpl<unknown, unknown>;
        for (const m of batch.messages) {
          await applyGlobalRecord(
            node,
            store,
            {
              topic: batch.topic,
              partition: batch.partition,
              offset: m.offset,
              key: m.key,
              value: m.value,
              timestamp: Number(m.timestamp),
              headers: {},
            },
            this.logger,
          );
        }
      },
    });
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
    this.logger.info('global tables loaded', {
      tables: this.nodes.map((n) => n.store.name),
      ms: Date.now() - started,
    });
  }

  async stop(): Promise<void> {
    await this.consumer?.disconnect();
  }
}
