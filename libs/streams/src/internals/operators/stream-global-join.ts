import type { ProcessorContext, ProcessorSupplier } from '../../processor.ts';
import type { KeyValueStore } from '../../stores.ts';

/**
 * Looks up a global table by a key taken from the record (a foreign key): no co-partitioning
 * needed, since every task holds the whole table. Inner drops records with no match; left
 * joins them with `null`.
 */
export function streamGlobalJoinProcessor<K, V, GK, T, R>(
  globalStore: string,
  keySelector: (key: K, value: V) => GK | null,
  joiner: (value: V, tableValue: T | null, key: K) => R,
  left: boolean,
): ProcessorSupplier<K, V, K, R> {
  return () => {
    let ctx: ProcessorContext<K, R>;
    let store: KeyValueStore<GK, T>;
    return {
      init(c) {
        ctx = c;
        store = c.getStateStore(globalStore);
      },
      async process(r) {
        const fk = keySelector(r.key, r.value);
        const match = fk === null || fk === undefined ? undefined : await store.get(fk);
        if (match === undefined && !left) return;
        await ctx.forward({ ...r, value: joiner(r.value, match ?? null, r.key) });
      },
    };
  };
}
