/**
 * What both range comparisons (range-verify.ts: one integer key cut at computed widths;
 * tuple-range-verify.ts: any key cut at split points) add up while they bisect: the first
 * level's counts and checksums, every leaf's row-by-row comparison, the differing keys for a
 * repair. They differ only in how they cut the key space, not in what a leaf or a bucket adds.
 */
import {
  checksum,
  compareRows,
  differingKeysOf,
  type RowDiff,
  type Rows,
  type TableComparison,
} from './compare.ts';
import { MASK64, type RangeSums, sumText } from './range-plan.ts';

/** A range comparison's outcome; `K` is how a differing key is given (an integer, the key columns' values). */
export interface KeyedComparison<K> extends TableComparison {
  /** Buckets compared (every level). */
  ranges: number;
  /** Buckets read row by row. */
  leaves: number;
  /** The differing keys (at most `maxKeys`), in key order. */
  keys: K[];
  /** Of `keys`, those ClickHouse holds and the source does not. */
  onlyInClickHouse: K[];
  /** Of `keys`, those the source holds and ClickHouse does not. */
  onlyAtSource: K[];
  /** Buckets whose SQL checksums differed although their rows compared equal (a canonical-form gap). */
  hashOnly: number;
  /**
   * Keys whose ClickHouse rows were compared as of the source snapshot (changed by the pipeline
   * after it); the ClickHouse checksum is of the rows as the first level read them, the count
   * as of the snapshot.
   */
  asOf: number;
}

export class RangeTally<K> {
  private readonly out: KeyedComparison<K> = {
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
    asOf: 0,
  };
  private sourceSum = 0n;
  private clickhouseSum = 0n;
  /** Compared as of the source snapshot: ClickHouse's rows outside the leaves are the source's. */
  private settling = false;
  /** Σ over the leaves of ClickHouse's settled rows minus the source's. */
  private leafExcess = 0;
  private readonly diffs: RowDiff[] = [];

  private readonly columns: readonly string[];
  private readonly o: { maxDiffs: number; maxKeys: number; hashed: boolean };
  private readonly keyOf: (key: string, row: readonly string[]) => K;

  constructor(
    columns: readonly string[],
    o: { maxDiffs: number; maxKeys: number; hashed: boolean },
    /** A differing key as the comparison reports it, from its `rowText` and either side's row. */
    keyOf: (key: string, row: readonly string[]) => K,
  ) {
    this.columns = columns;
    this.o = o;
    this.keyOf = keyOf;
  }

  /** Buckets compared (any level). */
  ranges(n: number): void {
    this.out.ranges += n;
  }

  /** A first-level bucket's (or span's) rows on each side, and their checksums when hashed. */
  firstLevel(source: RangeSums, clickhouse: RangeSums): void {
    this.out.sourceRows += source.count;
    this.out.clickhouseRows += clickhouse.count;
    if (!this.o.hashed) return;
    this.sourceSum = (this.sourceSum + source.sum) & MASK64;
    this.clickhouseSum = (this.clickhouseSum + clickhouse.sum) & MASK64;
  }

  /**
   * A leaf: both sides' rows of one range compared row by row (unhashed, the rows' checksums
   * are the table's). `hashDiffered`: the range was bisected because its checksums differed.
   * `settled`: ClickHouse's rows as of the source snapshot where they differed (`b` is what the
   * first level counted): they are compared instead, and the count follows them.
   */
  leaf(a: Rows, current: Rows, hashDiffered: boolean, settled?: { rows: Rows; keys: number }): void {
    this.out.leaves++;
    const b = settled?.rows ?? current;
    if (settled) {
      this.settling = true;
      this.out.asOf += settled.keys;
      this.leafExcess += b.size - a.size;
    }
    if (!this.o.hashed) {
      this.sourceSum = (this.sourceSum + BigInt(`0x${checksum(a)}`)) & MASK64;
      this.clickhouseSum = (this.clickhouseSum + BigInt(`0x${checksum(b)}`)) & MASK64;
    }
    const keys = differingKeysOf(a, b);
    if (keys.length === 0) {
      // Equal rows under different checksums: unless the difference was rows changed after the snapshot.
      if (hashDiffered && !settled?.keys) this.out.hashOnly++;
      return;
    }
    this.out.differing += keys.length;
    if (this.diffs.length < this.o.maxDiffs)
      this.diffs.push(...compareRows(this.columns, a, b, this.o.maxDiffs - this.diffs.length).diffs);
    for (const k of keys) {
      if (this.out.keys.length >= this.o.maxKeys) break;
      const sa = a.get(k);
      const sb = b.get(k);
      const key = this.keyOf(k, (sa ?? sb) as readonly string[]);
      this.out.keys.push(key);
      if (!sa) this.out.onlyInClickHouse.push(key);
      if (!sb) this.out.onlyAtSource.push(key);
    }
  }

  result(): KeyedComparison<K> {
    const out = this.out;
    // As of the snapshot, ClickHouse's count is the source's plus what the leaves found more:
    // every range that was not a leaf had equal sums (so equal counts). The first level's own
    // ClickHouse count was read at another moment than the leaves, while the pipeline moved on.
    if (this.settling) out.clickhouseRows = out.sourceRows + this.leafExcess;
    out.sourceChecksum = sumText(this.sourceSum);
    out.clickhouseChecksum = sumText(this.clickhouseSum);
    out.diffs = this.diffs;
    out.match = out.differing === 0 && out.sourceRows === out.clickhouseRows;
    return out;
  }
}
