/**
 * What `cdc verify` reports: per table (PostgreSQL) or collection (MongoDB) its counts,
 * checksums, differing keys and what a repair re-reads; per source its positions; what
 * `--repair` asked. The comparisons (table-compare.ts, mongo-verify.ts, repair.ts) build these,
 * verify.ts runs them.
 */
import type { TableComparison } from './compare.ts';

export interface TableReport extends Partial<TableComparison> {
  source: string;
  table: string;
  clickhouseTable: string;
  match: boolean;
  note?: string;
  /**
   * How the table was compared: `ranges` (per-range counts and checksums computed by both
   * databases, bisected to the differing keys), `ranges-rows` (per-range counts, rows compared
   * in memory one range at a time: a column has no SQL canonical form), `pages` (MongoDB: the
   * documents a page at a time against the rows of their keys), `in-memory` (all rows at once:
   * transforms, no key, or a key column neither integer, uuid nor text).
   */
  method?: 'ranges' | 'ranges-rows' | 'pages' | 'in-memory';
  /** Key ranges compared (every bisection level). */
  ranges?: number;
  /** Source rows compared per second. */
  rowsPerSecond?: number;
  /**
   * What `--repair` re-reads: the differing keys as ranges of an integer key column, or one by
   * one (`keys`: MongoDB's `_id` as canonical Extended JSON; other PostgreSQL keys: the key
   * columns' values joined as `rowText`, with `values` and `columns`), and the keys only
   * ClickHouse holds (`onlyInClickHouse`) or only the source (`onlyAtSource`), in the form of `keys`.
   */
  repair?: {
    key: string;
    ranges: { lo: string; hi: string }[];
    keys?: string[];
    /** PostgreSQL keys other than one integer column: the key columns. */
    columns?: string[];
    /** …and each differing key's values (PostgreSQL text), as `keys` lists them. */
    values?: string[][];
    onlyInClickHouse: string[];
    onlyAtSource?: string[];
  };
  /** After a repair: how many keys (the repaired ones) this comparison covered; the rest matched before. */
  reverified?: number;
}

export interface SourceReport {
  name: string;
  kind: 'postgres' | 'mongo';
  startPosition: string | null;
  /** The capture's committed position when the comparison ran. */
  capturedPosition: string | null;
  caughtUp: boolean;
  note?: string;
}

export interface VerifyReport {
  ok: boolean;
  config: string;
  elapsedMs: number;
  attempts: number;
  sinkDrained: boolean;
  sources: SourceReport[];
  tables: TableReport[];
  problems: string[];
  /** `--repair`: what was asked of the captures (the report's tables are those compared after). */
  repairs: RepairRequest[];
}

export interface RepairRequest {
  source: string;
  table: string;
  /** Key ranges re-read (MongoDB: keys re-read). */
  ranges: number;
  /** Keys only ClickHouse held, deleted unless the source has them by then. */
  deletes: number;
  /** What `ranges` counts (absent: key ranges). */
  kind?: 'ranges' | 'keys';
}

export function formatVerifyReport(r: VerifyReport): string {
  const lines: string[] = [];
  for (const s of r.sources) {
    lines.push(
      `source ${s.name} (${s.kind}): start ${s.startPosition ?? '-'}, captured ${s.capturedPosition ?? '-'}${s.caughtUp ? ' (caught up)' : ''}${s.note ? ` — ${s.note}` : ''}`,
    );
  }
  const w = Math.max(10, ...r.tables.map((t) => t.table.length));
  for (const t of r.tables) {
    const counts = `${t.sourceRows ?? '-'} / ${t.clickhouseRows ?? '-'} rows`;
    const sums = t.sourceChecksum
      ? `  checksum ${t.sourceChecksum}${t.match ? '' : ` / ${t.clickhouseChecksum}`}`
      : '';
    const how =
      t.ranges !== undefined
        ? `  ${t.ranges} range(s), ${t.rowsPerSecond ?? 0} rows/s${t.method === 'ranges-rows' ? ' (rows)' : ''}`
        : t.method === 'pages'
          ? `  ${t.rowsPerSecond ?? 0} rows/s by pages`
          : '';
    lines.push(
      `${t.match ? 'ok      ' : 'MISMATCH'} ${t.table.padEnd(w)}  ${counts}${sums}${how}${t.note ? `  (${t.note})` : ''}`,
    );
    if (!t.match && t.diffs) {
      for (const d of t.diffs)
        lines.push(
          `           key ${d.key}: source ${JSON.stringify(d.source)}  clickhouse ${JSON.stringify(d.clickhouse)}`,
        );
      if ((t.differing ?? 0) > t.diffs.length)
        lines.push(`           … ${(t.differing ?? 0) - t.diffs.length} more differing key(s)`);
    }
  }
  for (const x of r.repairs)
    lines.push(
      `repair   ${x.table}: ${x.ranges} ${x.kind === 'keys' ? 'key(s)' : 'key range(s)'} re-read through the capture, ${x.deletes} key(s) only in ClickHouse`,
    );
  for (const p of r.problems) lines.push(`problem: ${p}`);
  const bad = r.tables.filter((t) => !t.match).length;
  lines.push(
    r.ok
      ? `verify: OK — ${r.tables.length} table(s) match (${(r.elapsedMs / 1000).toFixed(1)} s, sink ${r.sinkDrained ? 'drained' : 'not drained'})`
      : `verify: FAILED — ${bad} of ${r.tables.length} table(s) differ${r.problems.length ? `, ${r.problems.length} problem(s)` : ''} (${(r.elapsedMs / 1000).toFixed(1)} s)`,
  );
  return `${lines.join('\n')}\n`;
}
