import { describe, expect, it } from 'vitest';
import { copyState, type GroupState } from './aggregation-state.ts';

describe('copyState', () => {
  const state: GroupState = {
    n: 3,
    a: [{ c: 3 }, { c: 2, s: '12.50' }, { m: { 'n:1': 2, 's:x': 1 } }, { t: { '"a"': ['7.25', 2] } }],
  };

  it('copies every kind of slot exactly', () => {
    expect(copyState(state)).toEqual(structuredClone(state));
  });

  it('shares nothing with the original, so applying a delta never changes a stored state', () => {
    const copy = copyState(state);
    (copy.a[0] as { c: number }).c = 99;
    (copy.a[2] as { m: Record<string, number> }).m['n:1'] = 5;
    ((copy.a[3] as { t: Record<string, [string, number]> }).t['"a"'] as [string, number])[1] = 9;
    expect(state).toEqual({
      n: 3,
      a: [{ c: 3 }, { c: 2, s: '12.50' }, { m: { 'n:1': 2, 's:x': 1 } }, { t: { '"a"': ['7.25', 2] } }],
    });
  });
});
