/**
 * The comparison of one PostgreSQL table with its replica, by the cheapest method its shape
 * allows:
 *
 * | shape | method | how |
 * |---|---|---|
 * | a one-column integer key | `ranges` | buckets of equal key width, sums in both databases, bisection (range-verify.ts) |
 * | a key of integer, uuid and text columns (one or several) | `ranges` | buckets cut at split points in the key's encoded byte order, sums in both databases, bisection (tuple-range-verify.ts, key-order.ts) |
 * | either, with a column that has no SQL canonical form | `ranges-rows` | the same buckets, rows compared in memory one bucket at a time |
 * | transforms (filter, masks, renames), no key, other key types | `in-memory` | every row of both sides at once |
 */
import type { ClickHouseReader } from '@cdc/clickhouse';
import { clickHouseColumnName } from '@cdc/core';
import type pg from 'pg';
import { type Pushdown, rowHashSql } from './checksum-sql.ts';
import {
  readReplicaRows,
  replicaColumnTypes,
  replicaKeyBounds,
  replicaRangeSide,
  replicaTupleSide,
} from './clickhouse-side.ts';
import { compareRows, rowText, type TableComparison } from './compare.ts';
import {
  rangeKeyOf,
  readSourceRows,
  type SourceTable,
  sourceKeyBounds,
  sourceRangeSide,
  sourceTupleSide,
  tupleKeyOf,
  withCollations,
} from './postgres-side.ts';
import { type KeyRange, mergeRanges } from './range-plan.ts';
import { compareRanges, type RangeOptions } from './range-verify.ts';
import type { TableReport } from './report.ts';
import { compareTupleRanges } from './tuple-range-verify.ts';

export async function compareTable(
  source: string,
  t: SourceTable,
  chTable: string,
  client: pg.Client,
  reader: ClickHouseReader,
  database: string,
  rangeOptions?: Partial<RangeOptions>,
  /**
   * The sink's `_version` of the source snapshot (verify.ts `asOfVersion`): rows ClickHouse
   * changed after it are compared as of it (ranges only).
   */
  asOf?: bigint,
): Promise<TableReport> {
  const key = rangeKeyOf(t);
  // Ranges compare the source's own values in SQL: a table with transforms (a filter, masked or
  // renamed columns) is compared row by row, through the same transforms (transforms.ts).
  const transformed =
    t.where !== undefined || t.notes !== undefined || t.columns.some((c) => c.mask || c.replicaName);
  if (!transformed && t.key.length > 0) {
    const types = await replicaColumnTypes(reader, database, chTable);
    if (types.size > 0) {
      if (key !== undefined)
        return compareTableRanges(
          source,
          t,
          chTable,
          key,
          types,
          client,
          reader,
          database,
          rangeOptions,
          asOf,
        );
      const tuple = tupleKeyOf(t, types);
      if (tuple.ok)
        return compareTableTuples(source, t, chTable, types, client, reader, database, rangeOptions, asOf);
    }
  }
  return compareTableInMemory(source, t, chTable, client, reader, database);
}

/** Every row of both sides at once (tables with transforms, without a key, or with other key types). */
export async function compareTableInMemory(
  source: string,
  t: SourceTable,
  chTable: string,
  client: pg.Client,
  reader: ClickHouseReader,
  database: string,
): Promise<TableReport> {
  const name = `${t.schema}.${t.table}`;
  const src = await readSourceRows(client, t);
  const replica = await readReplicaRows(reader, database, chTable, t);
  if (!replica.exists) {
    const empty = src.size === 0;
    return {
      source,
      table: name,
      clickhouseTable: `${database}.${chTable}_current`,
      sourceRows: src.size,
      clickhouseRows: 0,
      match: empty,
      note: empty ? 'empty at the source, no table in ClickHouse' : 'no such table in ClickHouse',
    };
  }
  const c = compareRows(
    t.columns.map((x) => x.name),
    src,
    replica.rows,
  );
  return {
    source,
    table: name,
    clickhouseTable: `${database}.${chTable}_current`,
    ...c,
    method: 'in-memory',
    ...(replica.missingColumns.length > 0 || t.notes
      ? {
          note: [
            ...(replica.missingColumns.length > 0
              ? [`columns missing in ClickHouse: ${replica.missingColumns.join(', ')}`]
              : []),
            ...(t.notes ?? []),
          ].join('; '),
        }
      : {}),
  };
}

/** A table with a one-column integer key: by key ranges, memory bounded (see range-verify.ts). */
export async function compareTableRanges(
  source: string,
  t: SourceTable,
  chTable: string,
  key: string,
  types: ReadonlyMap<string, string>,
  client: pg.Client,
  reader: ClickHouseReader,
  database: string,
  rangeOptions?: Partial<RangeOptions>,
  asOf?: bigint,
): Promise<TableReport> {
  const t0 = Date.now();
  const hash = rowHashSql(t.columns, types);
  const [a, b] = await Promise.all([
    sourceKeyBounds(client, t, key),
    replicaKeyBounds(reader, database, chTable, key),
  ]);
  const bounds = unionBounds(a, b);
  const c = await compareRanges(
    t.columns.map((x) => x.name),
    bounds,
    sourceRangeSide(client, t, key, hash.ok ? hash.postgres : null),
    replicaRangeSide(reader, database, chTable, t, key, hash.ok ? hash.clickhouse : null, asOf),
    { ...rangeOptions, hashed: hash.ok },
  );
  return rangeReport(
    { source, t, chTable, database, types, hash, t0 },
    c,
    c.keys.length > 0
      ? {
          key,
          ranges: mergeRanges(c.keys.map((k) => ({ lo: k, hi: k }))).map((r) => ({
            lo: String(r.lo),
            hi: String(r.hi),
          })),
          onlyInClickHouse: c.onlyInClickHouse.map(String),
          onlyAtSource: c.onlyAtSource.map(String),
        }
      : undefined,
  );
}

