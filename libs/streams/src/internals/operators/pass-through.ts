import type { ProcessorContext, ProcessorSupplier } from '../../processor.ts';

/** Forwards every record (merge points and branch outlets). */
export function passThroughProcessor<K, V>(): ProcessorSupplier<K, V, K, V> {
  return () => {
    let ctx: ProcessorContext<K, V>;
    return {
      init(c) {
        ctx = c;
      },
      process: (r) => ctx.forward(r),
    };
  };
}
