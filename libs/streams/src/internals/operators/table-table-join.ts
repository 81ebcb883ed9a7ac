import type { ProcessorContext, ProcessorSupplier } from '../../processor.ts';
import type { Change } from '../../record.ts';
import type { KeyValueStore } from '../../stores.ts';

/**
 * One side of a table–table join: on a change of this side, looks up the other side's store and
 * forwards the new joined value (`null` when the row no longer joins). `joinedStore` then holds
 * the result, which gives each output its previous value.
 */
export function tableJoinSideProcessor<K, L, R, J>(options: {
  otherStore: string;
  joinedStore: string;
  thisIsLeft: boolean;
  joiner: (left: L, right: R | null) => J;
  leftJoin: boolean;
}): ProcessorSupplier<K, Change<unknown>, K, Change<J>> {
  return () => {
    let ctx: ProcessorContext<K, Change<J>>;
    let other: KeyValueStore<K, unknown>;
    let joined: KeyValueStore<K, J>;
    return {
      init(c) {
        ctx = c;
        other = c.getStateStore(options.otherStore);
        joined = c.getStateStore(options.joinedStore);
      },
      async process(r) {
        if (r.key === null || r.key === undefined) return;
        const mine = r.value.newValue;
        const theirs = (await other.get(r.key)) ?? null;
        const left = (options.thisIsLeft ? mine : theirs) as L | null;
        const right = (options.thisIsLeft ? theirs : mine) as R | null;
        const next =
          left !== null && (right !== null || options.leftJoin) ? options.joiner(left, right) : null;
        const old = (await joined.get(r.key)) ?? null;
        if (next === null) {
          if (old === null) return;
          await joined.delete(r.key);
        } else {
          await joined.put(r.key, next);
        }
        await ctx.forward({ ...r, value: { newValue: next, oldValue: old } });
      },
    };
  };
}
