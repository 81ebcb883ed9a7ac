/**
 * The comparison of one table: row counts, an order-independent checksum over all columns, and
 * the first keys whose rows differ, with both sides' values. Pure.
 *
 * Checksum: the sum modulo 2^64 of the first 8 bytes of MD5 over each row's canonical text
 * (columns joined by a separator no value contains unescaped): the function PostgreSQL and
 * ClickHouse compute in SQL too (`checksum-sql.ts`). A sum, not an XOR, so that two equal rows
 * do not cancel out.
 */
import { rowHash } from './checksum-sql.ts';

export type Rows = Map<string, string[]>;

export interface RowDiff {
  key: string;
  source: Record<string, string> | null;
  clickhouse: Record<string, string> | null;
}

export interface TableComparison {
  sourceRows: number;
  clickhouseRows: number;
  sourceChecksum: string;
  clickhouseChecksum: string;
  match: boolean;
  /** At most `maxDiffs` differing keys, in key order. */
  diffs: RowDiff[];
  /** How many keys differ in all. */
  differing: number;
}

const MASK = (1n << 64n) - 1n;

export function rowText(values: readonly string[]): string {
  return values.map((v) => v.replaceAll('\\', '\\\\').replaceAll('\u001f', '\\u001f')).join('\u001f');
}

export function checksum(rows: Rows): string {
  let sum = 0n;
  for (const values of rows.values()) {
    sum = (sum + rowHash(rowText(values))) & MASK;
  }
  return sum.toString(16).padStart(16, '0');
}

/** A key for rows of a table without a primary key: the row itself, numbered when repeated. */
export function multisetKey(values: readonly string[], seen: Map<string, number>): string {
  const t = rowText(values);
  const n = (seen.get(t) ?? 0) + 1;
  seen.set(t, n);
  return n === 1 ? t : `${t}#${n}`;
}

export function compareRows(
  columns: readonly string[],
  source: Rows,
  clickhouse: Rows,
  maxDiffs = 5,
): TableComparison {
  const s = checksum(source);
  const c = checksum(clickhouse);
  const differingKeys = differingKeysOf(source, clickhouse);
  const named = (v: string[] | undefined) =>
    v ? Object.fromEntries(columns.map((col, i) => [col, v[i] as string])) : null;
  const diffs = differingKeys.slice(0, maxDiffs).map((key) => {
    const src = source.get(key);
    const ch = clickhouse.get(key);
    // Show only the columns that differ when both sides have the row.
    if (src && ch) {
      const cols = columns.filter((_c, i) => src[i] !== ch[i]);
      return {
        key,
        source: Object.fromEntries(cols.map((col) => [col, src[columns.indexOf(col)] as string])),
        clickhouse: Object.fromEntries(cols.map((col) => [col, ch[columns.indexOf(col)] as string])),
      };
    }
    return { key, source: named(src), clickhouse: named(ch) };
  });
  return {
    sourceRows: source.size,
    clickhouseRows: clickhouse.size,
    sourceChecksum: s,
    clickhouseChecksum: c,
    match: differingKeys.length === 0 && s === c && source.size === clickhouse.size,
    diffs,
    differing: differingKeys.length,
  };
}

/** The keys whose rows differ (changed, only at the source, only in ClickHouse), in key order. */
export function differingKeysOf(source: Rows, clickhouse: Rows): string[] {
  const keys: string[] = [];
  for (const [k, v] of source) {
    const o = clickhouse.get(k);
    if (!o || rowText(o) !== rowText(v)) keys.push(k);
  }
  for (const k of clickhouse.keys()) if (!source.has(k)) keys.push(k);
  return keys.sort(compareKeys);
}

/** Keys in natural order: numbers by value, then text. */
function compareKeys(a: string, b: string): number {
  if (/^-?\d+$/.test(a) && /^-?\d+$/.test(b)) {
    const x = BigInt(a);
    const y = BigInt(b);
    return x < y ? -1 : x > y ? 1 : 0;
  }
  return a < b ? -1 : a > b ? 1 : 0;
}

/** A table's comparison summed over pages: counts, checksums (sums mod 2^64), the first differing keys. */
export class PagedComparison {
  private readonly columns: readonly string[];
  private readonly maxDiffs: number;
  private source = 0n;
  private clickhouse = 0n;
  private readonly diffs: RowDiff[] = [];
  private readonly totals = { sourceRows: 0, clickhouseRows: 0, differing: 0 };
  private readonly maxKeys: number;
  /** The differing keys (at most `maxKeys`), for a repair; those only ClickHouse holds apart. */
  readonly keys: string[] = [];
  readonly onlyInClickHouse: string[] = [];
  readonly onlyAtSource: string[] = [];

  constructor(columns: readonly string[], maxDiffs = 5, maxKeys = 0) {
    this.columns = columns;
    this.maxDiffs = maxDiffs;
    this.maxKeys = maxKeys;
  }

  /** One page: source rows and the ClickHouse rows that belong with them (disjoint from other pages). */
  add(source: Rows, clickhouse: Rows): void {
    const page = compareRows(this.columns, source, clickhouse, this.maxDiffs);
    this.totals.sourceRows += page.sourceRows;
    this.totals.clickhouseRows += page.clickhouseRows;
    this.totals.differing += page.differing;
    this.source = (this.source + BigInt(`0x${page.sourceChecksum}`)) & MASK;
    this.clickhouse = (this.clickhouse + BigInt(`0x${page.clickhouseChecksum}`)) & MASK;
    for (const d of page.diffs) if (this.diffs.length < this.maxDiffs) this.diffs.push(d);
    if (page.differing > 0 && this.keys.length < this.maxKeys)
      for (const k of differingKeysOf(source, clickhouse)) {
        if (this.keys.length >= this.maxKeys) break;
        this.keys.push(k);
        if (!source.has(k)) this.onlyInClickHouse.push(k);
        else if (!clickhouse.has(k)) this.onlyAtSource.push(k);
      }
  }

  get result(): TableComparison {
    const sourceChecksum = this.source.toString(16).padStart(16, '0');
    const clickhouseChecksum = this.clickhouse.toString(16).padStart(16, '0');
    return {
      ...this.totals,
      sourceChecksum,
      clickhouseChecksum,
      diffs: [...this.diffs],
      match:
        this.totals.differing === 0 &&
        sourceChecksum === clickhouseChecksum &&
        this.totals.sourceRows === this.totals.clickhouseRows,
    };
  }
}
