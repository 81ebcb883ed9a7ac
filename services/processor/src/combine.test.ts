import { AggregateSchema } from '@cdc/pipeline';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import {
  applyDelta,
  applyDeltaInPlace,
  type Delta,
  initialState,
  mergeStates,
  type PendingSums,
  results,
  settleSums,
} from './aggregation-state.ts';
import { combineSpanMs } from './combine.ts';
import type { PlainRow } from './plain-value.ts';

const aggs = AggregateSchema.parse({
  name: 'a',
  from: 's',
  topic: 't',
  groupBy: ['g'],
  aggregations: [
    { name: 'orders', fn: 'count' },
    { name: 'revenue', fn: 'sum', field: 'amount' },
    { name: 'smallest', fn: 'min', field: 'amount' },
    { name: 'largest', fn: 'max', field: 'amount' },
    { name: 'average', fn: 'avg', field: 'amount' },
    { name: 'customers', fn: 'count_distinct', field: 'customer' },
    { name: 'top', fn: 'top', field: 'customer', by: 'amount', n: 3 },
  ],
}).aggregations;

const inputs = (row: PlainRow) => [
  null,
  row.amount ?? null,
  row.amount ?? null,
  row.amount ?? null,
  row.amount ?? null,
  row.customer ?? null,
  [row.customer ?? null, row.amount ?? null],
];

const rowArb = fc.record({
  amount: fc.option(fc.integer({ min: -5_000, max: 5_000 }).map((c) => (c / 100).toFixed(2))),
  customer: fc.option(fc.constantFrom('a', 'b', 'c', 'd')),
});

describe('combined deltas', () => {
  it('merged into a window state give what applying each delta there gives', () => {
    fc.assert(
      fc.property(
        fc.array(rowArb, { maxLength: 8 }),
        fc.array(fc.tuple(rowArb, fc.boolean()), { minLength: 1, maxLength: 20 }),
        (before, changes) => {
          // a state that already holds some rows, then additions and retractions of rows it holds
          let state = initialState(aggs);
          const present: PlainRow[] = [];
          for (const r of before) {
            state = applyDelta(aggs, state, { s: 1, v: inputs(r) });
            present.push(r);
          }
          const deltas: Delta[] = [];
          for (const [r, retract] of changes) {
            const gone = retract ? present.shift() : undefined;
            if (gone) deltas.push({ s: -1, v: inputs(gone) });
            else {
              deltas.push({ s: 1, v: inputs(r) });
              present.push(r);
            }
          }
          const oneByOne = deltas.reduce((s, d) => applyDelta(aggs, s, d), state);
          const combined = deltas.reduce((s, d) => applyDelta(aggs, s, d), initialState(aggs));
          // as the combiner makes it: sums added up as decimals, written into the state once
          const sums: PendingSums = [];
          const held = deltas.reduce((s, d) => applyDeltaInPlace(aggs, s, d, sums), initialState(aggs));
          expect(settleSums(held, sums)).toEqual(combined);
          expect(results(aggs, mergeStates(aggs, state, combined))).toEqual(results(aggs, oneByOne));
          expect(mergeStates(aggs, state, combined).n).toBe(oneByOne.n);
        },
      ),
      { numRuns: 500 },
    );
  });

  it('span: a tumbling window, a hopping advance that divides the size; nothing for sessions, uneven hops, late-records topics', () => {
    const agg = (extra: Record<string, unknown>) =>
      AggregateSchema.parse({
        name: 'a',
        from: 's',
        topic: 't',
        groupBy: ['g'],
        aggregations: [{ name: 'n', fn: 'count' }],
        ...extra,
      });
    expect(combineSpanMs(agg({ window: { type: 'tumbling', size: '1m' } }))).toBe(60_000);
    expect(combineSpanMs(agg({ window: { type: 'hopping', size: '15m', advance: '5m' } }))).toBe(300_000);
    expect(combineSpanMs(agg({ window: { type: 'hopping', size: '10m', advance: '3m' } }))).toBeUndefined();
    expect(combineSpanMs(agg({ window: { type: 'session', gap: '5m' } }))).toBeUndefined();
    expect(
      combineSpanMs(agg({ window: { type: 'tumbling', size: '1m' }, lateRecordsTopic: 'late' })),
    ).toBeUndefined();
    expect(combineSpanMs(agg({}))).toBe(Number.POSITIVE_INFINITY);
  });
});
