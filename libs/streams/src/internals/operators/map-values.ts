import type { ProcessorContext, ProcessorSupplier } from '../../processor.ts';

/** Replaces the value and keeps the key (no repartition needed). */
export function mapValuesProcessor<K, V, VR>(
  mapper: (value: V, key: K) => VR,
): ProcessorSupplier<K, V, K, VR> {
  return () => {
    let ctx: ProcessorContext<K, VR>;
    return {
      init(c) {
        ctx = c;
      },
      process: async (r) => {
        await ctx.forward({ ...r, value: mapper(r.value, r.key) });
      },
    };
  };
}
