import type { ProcessorContext, ProcessorSupplier } from '../../processor.ts';

/** Replaces key and value (a new key means the stream must be repartitioned before grouping). */
export function mapProcessor<K, V, KR, VR>(
  mapper: (key: K, value: V) => { key: KR; value: VR },
): ProcessorSupplier<K, V, KR, VR> {
  return () => {
    let ctx: ProcessorContext<KR, VR>;
    return {
      init(c) {
        ctx = c;
      },
      process: async (r) => {
        const out = mapper(r.key, r.value);
        await ctx.forward({ ...r, key: out.key, value: out.value });
      },
    };
  };
}
