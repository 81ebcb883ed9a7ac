/**
 * A table over every partition of a topic, held whole by every task: join a stream to it by a
 * key taken from the value (`KStream.joinGlobal`), with no co-partitioning. It is read-only to
 * the topology and is fed straight from its topic (which serves as its changelog).
 */
export class GlobalKTable<K, V> {
  readonly storeName: string;
  readonly topic: string;
  /** Phantom fields so that `GlobalKTable<A, B>` and `GlobalKTable<C, D>` stay distinct types. */
  declare readonly _key?: K;
  declare readonly _value?: V;

  /** @internal */
  constructor(storeName: string, topic: string) {
    this.storeName = storeName;
    this.topic = topic;
  }
}
