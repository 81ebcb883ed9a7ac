/**
 * The ClickHouse side of `cdc verify`: the current state of a replicated table, the
 * `<table>_current` view the sink maintains (deleted rows and truncated ones left out), read
 * column by column in the form `canonical.ts` expects. A date or timestamp outside what
 * ClickHouse holds is compared by the exact text the sink kept in `_out_of_range`.
 */

import type { ClickHouseReader } from '@cdc/clickhouse';
import { clickHouseColumnName, quoteIdent as ident, quoteString } from '@cdc/core';
import { fromClickHouse } from './canonical.ts';
import { differingKeysOf, multisetKey, type Rows, rowText } from './compare.ts';
import {
  chBytes,
  chKeyExpression,
  decodeKey,
  encodeKey,
  type HexRange,
  type KeyColumn,
  leadingBounds,
  rangeCondition,
} from './key-order.ts';
import type { SourceTable } from './postgres-side.ts';
import type { BucketSums, KeyRange } from './range-plan.ts';
import type { RangeSide } from './range-verify.ts';
import type { TupleSide } from './tuple-range-verify.ts';

const OUT_OF_RANGE = '_out_of_range';
/** The sink's table of truncations (`_version` per table), which `<table>_current` reads. */
const TRUNCATIONS = '_cdc_truncations';
const TEMPORAL = new Set(['date', 'timestamp']);

const OUTPUT_SETTINGS = [
  'output_format_json_quote_decimals',
  'output_format_json_quote_64bit_integers',
  'output_format_json_quote_denormals',
  'output_format_json_named_tuples_as_objects',
];
const known = new WeakMap<ClickHouseReader, string>();

/** The lossless JSON output settings this server knows (an old one lacks some, and refuses unknown ones). */
async function outputSettings(reader: ClickHouseReader): Promise<string> {
  let clause = known.get(reader);
  if (clause === undefined) {
    const have = await reader.query<{ name: string }>(
      `SELECT name FROM system.settings WHERE name IN (${OUTPUT_SETTINGS.map(quoteString).join(', ')})`,
    );
    clause = have.length > 0 ? ` SETTINGS ${have.map((h) => `${h.name} = 1`).join(', ')}` : '';
    known.set(reader, clause);
  }
  return clause;
}

export type ReplicaRead = { exists: true; rows: Rows; missingColumns: string[] } | { exists: false };

