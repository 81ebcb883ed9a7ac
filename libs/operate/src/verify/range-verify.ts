/**
 * The range comparison of one table (see range-plan.ts for the plan): bucket sums on both
 * sides, bisection of the buckets that differ, row-by-row comparison at the leaves. The two
 * sides are `RangeSide`s (postgres-side.ts and clickhouse-side.ts compute in SQL); this file
 * only decides what to ask.
 *
 * Without a SQL checksum (`hashed: false`: a column with no SQL canonical form) the buckets
 * carry counts only, so every bucket is a leaf: its rows are read and compared in memory, one
 * bucket at a time.
 */
import { setTimeout as sleep } from 'node:timers/promises';
import {
  checksum,
  compareRows,
  differingKeysOf,
  type RowDiff,
  type Rows,
  type TableComparison,
} from './compare.ts';
import {
  type BucketSums,
  bucketCount,
  bucketRange,
  bucketWidth,
  differingBuckets,
  type KeyRange,
  MASK64,
  type RangeSums,
  subWidth,
  sumText,
  total,
} from './range-plan.ts';

export interface RangeSide {
  /** Row count and checksum per bucket of `range` cut at `width` (bucket n: `lo + n·width …`). */
  sums(range: KeyRange, width: bigint): Promise<BucketSums>;
  /** The canonical rows of `range`, by key. */
  rows(range: KeyRange): Promise<Rows>;
}

export interface RangeOptions {
  /** Rows per first-level bucket when keys are dense. */
  targetRows: number;
  /** A differing bucket with at most this many rows on either side is compared row by row. */
  leafRows: number;
  /** How many buckets a differing bucket is cut into. */
  fanOut: number;
  /** Differences shown with both sides' values. */
  maxDiffs: number;
  /** Differing keys kept for a repair. */
  maxKeys: number;
  /** Whether the sides compute a checksum (else counts only: every bucket is read). */
  hashed: boolean;
  /** Rows per second read from the source at most (first level); unlimited when absent. */
  rowsPerSecond?: number;
}

export const DEFAULT_RANGE_OPTIONS: RangeOptions = {
  targetRows: 20_000,
  leafRows: 2_000,
  fanOut: 16,
  maxDiffs: 5,
  maxKeys: 100_000,
  hashed: true,
};

export interface RangeComparison extends TableComparison {
  /** Buckets compared (every level). */
  ranges: number;
  /** Buckets read row by row. */
  leaves: number;
  /** The differing keys (at most `maxKeys`), in key order. */
  keys: bigint[];
  /** Of `keys`, those ClickHouse holds and the source does not. */
  onlyInClickHouse: bigint[];
  /** Of `keys`, those the source holds and ClickHouse does not. */
  onlyAtSource: bigint[];
  /** Buckets whose SQL checksums differed although their rows compared equal (a canonical-form gap). */
  hashOnly: number;
}

export async function compareRanges(
  columns: readonly string[],
  bounds: { range: KeyRange; rows: number } | null,
  source: RangeSide,
  clickhouse: RangeSide,
  options: Partial<RangeOptions> = {},
): Promise<RangeComparison> {
  const o = { ...DEFAULT_RANGE_OPTIONS, ...options };
  const out: RangeComparison = {
    sourceRows: 0,
    clickhouseRows: 0,
    sourceChecksum: sumText(0n),
    clickhouseChecksum: sumText(0n),
    match: true,
    diffs: [],
    differing: 0,
    ranges: 0,
    leaves: 0,
    keys: [],
    onlyInClickHouse: [],
    onlyAtSource: [],
    hashOnly: 0,
  };
  if (!bounds) return out;
  let srcSum = 0n;
  let chSum = 0n;
  const diffs: RowDiff[] = [];

  const leaf = async (range: KeyRange, hashDiffered: boolean) => {
    out.leaves++;
    const [a, b] = await Promise.all([source.rows(range), clickhouse.rows(range)]);
    if (!o.hashed) {
      srcSum = (srcSum + BigInt(`0x${checksum(a)}`)) & MASK64;
      chSum = (chSum + BigInt(`0x${checksum(b)}`)) & MASK64;
    }
    const keys = differingKeysOf(a, b);
    if (keys.length === 0) {
      if (hashDiffered) out.hashOnly++;
      return;
    }
    out.differing += keys.length;
    if (diffs.length < o.maxDiffs) diffs.push(...compareRows(columns, a, b, o.maxDiffs - diffs.length).diffs);
    for (const k of keys) {
      if (out.keys.length >= o.maxKeys) break;
      out.keys.push(BigInt(k));
      if (!a.has(k)) out.onlyInClickHouse.push(BigInt(k));
      if (!b.has(k)) out.onlyAtSource.push(BigInt(k));
    }
  };

  const bisect = async (range: KeyRange, sa: RangeSums | undefined, sb: RangeSums | undefined) => {
    const rows = Math.max(sa?.count ?? 0, sb?.count ?? 0);
    if (rows === 0) return;
    if (rows <= o.leafRows || range.lo === range.hi) return leaf(range, o.hashed);
    const width = subWidth(range, o.fanOut);
    const [a, b] = await Promise.all([source.sums(range, width), clickhouse.sums(range, width)]);
    out.ranges += Number(bucketCount(range, width));
    const todo = o.hashed ? differingBuckets(a, b) : [...new Set([...a.keys(), ...b.keys()])].sort(cmp);
    for (const n of todo) await bisect(bucketRange(range, width, n), a.get(n), b.get(n));
  };

  const { range } = bounds;
  const width = bucketWidth(range, bounds.rows, o.targetRows);
  const buckets = bucketCount(range, width);
  // First level, in spans of buckets (one span unless the source read is paced).
  const perSpan = o.rowsPerSecond ? BigInt(Math.max(1, Math.floor(o.rowsPerSecond / o.targetRows))) : buckets;
  for (let first = 0n; first < buckets; first += perSpan) {
    const t0 = Date.now();
    const span: KeyRange = {
      lo: range.lo + first * width,
      hi: bucketRange(range, width, first + perSpan - 1n < buckets ? first + perSpan - 1n : buckets - 1n).hi,
    };
    const [a, b] = await Promise.all([source.sums(span, width), clickhouse.sums(span, width)]);
    out.ranges += Number(bucketCount(span, width));
    const ta = total(a);
    const tb = total(b);
    out.sourceRows += ta.count;
    out.clickhouseRows += tb.count;
    if (o.hashed) {
      srcSum = (srcSum + ta.sum) & MASK64;
      chSum = (chSum + tb.sum) & MASK64;
    }
    const todo = o.hashed ? differingBuckets(a, b) : [...new Set([...a.keys(), ...b.keys()])].sort(cmp);
    for (const n of todo) await bisect(bucketRange(span, width, n), a.get(n), b.get(n));
    if (o.rowsPerSecond) {
      const due = (ta.count / o.rowsPerSecond) * 1000 - (Date.now() - t0);
      if (due > 0) await sleep(due);
    }
  }
  out.sourceChecksum = sumText(srcSum);
  out.clickhouseChecksum = sumText(chSum);
  out.diffs = diffs;
  out.match = out.differing === 0 && out.sourceRows === out.clickhouseRows;
  return out;
}

const cmp = (x: bigint, y: bigint) => (x < y ? -1 : x > y ? 1 : 0);
