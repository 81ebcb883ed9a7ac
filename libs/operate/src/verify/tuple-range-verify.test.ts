import { describe, expect, it } from 'vitest';
import { rowHash } from './checksum-sql.ts';
import { type Rows, rowText } from './compare.ts';
import { bucketOf, compareHex, encodeKey, type HexRange, type KeyColumn } from './key-order.ts';
import { MASK64 } from './range-plan.ts';
import { compareTupleRanges, sortedSplits, type TupleSide } from './tuple-range-verify.ts';

const KEY: KeyColumn[] = [
  { name: 'region', kind: 'text', chName: 'region' },
  { name: 'n', kind: 'int', chName: 'n' },
];

/** A side over rows in memory (encoded key → row), recording what it was asked. */
function side(rows: Map<string, string[]>) {
  const asked = { sums: 0, splits: 0, rowsRead: 0, maxRowsRead: 0 };
  const inRange = (k: string, r: HexRange) =>
    (r.lo === null || compareHex(k, r.lo) >= 0) && (r.hi === null || compareHex(k, r.hi) < 0);
  const s: TupleSide = {
    async sums(range, splits) {
      asked.sums++;
      const out = new Map<number, { count: number; sum: bigint }>();
      for (const [k, v] of rows) {
        if (!inRange(k, range)) continue;
        const b = bucketOf(splits, k);
        const x = out.get(b) ?? { count: 0, sum: 0n };
        out.set(b, { count: x.count + 1, sum: (x.sum + rowHash(rowText(v))) & MASK64 });
      }
      return out;
    },
    async splits(range, every) {
      asked.splits++;
      const keys = [...rows.keys()].filter((k) => inRange(k, range)).sort(compareHex);
      return keys.filter((_, i) => (i + 1) % every === 0);
    },
    async rows(range) {
      const out: Rows = new Map();
      for (const [k, v] of rows) if (inRange(k, range)) out.set(rowText([v[0] as string, v[1] as string]), v);
      asked.rowsRead += out.size;
      asked.maxRowsRead = Math.max(asked.maxRowsRead, out.size);
      return out;
    },
  };
  return { side: s, asked };
}

const REGIONS = ['Zürich', 'amsterdam', 'Berlin', 'berlin', 'a-b', 'ab'];
function table(perRegion: number) {
  const m = new Map<string, string[]>();
  for (const r of REGIONS)
    for (let i = 1; i <= perRegion; i++) {
      const row = [r, String(i), `name ${r} ${i}`];
      m.set(encodeKey(KEY, [r, String(i)]), row);
    }
  return m;
}
const put = (m: Map<string, string[]>, row: string[]) =>
  m.set(encodeKey(KEY, [row[0] as string, row[1] as string]), row);

describe('range comparison by encoded keys', () => {
  it('matches identical sides from sums alone, reading no rows', async () => {
    const a = side(table(2_000));
    const b = side(table(2_000));
    const r = await compareTupleRanges(['region', 'n', 'name'], [0, 1], a.side, b.side, {
      targetRows: 1_000,
      leafRows: 100,
    });
    expect(r).toMatchObject({
      match: true,
      sourceRows: 12_000,
      clickhouseRows: 12_000,
      differing: 0,
      leaves: 0,
    });
    expect(r.sourceChecksum).toBe(r.clickhouseChecksum);
    expect(a.asked.rowsRead + b.asked.rowsRead).toBe(0);
  });

  it('names exactly a changed, a missing and an extra key, reading only small leaves', async () => {
    const src = table(2_000);
    const ch = table(2_000);
    put(ch, ['berlin', '777', 'damaged']);
    ch.delete(encodeKey(KEY, ['Zürich', '1500']));
    put(ch, ['ghost', '1', 'extra']);
    const a = side(src);
    const b = side(ch);
    const r = await compareTupleRanges(['region', 'n', 'name'], [0, 1], a.side, b.side, {
      targetRows: 1_000,
      leafRows: 100,
      fanOut: 8,
    });
    expect(r.match).toBe(false);
    expect(r.differing).toBe(3);
    expect(r.keys).toEqual(
      expect.arrayContaining([
        ['berlin', '777'],
        ['Zürich', '1500'],
        ['ghost', '1'],
      ]),
    );
    expect(r.onlyInClickHouse).toEqual([['ghost', '1']]);
    expect(r.onlyAtSource).toEqual([['Zürich', '1500']]);
    expect(r.diffs.find((d) => d.key === rowText(['berlin', '777']))).toEqual({
      key: rowText(['berlin', '777']),
      source: { name: 'name berlin 777' },
      clickhouse: { name: 'damaged' },
    });
    // Bisected: no leaf read more than leafRows (plus the one changed row) of either side.
    expect(Math.max(a.asked.maxRowsRead, b.asked.maxRowsRead)).toBeLessThanOrEqual(101);
    expect(a.asked.rowsRead).toBeLessThan(1_000);
  });

  it('finds rows of a side that is much larger than the other (split points from the larger side)', async () => {
    const src = new Map<string, string[]>();
    const ch = table(500);
    const r = await compareTupleRanges(['region', 'n', 'name'], [0, 1], side(src).side, side(ch).side, {
      targetRows: 400,
      leafRows: 50,
      maxKeys: 10,
    });
    expect(r).toMatchObject({ match: false, sourceRows: 0, clickhouseRows: 3_000, differing: 3_000 });
    expect(r.keys).toHaveLength(10);
  });

  it('without checksums reads every first-level bucket once, bounded by targetRows', async () => {
    const src = table(1_000);
    const ch = table(1_000);
    put(ch, ['ab', '3', 'changed']);
    const a = side(src);
    const r = await compareTupleRanges(['region', 'n', 'name'], [0, 1], a.side, side(ch).side, {
      targetRows: 500,
      hashed: false,
    });
    expect(r.differing).toBe(1);
    expect(r.keys).toEqual([['ab', '3']]);
    expect(a.asked.rowsRead).toBe(6_000);
    expect(a.asked.maxRowsRead).toBeLessThanOrEqual(500);
  });

  it('paced, it takes the first level a span at a time', async () => {
    const a = side(table(1_000));
    const t0 = Date.now();
    const r = await compareTupleRanges(['region', 'n', 'name'], [0, 1], a.side, side(table(1_000)).side, {
      targetRows: 500,
      rowsPerSecond: 30_000,
    });
    expect(r.match).toBe(true);
    // 6,000 rows at 30,000 rows/s: at least 0.2 s, in spans of 60 buckets at most (here one span: 12 buckets).
    expect(Date.now() - t0).toBeGreaterThanOrEqual(150);
  });

  it('uses split points sorted, once each, strictly inside the range', () => {
    expect(sortedSplits(['30', '10', '20', '10', '05', '40'], { lo: '05', hi: '40' })).toEqual([
      '10',
      '20',
      '30',
    ]);
    expect(sortedSplits(['02', '01'], { lo: null, hi: null })).toEqual(['01', '02']);
  });
});