export async function readReplicaRows(
  reader: ClickHouseReader,
  database: string,
  table: string,
  source: SourceTable,
  range?: { key: string; lo: bigint; hi: bigint } | { sql: string },
  /**
   * `{ version }`: each key's row as of this `_version` (exclusive) instead of its current one:
   * the latest of its history below it, absent when that is a delete or older than a truncation
   * below it. `{ version, newer: true }`: the keys whose latest change (a delete included) is at
   * or above it, with that change's row.
   */
  asOf?: { version: bigint; newer?: boolean },
): Promise<ReplicaRead> {
  const view = `${table}_current`;
  const found = await reader.query<{ name: string }>(
    `SELECT name FROM system.columns WHERE database = ${quoteString(database)} AND table = ${quoteString(view)}`,
  );
  if (found.length === 0) return { exists: false };
  const have = new Set(found.map((c) => c.name));
  // Each column is read under its source name (the ClickHouse name differs for `.` and `%`).
  const ch = (name: string) => clickHouseColumnName(name);
  const missingColumns = source.columns
    .filter((c) => !have.has(ch(c.replicaName ?? c.name)))
    .map((c) => c.replicaName ?? c.name);
  const select = source.columns.map((c) => {
    const col = ident(ch(c.replicaName ?? c.name));
    if (!have.has(ch(c.replicaName ?? c.name))) return `NULL AS ${ident(c.name)}`;
    if (c.kind.kind === 'bytea' && !c.kind.array) return `lower(hex(${col})) AS ${ident(c.name)}`;
    if (c.kind.kind === 'bytea') return `arrayMap(x -> lower(hex(x)), ${col}) AS ${ident(c.name)}`;
    return `${col} AS ${ident(c.name)}`;
  });
  // Dates ClickHouse cannot hold: the column has the nearest bound, `_out_of_range` the exact text.
  const exactColumn = have.has(OUT_OF_RANGE) && source.columns.some((c) => TEMPORAL.has(c.kind.kind));
  if (exactColumn) select.push(`${OUT_OF_RANGE} AS \`__out_of_range\``);
  const settings = await outputSettings(reader);
  const where = range
    ? 'sql' in range
      ? range.sql
      : `${ident(ch(range.key))} BETWEEN ${range.lo} AND ${range.hi}`
    : undefined;
  let from = `${ident(database)}.${ident(view)}${where ? ` WHERE ${where}` : ''}`;
  if (asOf !== undefined) {
    const v = `toUInt128('${asOf.version}')`;
    const keys = source.key.map((k) => ident(ch(k))).join(', ');
    const cond = where ? ` AND (${where})` : '';
    from = asOf.newer
      ? `(SELECT * FROM ${ident(database)}.${ident(table)} WHERE 1${cond} ORDER BY ${keys}, _version DESC LIMIT 1 BY ${keys}) WHERE _version >= ${v}`
      : `(SELECT * FROM ${ident(database)}.${ident(`${table}_history`)} WHERE _version < ${v}${cond} ORDER BY ${keys}, _version DESC LIMIT 1 BY ${keys}) WHERE _is_deleted = 0 AND _version > (SELECT max(_version) FROM ${ident(database)}.${ident(TRUNCATIONS)} WHERE table_name = ${quoteString(table)} AND _version < ${v})`;
  }
  const rows = await reader.query<Record<string, unknown>>(
    `SELECT ${select.join(', ')} FROM ${from}${settings}`,
  );
  const out: Rows = new Map();
  const seen = new Map<string, number>();
  const keyIdx = source.key.map((k) => source.columns.findIndex((c) => c.name === k));
  for (const r of rows) {
    const exact = (r.__out_of_range ?? {}) as Record<string, string>;
    const values = source.columns.map((c) =>
      fromClickHouse(
        c.kind,
        r[c.name],
        TEMPORAL.has(c.kind.kind) ? (path) => exact[`${c.name}${path}`] : undefined,
      ),
    );
    const key =
      keyIdx.length > 0 ? rowText(keyIdx.map((i) => values[i] as string)) : multisetKey(values, seen);
    out.set(key, values);
  }
  return { exists: true, rows: out, missingColumns };
}

/** The replica's columns and their ClickHouse types (empty: no such table). */
export async function replicaColumnTypes(
  reader: ClickHouseReader,
  database: string,
  table: string,
): Promise<Map<string, string>> {
  const rows = await reader.query<{ name: string; type: string }>(
    `SELECT name, type FROM system.columns WHERE database = ${quoteString(database)} AND table = ${quoteString(`${table}_current`)}`,
  );
  return new Map(rows.map((r) => [r.name, r.type]));
}

/** Lowest and highest key and the row count of the current view, or null when it is empty. */
export async function replicaKeyBounds(
  reader: ClickHouseReader,
  database: string,
  table: string,
  key: string,
): Promise<{ range: KeyRange; rows: number } | null> {
  const k = ident(clickHouseColumnName(key));
  const [r] = await reader.query<{ lo: string; hi: string; n: string }>(
    `SELECT toString(min(__k)) AS lo, toString(max(__k)) AS hi, toString(count()) AS n FROM (SELECT ${k} AS __k FROM ${ident(database)}.${ident(`${table}_current`)})`,
  );
  if (!r || r.n === '0') return null;
  return { range: { lo: BigInt(r.lo), hi: BigInt(r.hi) }, rows: Number(r.n) };
}

/**
 * A leaf's ClickHouse rows settled as of the source snapshot: each key that differs from the
 * source's rows (`a`) and that the pipeline changed after the snapshot (its latest `_version`,
 * a delete's included, at or above `version`) is read again as of `version` (its history below
 * it, see readReplicaRows), so it is compared in the state the snapshot saw. A key whose latest
 * change is older differs for another reason (damage, a lost change): it stays as it is.
 * `keys`: how many keys were read again.
 */
