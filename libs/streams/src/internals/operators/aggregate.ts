import type { ProcessorContext, ProcessorSupplier } from '../../processor.ts';
import type { Change } from '../../record.ts';
import type { KeyValueStore } from '../../stores.ts';

/**
 * A running aggregate per key (count, reduce and aggregate are all this). Records with a null
 * key or value are skipped, as in Kafka Streams.
 */
export function aggregateProcessor<K, V, A>(
  storeName: string,
  initializer: () => A,
  aggregator: (key: K, value: V, aggregate: A) => A,
): ProcessorSupplier<K, V, K, Change<A>> {
  return () => {
    let ctx: ProcessorContext<K, Change<A>>;
    let store: KeyValueStore<K, A>;
    return {
      init(c) {
        ctx = c;
        store = c.getStateStore(storeName);
      },
      async process(r) {
        if (r.key === null || r.key === undefined || r.value === null || r.value === undefined) {
          ctx.logger.warn('record with a null key or value skipped by an aggregation', {
            store: storeName,
            ...ctx.recordMetadata(),
          });
          return;
        }
        const old = await store.get(r.key);
        const next = aggregator(r.key, r.value, old === undefined ? initializer() : old);
        await store.put(r.key, next);
        await ctx.forward({ ...r, value: { newValue: next, oldValue: old ?? null } });
      },
    };
  };
}
