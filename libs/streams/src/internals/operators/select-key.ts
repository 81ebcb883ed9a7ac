import type { ProcessorContext, ProcessorSupplier } from '../../processor.ts';

/** A new key computed from the record; the value stays. */
export function selectKeyProcessor<K, V, KR>(
  selector: (key: K, value: V) => KR,
): ProcessorSupplier<K, V, KR, V> {
  return () => {
    let ctx: ProcessorContext<KR, V>;
    return {
      init(c) {
        ctx = c;
      },
      process: async (r) => {
        await ctx.forward({ ...r, key: selector(r.key, r.value) });
      },
    };
  };
}
