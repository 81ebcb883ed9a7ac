import type { AfterGrace } from '../../options.ts';
import type { ProcessorContext, ProcessorSupplier } from '../../processor.ts';
import type { Change, Window, Windowed } from '../../record.ts';
import type { SessionWindows } from '../../windows.ts';
import type { SessionStoreImpl } from '../stores/typed-stores.ts';
import type { EmitStrategy } from './emit.ts';

export interface SessionAggregateOptions<K, V, A> {
  storeName: string;
  windows: SessionWindows;
  emit: EmitStrategy;
  /** `drop` (default): a record whose session is closed is late; `amend`: applied while retained. */
  afterGrace?: AfterGrace;
  lateRecordsTopic?: string;
  initializer: () => A;
  aggregator: (key: K, value: V, aggregate: A) => A;
  merger: (key: K, left: A, right: A) => A;
}

/**
 * Session aggregation: a record joins (and merges) the open sessions of its key that lie within
 * the inactivity gap. A session `[start, end]` is closed once `streamTime > end + gap + grace`
 * (until then a record at `end + gap` could still arrive within grace); closed sessions are final
 * and never reopened. A record whose own session would already be closed
 * (`timestamp + gap + grace < streamTime`) is late. With `on-update`, merged-away
 * sessions are retracted (new value `null`). With `afterGrace: 'amend'` closed sessions are not
 * final while retained: a record joins or bridges them (merged-away sessions retracted, the
 * result emitted again, after `on-window-close` too); only a record older than the retention is
 * late.
 */
export function sessionAggregateProcessor<K, V, A>(
  options: SessionAggregateOptions<K, V, A>,
): ProcessorSupplier<K, V, Windowed<K>, Change<A>> {
  const { gapMs, graceMs } = options.windows;
  return () => {
    let ctx: ProcessorContext<Windowed<K>, Change<A>>;
    let store: SessionStoreImpl<K, A>;
    let observed = Number.NEGATIVE_INFINITY;
    return {
      async init(c) {
        ctx = c;
        store = c.getStateStore(options.storeName);
        observed = (await store.windowed.getStreamTime()) ?? Number.NEGATIVE_INFINITY;
      },
      async process(r) {
        if (r.key === null || r.key === undefined || r.value === null || r.value === undefined) {
          ctx.logger.warn('record with a null key or value skipped by a session aggregation', {
            store: options.storeName,
            ...ctx.recordMetadata(),
          });
          return;
        }
        const previous = observed;
        if (r.timestamp > observed) observed = r.timestamp;
        const closeBound = observed - gapMs - graceMs;
        const amend = options.afterGrace === 'amend';
        // Sessions ending before this are (logically) out of retention.
        const retainedFrom = observed - store.retentionMs;
        const late = amend ? r.timestamp + gapMs < retainedFrom : r.timestamp < closeBound;
        if (late) {
          ctx.reportLate({
            window: { start: r.timestamp, end: r.timestamp },
            ...(options.lateRecordsTopic ? { lateRecordsTopic: options.lateRecordsTopic } : {}),
          });
        } else {
          const overlapping = (
            await store.findSessions(r.key, r.timestamp - gapMs, r.timestamp + gapMs)
          ).filter((s) => s.window.end >= (amend ? retainedFrom : closeBound));

          let window: Window = { start: r.timestamp, end: r.timestamp };
          let agg = options.initializer();
          for (const s of overlapping) {
            window = {
              start: Math.min(window.start, s.window.start),
              end: Math.max(window.end, s.window.end),
            };
            agg = options.merger(r.key, agg, s.value);
          }
          agg = options.aggregator(r.key, r.value, agg);
          // After a session was emitted as final (it ended before the close bound), a change to it is
          // emitted at once, as a correction; so is a session that the close scan has already passed.
          const emitNow =
            options.emit === 'on-update' ||
            window.end < closeBound ||
            overlapping.some((s) => s.window.end < closeBound);
          for (const s of overlapping) {
            await store.remove(r.key, s.window);
            if (emitNow) {
              await ctx.forward({
                ...r,
                key: { key: r.key, window: s.window },
                value: { newValue: null, oldValue: s.value },
              });
            }
          }
          await store.put(r.key, window, agg);
          if (emitNow) {
            await ctx.forward({
              ...r,
              key: { key: r.key, window },
              value: { newValue: agg, oldValue: null },
            });
          }
        }
        if (observed === previous) return;
        await store.windowed.putStreamTime(observed);
        if (options.emit === 'on-window-close') {
          const previousBound = previous - gapMs - graceMs;
          const from = Number.isFinite(previousBound) ? previousBound : Number.MIN_SAFE_INTEGER;
          for (const closed of await store.windowsEndingIn(from, closeBound)) {
            await ctx.forward({
              key: closed.key,
              value: { newValue: closed.value, oldValue: null },
              timestamp: closed.key.window.end,
            });
          }
        }
        await store.expireAt(observed);
      },
    };
  };
}
