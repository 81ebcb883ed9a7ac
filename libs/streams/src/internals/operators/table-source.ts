import type { ProcessorContext, ProcessorSupplier } from '../../processor.ts';
import type { Change } from '../../record.ts';
import type { KeyValueStore } from '../../stores.ts';

/**
 * Materializes the latest value per key; a tombstone (`null`) or a value `isDelete` recognizes
 * (a CDC delete event) removes the key. Forwards each change with the previous value.
 */
export function tableSourceProcessor<K, V>(
  storeName: string,
  isDelete: (value: V) => boolean,
): ProcessorSupplier<K, V | null, K, Change<V>> {
  return () => {
    let ctx: ProcessorContext<K, Change<V>>;
    let store: KeyValueStore<K, V>;
    return {
      init(c) {
        ctx = c;
        store = c.getStateStore(storeName);
      },
      async process(r) {
        if (r.key === null || r.key === undefined) {
          ctx.logger.warn('table record without a key skipped', {
            store: storeName,
            ...ctx.recordMetadata(),
          });
          return;
        }
        const old = (await store.get(r.key)) ?? null;
        if (r.value === null || isDelete(r.value)) {
          if (old === null) return;
          await store.delete(r.key);
          await ctx.forward({ ...r, value: { newValue: null, oldValue: old } });
          return;
        }
        await store.put(r.key, r.value);
        await ctx.forward({ ...r, value: { newValue: r.value, oldValue: old } });
      },
    };
  };
}
