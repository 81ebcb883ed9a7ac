import { describe, expect, it } from 'vitest';
import { rowHash } from './checksum-sql.ts';
import { checksum, type Rows, rowText } from './compare.ts';
import { bucketCount, bucketRange, bucketWidth, type KeyRange, MASK64, mergeRanges } from './range-plan.ts';
import { compareRanges, type RangeSide } from './range-verify.ts';

/** A side over rows in memory that records what it was asked. */
function side(rows: Map<bigint, string[]>) {
  const asked = { sums: 0, rowsRead: 0 };
  const s: RangeSide = {
    async sums(range: KeyRange, width: bigint) {
      asked.sums++;
      const out = new Map<bigint, { count: number; sum: bigint }>();
      for (const [k, v] of rows) {
        if (k < range.lo || k > range.hi) continue;
        const n = (k - range.lo) / width;
        const b = out.get(n) ?? { count: 0, sum: 0n };
        out.set(n, { count: b.count + 1, sum: (b.sum + rowHash(rowText(v))) & MASK64 });
      }
      return out;
    },
    async rows(range: KeyRange) {
      const out: Rows = new Map();
      for (const [k, v] of rows) if (k >= range.lo && k <= range.hi) out.set(String(k), v);
      asked.rowsRead += out.size;
      return out;
    },
  };
  return { side: s, asked };
}

const table = (n: number) => {
  const m = new Map<bigint, string[]>();
  for (let i = 1; i <= n; i++) m.set(BigInt(i), [String(i), `name ${i}`]);
  return m;
};

describe('range plan', () => {
  it('cuts a key range into buckets of about the target size that cover it exactly', () => {
    const range = { lo: -5n, hi: 99_994n };
    const w = bucketWidth(range, 100_000, 10_000);
    expect(w).toBe(10_000n);
    const n = bucketCount(range, w);
    expect(n).toBe(10n);
    expect(bucketRange(range, w, 0n)).toEqual({ lo: -5n, hi: 9_994n });
    expect(bucketRange(range, w, n - 1n).hi).toBe(99_994n);
    // A sparse table: few rows over a wide span still gives few buckets.
    expect(bucketCount({ lo: 1n, hi: 10n ** 15n }, bucketWidth({ lo: 1n, hi: 10n ** 15n }, 3, 10_000))).toBe(
      1n,
    );
  });

  it('joins adjacent and overlapping ranges', () => {
    expect(
      mergeRanges([
        { lo: 5n, hi: 5n },
        { lo: 1n, hi: 2n },
        { lo: 3n, hi: 3n },
        { lo: 9n, hi: 12n },
        { lo: 10n, hi: 11n },
      ]),
    ).toEqual([
      { lo: 1n, hi: 3n },
      { lo: 5n, hi: 5n },
      { lo: 9n, hi: 12n },
    ]);
  });
});

describe('compareRanges', () => {
  const cols = ['id', 'name'];
  const bounds = (n: number) => ({ range: { lo: 1n, hi: BigInt(n) }, rows: n });
  const opts = { targetRows: 1_000, leafRows: 50, fanOut: 8 };

  it('matches equal tables reading no rows, with the checksum of the rows', async () => {
    const a = side(table(10_000));
    const b = side(table(10_000));
    const c = await compareRanges(cols, bounds(10_000), a.side, b.side, opts);
    expect(c.match).toBe(true);
    expect(c.sourceRows).toBe(10_000);
    expect(c.ranges).toBe(10);
    expect(a.asked.rowsRead + b.asked.rowsRead).toBe(0);
    const all: Rows = new Map([...table(10_000)].map(([k, v]) => [String(k), v]));
    expect(c.sourceChecksum).toBe(checksum(all));
  });

  it('bisects down to exactly the changed, missing and extra keys, reading only small ranges', async () => {
    const src = table(10_000);
    const ch = table(10_000);
    ch.set(4_321n, ['4321', 'changed']);
    ch.delete(777n);
    ch.set(10_500n, ['10500', 'extra']);
    const a = side(src);
    const b = side(ch);
    const c = await compareRanges(
      cols,
      { range: { lo: 1n, hi: 10_500n }, rows: 10_000 },
      a.side,
      b.side,
      opts,
    );
    expect(c.match).toBe(false);
    expect(c.keys).toEqual([777n, 4_321n, 10_500n]);
    expect(c.onlyInClickHouse).toEqual([10_500n]);
    expect(c.differing).toBe(3);
    expect(c.diffs.map((d) => d.key)).toEqual(['777', '4321', '10500']);
    expect(c.diffs[1]).toEqual({
      key: '4321',
      source: { name: 'name 4321' },
      clickhouse: { name: 'changed' },
    });
    // Only the leaves around the three keys were read.
    expect(a.asked.rowsRead).toBeLessThanOrEqual(3 * 50);
  });

  it('without SQL checksums reads every range, one at a time, and still finds the keys', async () => {
    const ch = table(3_000);
    ch.set(10n, ['10', 'x']);
    const a = side(table(3_000));
    const b = side(ch);
    const c = await compareRanges(cols, bounds(3_000), a.side, b.side, { ...opts, hashed: false });
    expect(c.keys).toEqual([10n]);
    expect(a.asked.rowsRead).toBe(3_000);
    expect(c.sourceChecksum).not.toBe(c.clickhouseChecksum);
  });

  it('paces the first level to the rows-per-second budget', async () => {
    const a = side(table(2_000));
    const b = side(table(2_000));
    const t0 = Date.now();
    const c = await compareRanges(cols, bounds(2_000), a.side, b.side, { ...opts, rowsPerSecond: 10_000 });
    expect(c.match).toBe(true);
    expect(Date.now() - t0).toBeGreaterThanOrEqual(150);
  });
});
