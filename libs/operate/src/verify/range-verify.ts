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
import type { Rows } from './compare.ts';
import {
  type BucketSums,
  bucketCount,
  bucketRange,
  bucketWidth,
  differingBuckets,
  type KeyRange,
  type RangeSums,
  subWidth,
  total,
} from './range-plan.ts';
import { type KeyedComparison, RangeTally } from './range-tally.ts';

export interface RangeSide {
  /** Row count and checksum per bucket of `range` cut at `width` (bucket n: `lo + n·width …`). */
  sums(range: KeyRange, width: bigint): Promise<BucketSums>;
  /** The canonical rows of `range`, by key. */
  rows(range: KeyRange): Promise<Rows>;
  /**
   * ClickHouse: a leaf's rows (`b`) with those that differ from the source's (`a`) read again as
   * of the source snapshot; `keys`: how many were read again.
   */
  settle?(a: Rows, b: Rows): Promise<{ rows: Rows; keys: number }>;
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

/** The differing keys as integers. */
export type RangeComparison = KeyedComparison<bigint>;

export async function compareRanges(
  columns: readonly string[],
  bounds: { range: KeyRange; rows: number } | null,
  source: RangeSide,
  clickhouse: RangeSide,
  options: Partial<RangeOptions> = {},
): Promise<RangeComparison> {
  const o = { ...DEFAULT_RANGE_OPTIONS, ...options };
  const tally = new RangeTally<bigint>(columns, o, (k) => BigInt(k));
  if (!bounds) return tally.result();
  const leaf = async (range: KeyRange, hashDiffered: boolean) => {
    const [a, b] = await Promise.all([source.rows(range), clickhouse.rows(range)]);
    const settled = clickhouse.settle ? await clickhouse.settle(a, b) : undefined;
    tally.leaf(a, b, hashDiffered, settled);
  };

  const bisect = async (range: KeyRange, sa: RangeSums | undefined, sb: RangeSums | undefined) => {
    const rows = Math.max(sa?.count ?? 0, sb?.count ?? 0);
    if (rows === 0) return;
    if (rows <= o.leafRows || range.lo === range.hi) return leaf(range, o.hashed);
    const width = subWidth(range, o.fanOut);
    const [a, b] = await Promise.all([source.sums(range, width), clickhouse.sums(range, width)]);
    tally.ranges(Number(bucketCount(range, width)));
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
    tally.ranges(Number(bucketCount(span, width)));
    const ta = total(a);
    tally.firstLevel(ta, total(b));
    const todo = o.hashed ? differingBuckets(a, b) : [...new Set([...a.keys(), ...b.keys()])].sort(cmp);
    for (const n of todo) await bisect(bucketRange(span, width, n), a.get(n), b.get(n));
    if (o.rowsPerSecond) {
      const due = (ta.count / o.rowsPerSecond) * 1000 - (Date.now() - t0);
      if (due > 0) await sleep(due);
    }
  }
  return tally.result();
}

const cmp = (x: bigint, y: bigint) => (x < y ? -1 : x > y ? 1 : 0);
