import type { AggregationDeclaration } from '@cdc/pipeline';
import { add, compare, type Decimal, negate, toDecimal, toNumber, toText } from './decimal.ts';
import type { PlainValue } from './plain-value.ts';

/**
 * The state of one group (in one window): the net number of rows and, per aggregation, what it
 * needs to take a row out as exactly as it put it in. Sums keep exact decimal text and the count
 * of non-null inputs; `min`, `max` and `count_distinct` keep a multiset (value → multiplicity),
 * so that retracting the current minimum finds the next one; `top` keeps the sum and count per
 * entry. JSON-safe: it is what the window store and its changelog hold.
 */
export interface GroupState {
  /** Rows currently in the group: additions minus retractions. */
  n: number;
  a: SlotState[];
}

export type SlotState =
  | { c: number }
  | { c: number; s: string }
  | { m: Record<string, number> }
  | { t: Record<string, [string, number]> };

/** One row entering (`s: 1`) or leaving (`s: -1`) a group: its input value per aggregation. */
export interface Delta {
  s: 1 | -1;
  v: PlainValue[];
}

export type AggregationResult = number | Decimal | null | TopEntry[];

export interface TopEntry {
  rank: number;
  key: string | null;
  value: Decimal;
  count: number;
}

export function initialState(aggs: readonly AggregationDeclaration[]): GroupState {
  return {
    n: 0,
    a: aggs.map((a): SlotState => {
      switch (a.fn) {
        case 'count':
          return { c: 0 };
        case 'sum':
        case 'avg':
          return { c: 0, s: '0' };
        case 'top':
          return { t: {} };
        default:
          return { m: {} };
      }
    }),
  };
}

/** The input value of each aggregation for a row. */
export function inputsOf(
  aggs: readonly AggregationDeclaration[],
  row: Record<string, PlainValue>,
): PlainValue[] {
  return aggs.map((a) => {
    if (a.fn === 'top') return [row[a.field as string] ?? null, row[a.by as string] ?? null];
    return a.field === undefined ? null : (row[a.field] ?? null);
  });
}

/** Multiset key of a value: typed, so that `5` and `"5"` stay apart and numbers compare as numbers. */
function tag(v: PlainValue): string {
  if (typeof v === 'number') return `n:${toText(toDecimal(v))}`;
  if (typeof v === 'boolean') return `b:${v}`;
  if (typeof v === 'string') return `s:${v}`;
  return `j:${JSON.stringify(v)}`;
}

/** Multiset key for `min`/`max`: numeric text (decimals arrive as text) counts as a number. */
function numericTag(v: PlainValue): string {
  if (typeof v === 'string') {
    try {
      return `n:${toText(toDecimal(v))}`;
    } catch {
      return tag(v);
    }
  }
  return tag(v);
}

function untag(k: string): { num?: Decimal; str: string } {
  const body = k.slice(2);
  return k.startsWith('n:') ? { num: toDecimal(body), str: body } : { str: body };
}

function bump(m: Record<string, number>, k: string, by: number): void {
  const next = (m[k] ?? 0) + by;
  if (next === 0) delete m[k];
  else m[k] = next;
}

/** A deep copy of a state (its shape is known: cheaper than `structuredClone` on the hot path). */
export function copyState(state: GroupState): GroupState {
  return {
    n: state.n,
    a: state.a.map((slot): SlotState => {
      if ('t' in slot) {
        const t: Record<string, [string, number]> = {};
        for (const k in slot.t) {
          const [sum, count] = slot.t[k] as [string, number];
          t[k] = [sum, count];
        }
        return { t };
      }
      if ('m' in slot) return { m: { ...slot.m } };
      return { ...slot };
    }),
  };
}

/** Applies a delta to a state (a fresh copy is returned; the input is not modified). */
export function applyDelta(
  aggs: readonly AggregationDeclaration[],
  state: GroupState,
  delta: Delta,
): GroupState {
  return applyDeltaInPlace(aggs, copyState(state), delta);
}

/**
 * Exact sums being added up outside their state's text, one per aggregation (undefined: nothing
 * added since the last `settleSums`): a combiner adds many deltas to the same sums before it
 * forwards them, and parsing and printing a sum's decimal text for each one was most of its work.
 */
export type PendingSums = (Decimal | undefined)[];

/**
 * Applies a delta to a state that the caller owns (a combiner's partial state, which nobody else
 * holds): no copy per delta. Returns the same state. With `sums`, the `sum`/`avg` slots add their
 * input there, and their text is brought up to date by `settleSums`.
 */
