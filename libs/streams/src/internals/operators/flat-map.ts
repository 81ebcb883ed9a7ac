import type { ProcessorContext, ProcessorSupplier } from '../../processor.ts';

/** Zero or more records per input record, each with the input's timestamp and headers. */
export function flatMapProcessor<K, V, KR, VR>(
  mapper: (key: K, value: V) => Iterable<{ key: KR; value: VR }>,
): ProcessorSupplier<K, V, KR, VR> {
  return () => {
    let ctx: ProcessorContext<KR, VR>;
    return {
      init(c) {
        ctx = c;
      },
      process: async (r) => {
        for (const out of mapper(r.key, r.value)) await ctx.forward({ ...r, key: out.key, value: out.value });
      },
    };
  };
}