async function settleAsOf(
  reader: ClickHouseReader,
  database: string,
  table: string,
  source: SourceTable,
  version: bigint,
  a: Rows,
  b: Rows,
  condition: (keys: readonly string[]) => string,
): Promise<{ rows: Rows; keys: number }> {
  const differing = differingKeysOf(a, b);
  if (differing.length === 0) return { rows: b, keys: 0 };
  try {
    return await settleKeys(reader, database, table, source, version, b, differing, condition);
  } catch {
    // An engine without UInt128 (or without the history table): compared as they are, as before.
    return { rows: b, keys: 0 };
  }
}

async function settleKeys(
  reader: ClickHouseReader,
  database: string,
  table: string,
  source: SourceTable,
  version: bigint,
  b: Rows,
  differing: readonly string[],
  condition: (keys: readonly string[]) => string,
): Promise<{ rows: Rows; keys: number }> {
  const newer = await readReplicaRows(
    reader,
    database,
    table,
    source,
    { sql: condition(differing) },
    { version, newer: true },
  );
  const keys = newer.exists ? differing.filter((k) => newer.rows.has(k)) : [];
  if (keys.length === 0) return { rows: b, keys: 0 };
  const r = await readReplicaRows(reader, database, table, source, { sql: condition(keys) }, { version });
  if (!r.exists) return { rows: b, keys: 0 };
  const rows = new Map(b);
  for (const k of keys) {
    const row = r.rows.get(k);
    if (row) rows.set(k, row);
    else rows.delete(k);
  }
  return { rows, keys: keys.length };
}

/** The ClickHouse side of a range comparison over `<table>_current` (see sourceRangeSide). */
export function replicaRangeSide(
  reader: ClickHouseReader,
  database: string,
  table: string,
  source: SourceTable,
  key: string,
  hash: string | null,
  /** Settle differing rows as of this `_version` (the source snapshot's, see verify.ts). */
  asOf?: bigint,
): RangeSide {
  const k = ident(clickHouseColumnName(key));
  const view = `${ident(database)}.${ident(`${table}_current`)}`;
  return {
    async sums(range: KeyRange, width: bigint): Promise<BucketSums> {
      const rows = await reader.query<{ b: string; n: string; s: string }>(
        // In a subquery: ClickHouse lets an alias shadow a column of the same name everywhere in
        // its query, so a column named `n`, `s` or `b` in the hash would read the aggregate.
        `SELECT toString(__b) AS b, toString(count()) AS n, toString(sum(__h)) AS s FROM (
           SELECT intDiv(toInt64(${k}) - toInt64(${range.lo}), ${width}) AS __b, ${hash ?? 'toUInt64(0)'} AS __h FROM ${view} WHERE ${k} >= ${range.lo} AND ${k} <= ${range.hi}
         ) GROUP BY __b`,
      );
      return new Map(rows.map((r) => [BigInt(r.b), { count: Number(r.n), sum: BigInt(r.s) }]));
    },
    async rows(range: KeyRange) {
      const r = await readReplicaRows(reader, database, table, source, { key, lo: range.lo, hi: range.hi });
      return r.exists ? r.rows : new Map();
    },
    ...(asOf === undefined
      ? {}
      : {
          // One integer key: a row's key text is the integer.
          settle: (a: Rows, b: Rows) =>
            settleAsOf(reader, database, table, source, asOf, a, b, (keys) => `${k} IN (${keys.join(', ')})`),
        }),
  };
}

/**
 * The ClickHouse side of an encoded-key range comparison over `<table>_current` (see
 * sourceTupleSide): conditions on the key's encoding (a String, compared byte by byte), plus the
 * same bounds on the first key column when ClickHouse orders it as the encoding does (an integer
 * or a String), which the table's sorting key can use.
 */
