import type { AggregateDeclaration } from '@cdc/pipeline';
import type { Headers, ProcessorContext, ProcessorSupplier } from '@cdc/streams';
import {
  applyDeltaInPlace,
  type Delta,
  type GroupState,
  initialState,
  type PendingSums,
  settleSums,
} from './aggregation-state.ts';

/** The net effect of several deltas of one group whose rows fall into the same windows. */
export interface CombinedDelta {
  p: GroupState;
}

/** What the repartition topic of an aggregate carries: one row's delta, or several combined. */
export type RepartitionedDelta = Delta | CombinedDelta;

export function isCombined(d: RepartitionedDelta): d is CombinedDelta {
  return (d as CombinedDelta).p !== undefined;
}

/**
 * How far apart two event times may be and still fall into exactly the same windows of `decl`
 * (the windows are aligned on the epoch): the advance of a hopping window whose size is a
 * multiple of it, the size of a tumbling one, everything for an aggregate without windows.
 * Undefined when deltas must not be combined: sessions (a session depends on each event's own
 * time), hopping windows whose size is not a multiple of their advance, and aggregates with a
 * late-records topic (a late record is written there as it was read).
 */
export function combineSpanMs(decl: AggregateDeclaration): number | undefined {
  if (decl.lateRecordsTopic !== undefined) return undefined;
  const w = decl.window;
  if (w === undefined) return Number.POSITIVE_INFINITY;
  if (w.type === 'tumbling') return w.size;
  if (w.type === 'hopping') return w.size % w.advance === 0 ? w.advance : undefined;
  return undefined;
}

interface Held {
  key: string;
  state: GroupState;
  /** The sums added since the record was made, as exact decimals (settled into `state` when forwarded). */
  sums: PendingSums;
  timestamp: number;
  headers: Headers | undefined;
}

/**
 * Combines the deltas of one group and window span until the task commits (map-side partial
 * aggregation, as a combiner does): between two commits every change of a group lands in the
 * same few windows, so one record per group and span goes through the repartition topic instead
 * of one or two per change. The combined state is merged into the window's state downstream
 * (`mergeStates`), which gives what applying each delta there would have given. The record
 * carries the latest event time of its deltas (the same windows, so the same lateness) and the
 * headers of the last one. Held deltas are forwarded by `flush`, before the commit that holds
 * their input offsets; a crash before it loses them together with the uncommitted transaction.
 */
export function combineDeltas(
  decl: AggregateDeclaration,
  spanMs: number,
): ProcessorSupplier<string, Delta, string, RepartitionedDelta> {
  const aggs = decl.aggregations;
  const finite = Number.isFinite(spanMs);
  return () => {
    let ctx: ProcessorContext<string, RepartitionedDelta>;
    let held = new Map<string, Held>();
    return {
      init(c) {
        ctx = c;
      },
      process(r) {
        const span = finite ? Math.floor(r.timestamp / spanMs) : 0;
        const id = `${span}\u0000${r.key}`;
        const h = held.get(id);
        if (h === undefined) {
          const sums: PendingSums = [];
          held.set(id, {
            key: r.key,
            state: applyDeltaInPlace(aggs, initialState(aggs), r.value, sums),
            sums,
            timestamp: r.timestamp,
            headers: r.headers,
          });
          return;
        }
        // The held state is this combiner's own until it is forwarded: changed in place.
        applyDeltaInPlace(aggs, h.state, r.value, h.sums);
        if (r.timestamp > h.timestamp) h.timestamp = r.timestamp;
        h.headers = r.headers;
      },
      async flush() {
        if (held.size === 0) return;
        const out = held;
        held = new Map();
        for (const h of out.values())
          await ctx.forward({
            key: h.key,
            value: { p: settleSums(h.state, h.sums) },
            timestamp: h.timestamp,
            ...(h.headers ? { headers: h.headers } : {}),
          });
      },
    };
  };
}
