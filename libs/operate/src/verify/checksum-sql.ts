/**
 * The row checksum of `cdc verify` as SQL, computed inside PostgreSQL and inside ClickHouse so
 * that only per-range sums travel. A row's hash is the first 8 bytes (big-endian) of the MD5 of
 * its canonical text: the canonical values of `canonical.ts`, each escaped and joined as
 * `compare.ts` `rowText` does, so the SQL hash of a row equals `rowHash` of the row read and
 * made canonical in memory. Both SQL dialects must give byte-identical text; per column:
 *
 * | PostgreSQL kind (type) | ClickHouse column | PostgreSQL expression | ClickHouse expression |
 * |---|---|---|---|
 * | int | (Nullable) (U)Int8…64 | `c::text` | `toString(c)` |
 * | text (`text`, `character varying`) | (Nullable) String | `c`, escaped | `c`, escaped |
 * | bool | (Nullable) Bool | `c::text` | `toString(c)` |
 * | uuid | (Nullable) UUID | `c::text` | `toString(c)` |
 * | numeric | (Nullable) Decimal(p, s) or String | `c::text`, trailing fraction zeros cut | `toString(c)`, the same cut |
 * | timestamp(tz) | (Nullable) DateTime64(6, 'UTC') | in 1900–2299: `to_char(c [AT TIME ZONE 'UTC'], 'YYYY-MM-DD HH24:MI:SS.US')`; else `c::text` | `toString(c)`; out of range: the exact text the sink kept in `_out_of_range` |
 * | NULL | | `'\\N'` (escaped `\N`) | |
 *
 * The trailing zeros are cut by two regular expressions on both sides (`(\.[0-9]*[1-9])0+$` →
 * `\1`, then `\.0+$` → nothing), whatever the engine's own Decimal text does with them. A
 * timestamp out of ClickHouse's range is hashed as PostgreSQL's text on both sides (the text the
 * sink kept is PostgreSQL's, in the session's UTC); that differs from the in-memory canonical
 * form, which is harmless: SQL hashes are only ever compared with SQL hashes, and a bucket whose
 * hashes differ while its rows compare equal is counted (`hashOnly`), never reported.
 *
 * Any other column (floats, dates, times, json, arrays, …) is not rendered in SQL: the table is
 * then compared range by range in memory (`pushdown` says why), still one bounded range at a
 * time. The functions used exist in PostgreSQL ≥ 9.4, in ClickHouse 18.16 and in current
 * ClickHouse (chdb): `md5`, `concat_ws`, `replace`, `regexp_replace`, `to_char`, `bit(64)`;
 * `MD5`, `substring`, `reverse`, `reinterpretAsUInt64`, `replaceAll`, `replaceRegexpOne`,
 * `ifNull`, `intDiv`; `mapContains` (current ClickHouse, where the sink's `_out_of_range` map
 * is).
 */
import { createHash } from 'node:crypto';
import { clickHouseColumnName, quoteIdent } from '@cdc/core';
import { MASK64 } from './range-plan.ts';

export interface HashColumn {
  name: string;
  kind: { kind: string; array: boolean };
  /** PostgreSQL's `format_type` text. */
  type: string;
}

export type Pushdown = { ok: true; postgres: string; clickhouse: string } | { ok: false; reason: string };

const pgQuote = (s: string) => `"${s.replaceAll('"', '""')}"`;
/** `\` escaped twice in a ClickHouse string literal: `\N` → `'\\\\N'`. */
const CH_NULL = "'\\\\\\\\N'";
const PG_NULL = "'\\\\N'";

/** The sink's map of exact texts for values out of ClickHouse's range (see `temporal-range.ts`). */
const OUT_OF_RANGE = '_out_of_range';

