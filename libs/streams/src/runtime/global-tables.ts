import { randomUUID } from 'node:crypto';
import type { Logger } from '@cdc/core';
import { type Admin, type Consumer, type Kafka, onConsumerGaveUp } from '@cdc/kafka';
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
 * following them. `start` returns once each table has caught up with its topic's end.
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

  async start(admin: Admin, failed: (err: Error) => void, timeoutMs = 60_000): Promise<void> {
    if (this.nodes.length === 0) return;
    const byTopic = new Map(this.nodes.map((n) => [n.topic, n]));
    const targets = new Map<string, number>();
    for (const topic of byTopic.keys()) {
      for (const o of await admin.fetchTopicOffsets(topic))
        targets.set(`${topic}:${o.partition}`, Number(o.high));
    }
    const positions = new Map<string, number>();
    const consumer = this.kafka.consumer({
      groupId: `cdc-global-${randomUUID()}`,
      readUncommitted: false,
      maxWaitTimeInMs: 200,
    });
    this.consumer = consumer;
    onConsumerGaveUp(consumer, 'following the global tables', failed);
    await consumer.connect();
    await consumer.subscribe({ topics: [...byTopic.keys()], fromBeginning: true });
    let idle = 0;
    consumer.on(consumer.events.FETCH, () => void idle++);
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
          positions.set(`${batch.topic}:${batch.partition}`, Number(m.offset) + 1);
        }
        idle = 0;
      },
    });
    const deadline = Date.now() + timeoutMs;
    const caughtUp = () => [...targets].every(([k, high]) => (positions.get(k) ?? 0) >= high);
    while (!caughtUp() && idle < 10 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 10));
    this.logger.info('global tables loaded', { tables: this.nodes.map((n) => n.store.name) });
  }

  async stop(): Promise<void> {
    await this.consumer?.disconnect();
  }
}
