import type { ProcessorContext, ProcessorSupplier } from '../../processor.ts';
import type { KeyValueStore } from '../../stores.ts';

/**
 * Enriches each stream record with the table's current value for its key. Inner: records with
 * no match (or a null key) are dropped; left: they are joined with `null`.
 */
export function streamTableJoinProcessor<K, V, T, R>(
  tableStore: string,
  joiner: (value: V, tableValue: T | null, key: K) => R,
  left: boolean,
): ProcessorSupplier<K, V, K, R> {
  return () => {
    let ctx: ProcessorContext<K, R>;
    let store: KeyValueStore<K, T>;
    return {
      init(c) {
        ctx = c;
        store = c.getStateStore(tableStore);
      },
      async process(r) {
        const match = r.key === null || r.key === undefined ? undefined : await store.get(r.key);
        if (match === undefined && !left) return;
        await ctx.forward({ ...r, value: joiner(r.value, match ?? null, r.key) });
      },
    };
  };
}