const nullable = (t: string) => /^Nullable\(/.test(t);
const inner = (t: string) => t.replace(/^Nullable\((.*)\)$/, '$1');

/** Trailing fraction zeros cut (`12.50` → `12.5`, `3.00` → `3`), as `canonicalDecimal` does. */
const pgTrimZeros = (e: string) =>
  `regexp_replace(regexp_replace(${e}, '(\\.[0-9]*[1-9])0+$', '\\1'), '\\.0+$', '')`;
const chTrimZeros = (e: string) =>
  `replaceRegexpOne(replaceRegexpOne(${e}, '(\\\\.[0-9]*[1-9])0+$', '\\\\1'), '\\\\.0+$', '')`;
const chString = (s: string) => `'${s.replaceAll('\\', '\\\\').replaceAll("'", "\\'")}'`;

/**
 * SQL for one column's canonical text, escaped as `rowText` escapes it; or why not.
 * `outOfRange`: the replica has the sink's `_out_of_range` map.
 */
function columnSql(
  c: HashColumn,
  chType: string | undefined,
  outOfRange: boolean,
): { pg: string; ch: string } | string {
  if (c.kind.array) return `${c.name} is an array`;
  if (chType === undefined) return `${c.name} is missing in ClickHouse`;
  const col = pgQuote(c.name);
  const cc = quoteIdent(clickHouseColumnName(c.name));
  const base = inner(chType);
  let pg: string;
  let ch: string;
  if (c.kind.kind === 'int' && /^U?Int(8|16|32|64)$/.test(base)) {
    pg = `${col}::text`;
    ch = `toString(${cc})`;
  } else if (
    c.kind.kind === 'text' &&
    /^(text|character varying(\(\d+\))?)$/.test(c.type) &&
    base === 'String'
  ) {
    pg = `replace(replace(${col}, '\\', '\\\\'), chr(31), '\\u001f')`;
    ch = `replaceAll(replaceAll(${cc}, '\\\\', '\\\\\\\\'), '\\x1F', '\\\\u001f')`;
  } else if (c.kind.kind === 'bool' && base === 'Bool') {
    pg = `${col}::text`;
    ch = `toString(${cc})`;
  } else if (c.kind.kind === 'uuid' && base === 'UUID') {
    pg = `${col}::text`;
    ch = `toString(${cc})`;
  } else if (
    c.kind.kind === 'numeric' &&
    (/^Decimal(32|64|128|256)?\(\d+(, ?\d+)?\)$/.test(base) || base === 'String')
  ) {
    pg = pgTrimZeros(`${col}::text`);
    ch = chTrimZeros(`toString(${cc})`);
  } else if (c.kind.kind === 'timestamp' && /^DateTime64\(6, ?'UTC'\)$/.test(base)) {
    const tz = /with time zone/.test(c.type);
    const bound = (d: string) => `'${d} 00:00:00${tz ? '+00' : ''}'`;
    pg = `CASE WHEN ${col} >= ${bound('1900-01-01')} AND ${col} < ${bound('2300-01-01')} THEN to_char(${tz ? `${col} AT TIME ZONE 'UTC'` : col}, 'YYYY-MM-DD HH24:MI:SS.US') ELSE ${col}::text END`;
    const name = chString(clickHouseColumnName(c.name));
    ch = outOfRange
      ? `if(mapContains(${OUT_OF_RANGE}, ${name}), ${OUT_OF_RANGE}[${name}], toString(${cc}))`
      : `toString(${cc})`;
  } else return `${c.name} (${c.type} as ${chType}) has no SQL canonical form`;
  return {
    pg: `COALESCE(${pg}, ${PG_NULL})`,
    ch: nullable(chType) ? `ifNull(${ch}, ${CH_NULL})` : ch,
  };
}

/**
 * The row-hash expressions of both sides (PostgreSQL: a signed bigint; ClickHouse: a UInt64;
 * equal modulo 2^64), or why this table's rows cannot be hashed in SQL.
 */
export function rowHashSql(columns: readonly HashColumn[], chTypes: ReadonlyMap<string, string>): Pushdown {
  const parts: { pg: string; ch: string }[] = [];
  const outOfRange = /^Map\(String, ?String\)$/.test(chTypes.get(OUT_OF_RANGE) ?? '');
  for (const c of columns) {
    const s = columnSql(c, chTypes.get(clickHouseColumnName(c.name)), outOfRange);
    if (typeof s === 'string') return { ok: false, reason: s };
    parts.push(s);
  }
  if (parts.length === 0) return { ok: false, reason: 'no columns' };
  const pgText =
    parts.length === 1 ? parts[0]?.pg : `concat_ws(chr(31), ${parts.map((p) => p.pg).join(', ')})`;
  const chText = parts.length === 1 ? parts[0]?.ch : `concat(${parts.map((p) => p.ch).join(", '\\x1F', ")})`;
  return {
    ok: true,
    postgres: `('x' || left(md5(${pgText}), 16))::bit(64)::bigint`,
    clickhouse: `reinterpretAsUInt64(reverse(substring(MD5(${chText}), 1, 8)))`,
  };
}

/** The same hash in memory, of a row's `rowText`. */
export function rowHash(text: string): bigint {
  return createHash('md5').update(text).digest().readBigUInt64BE(0) & MASK64;
}