export function replicaTupleSide(
  reader: ClickHouseReader,
  database: string,
  table: string,
  source: SourceTable,
  keys: readonly KeyColumn[],
  hash: string | null,
  /** Settle differing rows as of this `_version` (the source snapshot's, see verify.ts). */
  asOf?: bigint,
): TupleSide {
  const view = `${ident(database)}.${ident(`${table}_current`)}`;
  const keyIndexes = keys.map((kc) => source.columns.findIndex((c) => c.name === kc.name));
  const enc = chKeyExpression(keys);
  // One integer or uuid column: compared as a number (a uuid as the UInt128 of its big-endian
  // bytes, the encoding's order; ClickHouse's own UUID order is not), cheaper than bytes.
  const single = keys.length === 1 && keys[0]?.kind !== 'text' ? keys[0] : undefined;
  const expr = !single
    ? enc
    : single.kind === 'int'
      ? `toInt64(${ident(single.chName)})`
      : `reinterpretAsUInt128(reverse(UUIDStringToNum(toString(${ident(single.chName)}))))`;
  const literal = (hex: string) => {
    if (!single) return chBytes(hex);
    if (single.kind === 'int') return `toInt64(${decodeKey([single], hex)[0]})`;
    return `toUInt128('${BigInt(`0x${hex}`).toString()}')`;
  };
  const cond = (range: HexRange) => {
    const c = [rangeCondition(expr, range, literal)];
    const first = keys[0] as KeyColumn;
    if (first.kind !== 'uuid') {
      const lit = (v: string) => (first.kind === 'text' ? quoteString(v) : v);
      const b = leadingBounds(keys, range, true);
      if (b.lo !== null) c.push(`${ident(first.chName)} >= ${lit(b.lo)}`);
      if (b.hi !== null) c.push(`${ident(first.chName)} <= ${lit(b.hi)}`);
    }
    return c.join(' AND ');
  };
  return {
    async sums(range, splits) {
      // The number of split points ≤ the key, as PostgreSQL's width_bucket counts them.
      const bucket = bucketTree(splits.map(literal), '__k');
      const rows = await reader.query<{ b: string; n: string; s: string }>(
        `SELECT toString(__b) AS b, toString(count()) AS n, toString(sum(__h)) AS s FROM (
           SELECT ${expr} AS __k, ${bucket} AS __b, ${hash ?? 'toUInt64(0)'} AS __h FROM ${view} WHERE ${cond(range)}
         ) GROUP BY __b`,
      );
      return new Map(rows.map((r) => [Number(r.b), { count: Number(r.n), sum: BigInt(r.s) }]));
    },
    async splits(range, every) {
      const rows = await reader.query<{ k: string }>(
        `SELECT lower(hex(__k)) AS k FROM (
           SELECT __k, row_number() OVER (ORDER BY __k) AS __rn FROM (SELECT ${enc} AS __k FROM ${view} WHERE ${cond(range)})
         ) WHERE __rn % ${Math.max(1, Math.floor(every))} = 0 ORDER BY __rn`,
      );
      return rows.map((r) => r.k);
    },
    async rows(range) {
      const r = await readReplicaRows(reader, database, table, source, { sql: cond(range) });
      return r.exists ? r.rows : new Map();
    },
    ...(asOf === undefined
      ? {}
      : {
          settle: (a: Rows, b: Rows) =>
            settleAsOf(reader, database, table, source, asOf, a, b, (differing) => {
              const list = differing.map((k) => {
                const row = (a.get(k) ?? b.get(k)) as string[];
                return chBytes(
                  encodeKey(
                    keys,
                    keyIndexes.map((i) => row[i] as string),
                  ),
                );
              });
              return `${enc} IN (${list.join(', ')})`;
            }),
        }),
  };
}

/** The rows of the given keys (each the key columns' values), by key. */
export async function readReplicaKeys(
  reader: ClickHouseReader,
  database: string,
  table: string,
  source: SourceTable,
  keys: readonly KeyColumn[],
  values: readonly (readonly string[])[],
): Promise<Rows> {
  if (values.length === 0) return new Map();
  const list = values.map((v) => chBytes(encodeKey(keys, v))).join(', ');
  const r = await readReplicaRows(reader, database, table, source, {
    sql: `${chKeyExpression(keys)} IN (${list})`,
  });
  return r.exists ? r.rows : new Map();
}

/**
 * The number of `bounds` (sorted SQL literals) ≤ `key`, as a balanced tree of `if`s: a binary
 * search of log2(n) comparisons per row, evaluated column-wise with short-circuiting (a lambda
 * over an array would copy the array for every row).
 */
export function bucketTree(bounds: readonly string[], key: string, lo = 0, hi = bounds.length): string {
  if (lo >= hi) return String(lo);
  const mid = (lo + hi) >> 1;
  return `if(${key} < ${bounds[mid]}, ${bucketTree(bounds, key, lo, mid)}, ${bucketTree(bounds, key, mid + 1, hi)})`;
}
