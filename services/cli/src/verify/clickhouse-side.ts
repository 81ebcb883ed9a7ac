/**
 * The ClickHouse side of `cdc verify`: the current state of a replicated table, the
 * `<table>_current` view the sink maintains (deleted rows and truncated ones left out), read
 * column by column in the form `canonical.ts` expects. A date or timestamp outside what
 * ClickHouse holds is compared by the exact text the sink kept in `_out_of_range`.
 */
import { clickHouseColumnName, quoteIdent as ident, quoteString } from '@cdc/core';
import type { ClickHouseReader } from '../clickhouse-target.ts';
import { fromClickHouse } from './canonical.ts';
import { multisetKey, type Rows, rowText } from './compare.ts';
import type { SourceTable } from './postgres-side.ts';

const OUT_OF_RANGE = '_out_of_range';
const TEMPORAL = new Set(['date', 'timestamp']);

export type ReplicaRead = { exists: true; rows: Rows; missingColumns: string[] } | { exists: false };

export async function readReplicaRows(
  reader: ClickHouseReader,
  database: string,
  table: string,
  source: SourceTable,
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
  const rows = await reader.query<Record<string, unknown>>(
    `SELECT ${select.join(', ')} FROM ${ident(database)}.${ident(view)} SETTINGS output_format_json_quote_decimals = 1, output_format_json_quote_64bit_integers = 1, output_format_json_quote_denormals = 1, output_format_json_named_tuples_as_objects = 1`,
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
