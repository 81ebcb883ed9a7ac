import type { KeyValueStore, SessionStore, WindowStore } from '@cdc/streams';
import type { GroupState } from './aggregation-state.ts';

export type AggregateStore =
  | WindowStore<string, GroupState>
  | SessionStore<string, GroupState>
  | KeyValueStore<string, GroupState>;

/**
 * The aggregates' stores open in this instance, per partition: each aggregate's output
 * processor registers its task's store when the task opens and removes it when it closes.
 * Interactive queries read them (read-uncommitted: a value may belong to a transaction that
 * is still open).
 */
export class QueryRegistry {
  private readonly stores = new Map<string, Map<number, AggregateStore>>();

  register(aggregate: string, partition: number, store: AggregateStore): void {
    let m = this.stores.get(aggregate);
    if (!m) {
      m = new Map();
      this.stores.set(aggregate, m);
    }
    m.set(partition, store);
  }

  unregister(aggregate: string, partition: number): void {
    this.stores.get(aggregate)?.delete(partition);
  }

  store(aggregate: string, partition: number): AggregateStore | undefined {
    return this.stores.get(aggregate)?.get(partition);
  }

  partitions(aggregate: string): number[] {
    return [...(this.stores.get(aggregate)?.keys() ?? [])].sort((a, b) => a - b);
  }
}
