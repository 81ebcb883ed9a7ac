import type { ProcessorContext, ProcessorSupplier } from '../../processor.ts';
import type { Change } from '../../record.ts';

/** A table's changes as a stream of new values (`null`: the row was deleted, a tombstone). */
export function toStreamProcessor<K, V>(): ProcessorSupplier<K, Change<V>, K, V | null> {
  return () => {
    let ctx: ProcessorContext<K, V | null>;
    return {
      init(c) {
        ctx = c;
      },
      process: (r) => ctx.forward({ ...r, value: r.value.newValue }),
    };
  };
}
