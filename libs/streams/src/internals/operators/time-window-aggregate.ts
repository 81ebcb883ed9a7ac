import type { AfterGrace } from '../../options.ts';
import type { ProcessorContext, ProcessorSupplier } from '../../processor.ts';
import type { Change, Windowed } from '../../record.ts';
import type { TimeWindows } from '../../windows.ts';
import type { WindowStoreImpl } from '../stores/typed-stores.ts';
import type { EmitStrategy } from './emit.ts';

export interface TimeWindowAggregateOptions<K, V, A> {
  storeName: string;
  windows: TimeWindows;
  emit: EmitStrategy;
  /** `drop` (default): a record for a closed window is late; `amend`: applied while retained. */
  afterGrace?: AfterGrace;
  lateRecordsTopic?: string;
  initializer: () => A;
  aggregator: (key: K, value: V, aggregate: A) => A;
}

/**
 * Tumbling and hopping aggregation on event time. The stream time this operator has observed is
 * kept in its (logged) store, so a restore knows which windows already closed: a window
 * `[start, end)` is closed once `streamTime ≥ end + grace`, and a record for a closed window is
 * late (counted, sent to the late-records topic if any, never added) — unless `afterGrace` is
 * `amend`: then it is added while the window is retained, and the window's new result is
 * emitted as a correction; only a window out of retention makes it late.
 */
export function timeWindowAggregateProcessor<K, V, A>(
  options: TimeWindowAggregateOptions<K, V, A>,
): ProcessorSupplier<K, V, Windowed<K>, Change<A>> {
  const { windows, emit } = options;
  return () => {
    let ctx: ProcessorContext<Windowed<K>, Change<A>>;
    let store: WindowStoreImpl<K, A>;
    let observed = Number.NEGATIVE_INFINITY;
    /** The bound of the last expiry: every window ending before it is gone. */
    let expiredBelow = Number.NEGATIVE_INFINITY;
    return {
      async init(c) {
        ctx = c;
        store = c.getStateStore(options.storeName);
        observed = (await store.windowed.getStreamTime()) ?? Number.NEGATIVE_INFINITY;
      },
      async process(r) {
        if (r.key === null || r.key === undefined || r.value === null || r.value === undefined) {
          ctx.logger.warn('record with a null key or value skipped by a windowed aggregation', {
            store: options.storeName,
            ...ctx.recordMetadata(),
          });
          return;
        }
        const previous = observed;
        if (r.timestamp > observed) observed = r.timestamp;
        const closeBound = observed - windows.graceMs;
        const amend = options.afterGrace === 'amend';
        for (const w of windows.windowsFor(r.timestamp)) {
          const closed = w.end <= closeBound;
          if (closed && (!amend || w.end < store.expiryBound(observed))) {
            ctx.reportLate({
              window: w,
              ...(options.lateRecordsTopic ? { lateRecordsTopic: options.lateRecordsTopic } : {}),
            });
            continue;
          }
          const key = r.key;
          const value = r.value;
          const { old, value: next } = await store.aggregate(key, w.start, (o) =>
            options.aggregator(key, value, o === undefined ? options.initializer() : o),
          );
          if (closed && emit === 'on-window-close') {
            // A correction of a result already emitted at close.
            await ctx.forward({
              key: { key: r.key, window: w },
              value: { newValue: next, oldValue: old ?? null },
              timestamp: w.end - 1,
            });
          } else if (emit === 'on-update') {
            await ctx.forward({
              ...r,
              key: { key: r.key, window: w },
              value: { newValue: next, oldValue: old ?? null },
            });
          }
        }
        if (observed === previous) return;
        await store.windowed.putStreamTime(observed);
        const previousBound = previous - windows.graceMs;
        if (emit === 'on-window-close' && windows.hasEndIn(previousBound, closeBound)) {
          const from = Number.isFinite(previousBound) ? previousBound + 1 : Number.MIN_SAFE_INTEGER;
          for (const closed of await store.windowsEndingIn(from, closeBound + 1)) {
            await ctx.forward({
              key: closed.key,
              value: { newValue: closed.value, oldValue: null },
              timestamp: closed.key.window.end - 1,
            });
          }
        }
        // Windows end on a grid (start + size, starts every `advance`): between two of its
        // points no window can newly expire, so the scan runs only when the bound crosses one.
        // (No window ending before a past bound is added later: it would have been closed.)
        const bound = store.expiryBound(observed);
        if (windows.hasEndIn(expiredBelow - 1, bound - 1)) {
          await store.expireAt(observed);
          expiredBelow = bound;
        }
      },
    };
  };
}
