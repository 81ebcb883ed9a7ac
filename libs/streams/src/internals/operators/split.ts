import type { ProcessorContext, ProcessorSupplier } from '../../processor.ts';

export interface BranchSpec<K, V> {
  /** The child node that receives this branch's records. */
  child: string;
  /** Undefined for the default branch. */
  predicate?: (key: K, value: V) => boolean;
}

/** Sends each record to the first branch whose predicate holds (or the default branch, if any). */
export function splitProcessor<K, V>(branches: readonly BranchSpec<K, V>[]): ProcessorSupplier<K, V, K, V> {
  return () => {
    let ctx: ProcessorContext<K, V>;
    return {
      init(c) {
        ctx = c;
      },
      process: async (r) => {
        for (const b of branches) {
          if (!b.predicate || b.predicate(r.key, r.value)) {
            await ctx.forward(r, b.child);
            return;
          }
        }
      },
    };
  };
}