export function applyDeltaInPlace(
  aggs: readonly AggregationDeclaration[],
  next: GroupState,
  delta: Delta,
  sums?: PendingSums,
): GroupState {
  next.n += delta.s;
  aggs.forEach((a, i) => {
    const slot = next.a[i] as SlotState;
    const v = delta.v[i] ?? null;
    switch (a.fn) {
      case 'count':
        if (a.field === undefined || v !== null) (slot as { c: number }).c += delta.s;
        return;
      case 'sum':
      case 'avg': {
        if (v === null) return;
        const s = slot as { c: number; s: string };
        const d = toDecimal(v);
        const signed = delta.s === 1 ? d : negate(d);
        if (sums === undefined) s.s = toText(add(toDecimal(s.s), signed));
        else {
          const pending = sums[i];
          sums[i] = pending === undefined ? signed : add(pending, signed);
        }
        s.c += delta.s;
        return;
      }
      case 'top': {
        const [entry, by] = v as [PlainValue, PlainValue];
        if (by === null) return;
        const t = (slot as { t: Record<string, [string, number]> }).t;
        const k = JSON.stringify(entry);
        const [sum, count] = t[k] ?? ['0', 0];
        const d = toDecimal(by);
        const nextCount = count + delta.s;
        const nextSum = toText(add(toDecimal(sum), delta.s === 1 ? d : negate(d)));
        // In a window's state no rows means a zero sum; a combined state (combine.ts) may net
        // out its rows and still carry a sum, which must survive until it is merged.
        if (nextCount === 0 && toDecimal(nextSum).unscaled === 0n) delete t[k];
        else t[k] = [nextSum, nextCount];
        return;
      }
      default:
        if (v !== null)
          bump(
            (slot as { m: Record<string, number> }).m,
            a.fn === 'count_distinct' ? tag(v) : numericTag(v),
            delta.s,
          );
    }
  });
  return next;
}

/** Writes the sums added up in `sums` (`applyDeltaInPlace`) into `state`'s slots, and clears them. */
export function settleSums(state: GroupState, sums: PendingSums): GroupState {
  for (let i = 0; i < sums.length; i++) {
    const pending = sums[i];
    if (pending === undefined) continue;
    const s = state.a[i] as { c: number; s: string };
    s.s = toText(add(toDecimal(s.s), pending));
    sums[i] = undefined;
  }
  return state;
}

/** Two sessions' states combined, when a record bridges them. */
export function mergeStates(
  aggs: readonly AggregationDeclaration[],
  x: GroupState,
  y: GroupState,
): GroupState {
  const out = copyState(x);
  out.n += y.n;
  aggs.forEach((_a, i) => {
    const o = out.a[i] as SlotState;
    const b = y.a[i] as SlotState;
    if ('t' in o) {
      for (const [k, [sum, count]] of Object.entries((b as { t: Record<string, [string, number]> }).t)) {
        const [s0, c0] = o.t[k] ?? ['0', 0];
        // A combined state may hold retractions (negative counts): an entry that nets out is gone.
        const merged = toText(add(toDecimal(s0), toDecimal(sum)));
        if (c0 + count === 0 && toDecimal(merged).unscaled === 0n) delete o.t[k];
        else o.t[k] = [merged, c0 + count];
      }
    } else if ('m' in o) {
      for (const [k, c] of Object.entries((b as { m: Record<string, number> }).m)) bump(o.m, k, c);
    } else if ('s' in o) {
      const bs = b as { c: number; s: string };
      o.s = toText(add(toDecimal(o.s), toDecimal(bs.s)));
      o.c += bs.c;
    } else (o as { c: number }).c += (b as { c: number }).c;
  });
  return out;
}

/** The aggregations' results, as SQL computes them (`sum`/`min`/`max`/`avg` of no values are null). */
export function results(aggs: readonly AggregationDeclaration[], state: GroupState): AggregationResult[] {
  return aggs.map((a, i) => {
    const slot = state.a[i] as SlotState;
    switch (a.fn) {
      case 'count':
        return (slot as { c: number }).c;
      case 'sum': {
        const s = slot as { c: number; s: string };
        return s.c > 0 ? toDecimal(s.s) : null;
      }
      case 'avg': {
        const s = slot as { c: number; s: string };
        return s.c > 0 ? toNumber(toDecimal(s.s)) / s.c : null;
      }
      case 'count_distinct':
        return Object.keys((slot as { m: Record<string, number> }).m).length;
      case 'min':
      case 'max': {
        let best: Decimal | undefined;
        for (const k of Object.keys((slot as { m: Record<string, number> }).m)) {
          const num = untag(k).num;
          if (num === undefined) continue;
          if (best === undefined || (a.fn === 'min' ? compare(num, best) < 0 : compare(num, best) > 0))
            best = num;
        }
        return best ?? null;
      }
      default: {
        const entries = Object.entries((slot as { t: Record<string, [string, number]> }).t).map(
          ([k, [sum, count]]) => {
            const key = JSON.parse(k) as PlainValue;
            return { key: key === null ? null : String(key), value: toDecimal(sum), count };
          },
        );
        entries.sort((x, y) => compare(y.value, x.value) || String(x.key).localeCompare(String(y.key)));
        return entries.slice(0, a.n).map((e, r) => ({ rank: r + 1, ...e }));
      }
    }
  });
}