/**
 * A table whose key is made of integer, uuid and text columns (and not one integer column): by
 * ranges of the key's encoding, memory bounded (see tuple-range-verify.ts).
 */
export async function compareTableTuples(
  source: string,
  t: SourceTable,
  chTable: string,
  types: ReadonlyMap<string, string>,
  client: pg.Client,
  reader: ClickHouseReader,
  database: string,
  rangeOptions?: Partial<RangeOptions>,
  asOf?: bigint,
): Promise<TableReport> {
  const t0 = Date.now();
  const tuple = tupleKeyOf(t, types);
  if (!tuple.ok) throw new Error(`${t.schema}.${t.table} cannot be compared by key ranges: ${tuple.reason}`);
  const keys = await withCollations(client, t, tuple.columns);
  const hash = rowHashSql(t.columns, types);
  const names = t.columns.map((x) => x.name);
  const c = await compareTupleRanges(
    names,
    keys.map((k) => names.indexOf(k.name)),
    sourceTupleSide(client, t, keys, hash.ok ? hash.postgres : null),
    replicaTupleSide(reader, database, chTable, t, keys, hash.ok ? hash.clickhouse : null, asOf),
    { ...rangeOptions, hashed: hash.ok },
  );
  return rangeReport(
    { source, t, chTable, database, types, hash, t0 },
    c,
    c.keys.length > 0
      ? {
          key: keys.map((k) => k.name).join(', '),
          ranges: [],
          keys: c.keys.map(rowText),
          columns: keys.map((k) => k.name),
          values: c.keys,
          onlyInClickHouse: c.onlyInClickHouse.map(rowText),
          onlyAtSource: c.onlyAtSource.map(rowText),
        }
      : undefined,
  );
}

/**
 * The report of a range comparison (one integer key or a tuple key): the figures, the method and
 * the notes both give; `repair` when keys differ.
 */
function rangeReport(
  o: {
    source: string;
    t: SourceTable;
    chTable: string;
    database: string;
    types: ReadonlyMap<string, string>;
    hash: Pushdown;
    t0: number;
  },
  c: TableComparison & { ranges: number; hashOnly: number; asOf: number; keys: readonly unknown[] },
  repair: TableReport['repair'],
): TableReport {
  const { t, hash, types } = o;
  const seconds = Math.max(0.001, (Date.now() - o.t0) / 1000);
  const notes: string[] = [];
  if (!hash.ok) notes.push(`rows compared in memory range by range: ${hash.reason}`);
  if (c.hashOnly > 0) notes.push(`${c.hashOnly} range(s) had different SQL checksums but equal rows`);
  if (c.asOf > 0)
    notes.push(
      `${c.asOf} key(s) changed in ClickHouse after the source snapshot were compared as of it (read from their history; the ClickHouse checksum is of the rows as first read, after the snapshot)`,
    );
  if (c.keys.length < c.differing)
    notes.push(`only the first ${c.keys.length} differing keys are kept for a repair`);
  const missing = t.columns.filter((x) => !types.has(clickHouseColumnName(x.name))).map((x) => x.name);
  if (missing.length > 0) notes.push(`columns missing in ClickHouse: ${missing.join(', ')}`);
  return {
    source: o.source,
    table: `${t.schema}.${t.table}`,
    clickhouseTable: `${o.database}.${o.chTable}_current`,
    sourceRows: c.sourceRows,
    clickhouseRows: c.clickhouseRows,
    sourceChecksum: c.sourceChecksum,
    clickhouseChecksum: c.clickhouseChecksum,
    match: c.match,
    diffs: c.diffs,
    differing: c.differing,
    method: hash.ok ? 'ranges' : 'ranges-rows',
    ranges: c.ranges,
    rowsPerSecond: Math.round(c.sourceRows / seconds),
    ...(repair ? { repair } : {}),
    ...(notes.length > 0 ? { note: notes.join('; ') } : {}),
  };
}

function unionBounds(
  a: { range: KeyRange; rows: number } | null,
  b: { range: KeyRange; rows: number } | null,
): { range: KeyRange; rows: number } | null {
  if (!a || !b) return a ?? b;
  return {
    range: {
      lo: [a.range.lo, b.range.lo].sort((x, y) => (x < y ? -1 : 1))[0] as bigint,
      hi: [a.range.hi, b.range.hi].sort((x, y) => (x > y ? -1 : 1))[0] as bigint,
    },
    rows: Math.max(a.rows, b.rows),
  };
}
