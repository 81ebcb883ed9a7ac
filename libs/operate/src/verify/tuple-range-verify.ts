/**
 * The range comparison of a table whose primary key is not one integer column (uuid, text,
 * composite): the key space is cut at split points, not at computed bucket widths. Keys are
 * compared in the byte order of their encoding (key-order.ts), the same in both databases.
 *
 * 1. The source names every `targetRows`-th key (one ordered scan of its primary key's index
 *    when the key has no text column under a collation; only the split points travel).
 * 2. First level, in spans of at most `MAX_BUCKETS_PER_QUERY` buckets (one span for 20 M rows
 *    unless paced): each side computes per bucket a row count and the order-independent checksum
 *    of checksum-sql.ts.
 * 3. A bucket that differs is cut again at split points named by its larger side (`fanOut`
 *    parts) until it holds at most `leafRows` rows on either side; then both sides' rows of it
 *    are read and compared row by row, which names the differing keys.
 *
 * Memory: the first level's split points (rows / targetRows encodings), one span's sums, one
 * leaf's rows: bounded whatever the table size. Without a SQL checksum (`hashed: false`) every
 * first-level bucket is read row by row, one at a time.
 */
import { setTimeout as sleep } from 'node:timers/promises';
import type { Rows } from './compare.ts';
import { compareHex, type HexRange, subRanges, WHOLE } from './key-order.ts';
import { type RangeSums, sameSums } from './range-plan.ts';
import { type KeyedComparison, RangeTally } from './range-tally.ts';
import { DEFAULT_RANGE_OPTIONS, type RangeOptions } from './range-verify.ts';

export interface TupleSide {
  /** Row count and checksum per bucket of `range` cut at `splits` (bucket i: i split points ≤ key). */
  sums(range: HexRange, splits: readonly string[]): Promise<Map<number, RangeSums>>;
  /** The encoding of every `every`-th key of `range` in key order (the `every`-th, the 2·`every`-th, …). */
  splits(range: HexRange, every: number): Promise<string[]>;
  /** The canonical rows of `range`, by key (`rowText` of the key columns' values). */
  rows(range: HexRange): Promise<Rows>;
  /** ClickHouse: see `RangeSide.settle`. */
  settle?(a: Rows, b: Rows): Promise<{ rows: Rows; keys: number }>;
}

/**
 * Buckets one sums query assigns at most (a row meets log2 of them: a binary search on both
 * sides); fewer when long keys would make the query text long (`MAX_SPLIT_TEXT` characters of
 * split points per query).
 */
export const MAX_BUCKETS_PER_QUERY = 1_024;
const MAX_SPLIT_TEXT = 100_000;
/** Bisection depth at which a range is read row by row whatever its size (a side with repeated keys). */
const MAX_DEPTH = 40;

/** The differing keys as the key columns' canonical values. */
export type TupleComparison = KeyedComparison<string[]>;

export async function compareTupleRanges(
  columns: readonly string[],
  /** Indexes of the key columns in `columns`. */
  keyIndexes: readonly number[],
  source: TupleSide,
  clickhouse: TupleSide,
  options: Partial<RangeOptions> = {},
): Promise<TupleComparison> {
  const o = { ...DEFAULT_RANGE_OPTIONS, ...options };
  const tally = new RangeTally<string[]>(columns, o, (_k, row) => keyIndexes.map((i) => row[i] as string));
  const leaf = async (range: HexRange, hashDiffered: boolean) => {
    const [a, b] = await Promise.all([source.rows(range), clickhouse.rows(range)]);
    const settled = clickhouse.settle ? await clickhouse.settle(a, b) : undefined;
    tally.leaf(a, b, hashDiffered, settled);
  };

  // Without checksums a bucket's rows are read whole: first-level buckets are the leaves.
  const leafRows = o.hashed ? o.leafRows : o.targetRows;
  const bisect = async (
    range: HexRange,
    sa: RangeSums | undefined,
    sb: RangeSums | undefined,
    depth: number,
  ) => {
    const na = sa?.count ?? 0;
    const nb = sb?.count ?? 0;
    const rows = Math.max(na, nb);
    if (rows === 0) return;
    if (rows <= leafRows || depth >= MAX_DEPTH) return leaf(range, o.hashed);
    const bigger = na >= nb ? source : clickhouse;
    const splits = sortedSplits(await bigger.splits(range, Math.ceil(rows / o.fanOut)), range);
    if (splits.length === 0) return leaf(range, o.hashed);
    const [a, b] = await Promise.all([source.sums(range, splits), clickhouse.sums(range, splits)]);
    const parts = subRanges(range, splits);
    tally.ranges(parts.length);
    for (let i = 0; i < parts.length; i++) {
      if (o.hashed && sameSums(a.get(i), b.get(i))) continue;
      await bisect(parts[i] as HexRange, a.get(i), b.get(i), depth + 1);
    }
  };

  // First level: split points named by the source (a side that holds many more rows in a
  // bucket is split further by its own keys when the bucket is bisected).
  const splits = sortedSplits(await source.splits(WHOLE, o.targetRows), WHOLE);
  const buckets = subRanges(WHOLE, splits);
  // Paced: a span holds about one second's budget.
  const longest = splits.reduce((n, x) => Math.max(n, x.length), 0);
  const perSpan = Math.min(
    MAX_BUCKETS_PER_QUERY,
    Math.max(1, Math.floor(MAX_SPLIT_TEXT / (longest + 40))),
    o.rowsPerSecond ? Math.max(1, Math.floor(o.rowsPerSecond / o.targetRows)) : MAX_BUCKETS_PER_QUERY,
  );
  for (let first = 0; first < buckets.length; first += perSpan) {
    const t0 = Date.now();
    const last = Math.min(buckets.length, first + perSpan) - 1;
    const span: HexRange = { lo: (buckets[first] as HexRange).lo, hi: (buckets[last] as HexRange).hi };
    const inner = splits.slice(first, last);
    const [a, b] = await Promise.all([source.sums(span, inner), clickhouse.sums(span, inner)]);
    tally.ranges(last - first + 1);
    let spanRows = 0;
    for (const s of a.values()) {
      tally.firstLevel(s, NONE);
      spanRows += s.count;
    }
    for (const s of b.values()) tally.firstLevel(NONE, s);
    for (let i = 0; i <= last - first; i++) {
      if (o.hashed && sameSums(a.get(i), b.get(i))) continue;
      await bisect(buckets[first + i] as HexRange, a.get(i), b.get(i), 1);
    }
    if (o.rowsPerSecond) {
      const due = (spanRows / o.rowsPerSecond) * 1000 - (Date.now() - t0);
      if (due > 0) await sleep(due);
    }
  }
  return tally.result();
}

/** A side with no rows in a bucket. */
const NONE: RangeSums = { count: 0, sum: 0n };

/**
 * Split points in the encoding's byte order, without repeats and strictly inside `range` (both
 * databases then count the same points below a key: PostgreSQL's `width_bucket` needs them sorted).
 */
export function sortedSplits(splits: readonly string[], range: HexRange): string[] {
  const out: string[] = [];
  for (const s of [...splits].sort(compareHex)) {
    if (s === out.at(-1)) continue;
    if (range.lo !== null && compareHex(s, range.lo) <= 0) continue;
    if (range.hi !== null && compareHex(s, range.hi) >= 0) continue;
    out.push(s);
  }
  return out;
}
