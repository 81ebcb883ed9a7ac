import { describe, expect, it } from 'vitest';
import { persistentDifferences } from './continuous.ts';
import type { TableReport } from './verify.ts';

const run = (ranges: [number, number][] | null, differing = 0): TableReport => ({
  source: 's',
  table: 'public.t',
  clickhouseTable: 'c',
  match: differing === 0,
  differing,
  ...(ranges
    ? {
        repair: {
          key: 'id',
          ranges: ranges.map(([lo, hi]) => ({ lo: String(lo), hi: String(hi) })),
          onlyInClickHouse: [],
        },
      }
    : {}),
});

describe('continuous verification', () => {
  it('counts only the keys that differ in two runs in a row', () => {
    // A row changed after the first run's snapshot (7) differs once; 3 and 40–41 stay damaged.
    const first = run(
      [
        [3, 3],
        [7, 7],
        [40, 41],
      ],
      4,
    );
    const second = run(
      [
        [3, 3],
        [12, 12],
        [40, 42],
      ],
      5,
    );
    expect(persistentDifferences(first, second)).toBe(3);
    expect(persistentDifferences(undefined, second)).toBe(0);
    expect(persistentDifferences(second, run([], 0))).toBe(0);
  });

  it('falls back to the smaller count for tables compared whole', () => {
    expect(persistentDifferences(run(null, 4), run(null, 2))).toBe(2);
  });

  it('counts MongoDB _ids that differ in two runs in a row', () => {
    const mongo = (keys: string[]): TableReport => ({
      source: 'm',
      table: 'db.c',
      clickhouseTable: 'c',
      match: keys.length === 0,
      differing: keys.length,
      ...(keys.length > 0 ? { repair: { key: '_id', ranges: [], keys, onlyInClickHouse: [] } } : {}),
    });
    expect(persistentDifferences(mongo(['{"$oid":"a"}', '"x"']), mongo(['"x"', '"y"']))).toBe(1);
  });
});
