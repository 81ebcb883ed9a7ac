import type { ProcessorContext, ProcessorSupplier } from '../../processor.ts';

/** Keeps the records for which `predicate` holds. */
export function filterProcessor<K, V>(
  predicate: (key: K, value: V) => boolean,
): ProcessorSupplier<K, V, K, V> {
  return () => {
    let ctx: ProcessorContext<K, V>;
    return {
      init(c) {
        ctx = c;
      },
      process: async (r) => {
        if (predicate(r.key, r.value)) await ctx.forward(r);
      },
    };
  };
}
