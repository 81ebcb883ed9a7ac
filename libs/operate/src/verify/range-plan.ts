/**
 * How `cdc verify` splits a table's key space and bisects it. Pure.
 *
 * A table with a one-column integer key is cut into buckets of equal key width, sized so that
 * a bucket holds about `targetRows` rows when the keys are dense. Each side computes per bucket
 * a row count and an order-independent checksum (`RangeSums`); equal buckets are done. A bucket
 * that differs is cut again into `fanOut` buckets, until it holds at most `leafRows` rows on
 * either side (or is one key wide): then both sides' rows of that bucket are read and compared
 * row by row, which names the differing keys. Memory: one level of bucket sums plus one leaf's
 * rows, whatever the table size.
 */

/** Inclusive key range. */
export interface KeyRange {
  lo: bigint;
  hi: bigint;
}

/** One bucket's row count and checksum (sum of 64-bit row hashes modulo 2^64). */
export interface RangeSums {
  count: number;
  sum: bigint;
}

/** Bucket number → sums (buckets without rows are absent). */
export type BucketSums = Map<bigint, RangeSums>;

export const MASK64 = (1n << 64n) - 1n;

/** A checksum's text (16 hex digits), as the report prints it. */
export const sumText = (sum: bigint) => (sum & MASK64).toString(16).padStart(16, '0');

/** The key width of a bucket so that `range` holding `rows` rows gives buckets of ~`targetRows`. */
export function bucketWidth(range: KeyRange, rows: number, targetRows: number): bigint {
  const span = range.hi - range.lo + 1n;
  const buckets = BigInt(Math.max(1, Math.ceil(rows / Math.max(1, targetRows))));
  const w = (span + buckets - 1n) / buckets;
  return w < 1n ? 1n : w;
}

/** Bucket `n` of `range` cut at `width`. */
export function bucketRange(range: KeyRange, width: bigint, n: bigint): KeyRange {
  const lo = range.lo + n * width;
  const hi = lo + width - 1n;
  return { lo, hi: hi > range.hi ? range.hi : hi };
}

/** How many buckets `range` cut at `width` has. */
export function bucketCount(range: KeyRange, width: bigint): bigint {
  return (range.hi - range.lo + width) / width;
}

/** The width that cuts `range` into about `fanOut` buckets (at least 1). */
export function subWidth(range: KeyRange, fanOut: number): bigint {
  const span = range.hi - range.lo + 1n;
  const w = (span + BigInt(fanOut) - 1n) / BigInt(fanOut);
  return w < 1n ? 1n : w;
}

export const sameSums = (a: RangeSums | undefined, b: RangeSums | undefined): boolean =>
  (a?.count ?? 0) === (b?.count ?? 0) && ((a?.sum ?? 0n) & MASK64) === ((b?.sum ?? 0n) & MASK64);

/** The bucket numbers whose sums differ between the two sides, in key order. */
export function differingBuckets(a: BucketSums, b: BucketSums): bigint[] {
  const all = new Set([...a.keys(), ...b.keys()]);
  return [...all].filter((n) => !sameSums(a.get(n), b.get(n))).sort((x, y) => (x < y ? -1 : x > y ? 1 : 0));
}

/** Row count and checksum of all buckets. */
export function total(sums: BucketSums): RangeSums {
  let count = 0;
  let sum = 0n;
  for (const s of sums.values()) {
    count += s.count;
    sum = (sum + s.sum) & MASK64;
  }
  return { count, sum };
}

/** Ranges in key order with adjacent or overlapping ones joined. */
export function mergeRanges(ranges: readonly KeyRange[]): KeyRange[] {
  const sorted = [...ranges].sort((x, y) => (x.lo < y.lo ? -1 : x.lo > y.lo ? 1 : 0));
  const out: KeyRange[] = [];
  for (const r of sorted) {
    const last = out.at(-1);
    if (last && r.lo <= last.hi + 1n) {
      if (r.hi > last.hi) last.hi = r.hi;
    } else out.push({ ...r });
  }
  return out;
}
