import type { ProcessorContext, ProcessorSupplier } from '../../processor.ts';

/** Calls `action` for each record and passes it on unchanged. */
export function peekProcessor<K, V>(action: (key: K, value: V) => void): ProcessorSupplier<K, V, K, V> {
  return () => {
    let ctx: ProcessorContext<K, V>;
    return {
      init(c) {
        ctx = c;
      },
      process: async (r) => {
        action(r.key, r.value);
        await ctx.forward(r);
      },
    };
  };
}
