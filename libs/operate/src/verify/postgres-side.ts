/**
 * The source side of `cdc verify` for PostgreSQL: which tables the capture captures (its
 * publication's tables; before the publication exists, what the capture would put in it:
 * `include`, or every table of the database), their columns, primary keys and current rows
 * in canonical form, and the WAL position.
 */
import { clickHouseColumnName } from '@cdc/core';
import { type PostgresSource, postgresClientConfig } from '@cdc/pipeline';
import pg from 'pg';
import { type ColumnKind, fromPostgres, kindOf } from './canonical.ts';
import { multisetKey, type Rows, rowText } from './compare.ts';
import {
  decodeKey,
  type HexRange,
  type KeyColumn,
  type KeyKind,
  leadingBounds,
  pgBytes,
  pgKeyExpression,
  rangeCondition,
} from './key-order.ts';
import { type BucketSums, type KeyRange, MASK64 } from './range-plan.ts';
import type { RangeSide } from './range-verify.ts';
import type { TupleSide } from './tuple-range-verify.ts';

export interface SourceTable {
  schema: string;
  table: string;
  columns: {
    name: string;
    kind: ColumnKind;
    type: string;
    /** The ClickHouse column's source name when the pipeline file renames it. */
    replicaName?: string;
    /** The pipeline file's mask of the column, applied to the source text. */
    mask?: (text: string) => string;
  }[];
  /** Primary-key columns (empty: rows are compared as a multiset). */
  key: string[];
  /** The pipeline file's filter as SQL: only these rows are replicated. */
  where?: string;
  /** What is not compared (masked columns of non-text types, computed columns). */
  notes?: string[];
}

const quote = (s: string) => `"${s.replaceAll('"', '""')}"`;

export async function connectSource(source: PostgresSource): Promise<pg.Client> {
  // The capture's session settings: the same text for every value.
  const client = new pg.Client({
    ...postgresClientConfig(source, 'verify'),
    types: { getTypeParser: () => (v: string) => v } as unknown as pg.CustomTypesConfig,
  });
  await client.connect();
  return client;
}

export async function currentLsn(client: pg.Client): Promise<string> {
  const { rows } = await client.query<{ lsn: string }>('SELECT pg_current_wal_lsn()::text AS lsn');
  return rows[0]?.lsn as string;
}

/** The slot's confirmed flush position: the capture acknowledges only what Kafka committed. */
export async function slotConfirmedLsn(client: pg.Client, slot: string): Promise<string | null> {
  const { rows } = await client.query<{ lsn: string | null }>(
    'SELECT confirmed_flush_lsn::text AS lsn FROM pg_replication_slots WHERE slot_name = $1',
    [slot],
  );
  return rows[0]?.lsn ?? null;
}

export async function capturedTables(
  client: pg.Client,
  source: PostgresSource,
): Promise<{ schema: string; table: string }[]> {
  const pub = await client.query<{ n: string }>(
    'SELECT count(*)::text AS n FROM pg_publication WHERE pubname = $1',
    [source.publication],
  );
  let names: { schema: string; table: string }[];
  if (pub.rows[0]?.n !== '0') {
    const { rows } = await client.query<{ schema: string; table: string }>(
      'SELECT schemaname AS schema, tablename AS table FROM pg_publication_tables WHERE pubname = $1 ORDER BY 1, 2',
      [source.publication],
    );
    names = rows;
  } else if (source.include.length > 0) {
    names = source.include.map((t) => {
      const dot = t.indexOf('.');
      return dot < 0 ? { schema: 'public', table: t } : { schema: t.slice(0, dot), table: t.slice(dot + 1) };
    });
  } else {
    const { rows } = await client.query<{ schema: string; table: string }>(
      `SELECT n.nspname AS schema, c.relname AS table FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
        WHERE c.relkind IN ('r', 'p') AND n.nspname NOT IN ('pg_catalog', 'information_schema') AND n.nspname NOT LIKE 'pg_toast%'
        ORDER BY 1, 2`,
    );
    names = rows;
  }
  return names;
}

export async function describeTable(client: pg.Client, schema: string, table: string): Promise<SourceTable> {
  const rel = `${quote(schema)}.${quote(table)}`;
  const cols = await client.query<{ name: string; typname: string; type: string }>(
    `SELECT a.attname AS name,
            CASE WHEN t.typtype = 'd' THEN bt.typname ELSE t.typname END AS typname,
            format_type(a.atttypid, a.atttypmod) AS type
       FROM pg_attribute a JOIN pg_type t ON t.oid = a.atttypid LEFT JOIN pg_type bt ON bt.oid = t.typbasetype
      WHERE a.attrelid = $1::regclass AND a.attnum > 0 AND NOT a.attisdropped AND a.attgenerated = ''
      ORDER BY a.attnum`,
    [rel],
  );
  const pk = await client.query<{ name: string }>(
    `SELECT a.attname AS name FROM pg_index i
       JOIN LATERAL unnest(i.indkey) WITH ORDINALITY k(attnum, ord) ON true
       JOIN pg_attribute a ON a.attrelid = i.indrelid AND a.attnum = k.attnum
      WHERE i.indrelid = $1::regclass AND i.indisprimary ORDER BY k.ord`,
    [rel],
  );
  return {
    schema,
    table,
    columns: cols.rows.map((c) => ({ name: c.name, kind: kindOf(c.typname), type: c.type })),
    key: pk.rows.map((r) => r.name),
  };
}

/**
 * Every current row (of `range` of the key column `rangeKey`, or matching `range.sql`, a condition
 * with its literals inline) that the table's filter keeps, canonical, by key (the key columns'
 * canonical values joined).
 */
export async function readSourceRows(
  client: pg.Client,
  t: SourceTable,
  range?: { key: string; lo: bigint; hi: bigint } | { sql: string },
): Promise<Rows> {
  const byKey = range && 'key' in range ? range : undefined;
  const conditions = [
    ...(t.where ? [`(${t.where})`] : []),
    ...(byKey ? [`${quote(byKey.key)} BETWEEN $1 AND $2`] : []),
    ...(range && 'sql' in range ? [`(${range.sql})`] : []),
  ];
  const where = conditions.length > 0 ? ` WHERE ${conditions.join(' AND ')}` : '';
  const sql = `SELECT ${t.columns.map((c) => quote(c.name)).join(', ')} FROM ${quote(t.schema)}.${quote(t.table)}${where}`;
  const res = await client.query({
    text: sql,
    rowMode: 'array',
    ...(byKey ? { values: [String(byKey.lo), String(byKey.hi)] } : {}),
  });
  const out: Rows = new Map();
  const seen = new Map<string, number>();
  const keyIdx = t.key.map((k) => t.columns.findIndex((c) => c.name === k));
  for (const row of res.rows as (string | null)[][]) {
    const values = t.columns.map((c, i) => {
      const text = row[i] ?? null;
      return fromPostgres(c.kind, c.mask && text !== null ? c.mask(text) : text);
    });
    const key =
      keyIdx.length > 0 ? rowText(keyIdx.map((i) => values[i] as string)) : multisetKey(values, seen);
    out.set(key, values);
  }
  return out;
}

/** The key column a table is compared by ranges on: its one-column integer primary key, else undefined. */
export function rangeKeyOf(t: SourceTable): string | undefined {
  if (t.key.length !== 1) return undefined;
  const c = t.columns.find((x) => x.name === t.key[0]);
  return c && c.kind.kind === 'int' && !c.kind.array ? c.name : undefined;
}

/** Lowest and highest key and the row count, or null for an empty table. */
export async function sourceKeyBounds(
  client: pg.Client,
  t: SourceTable,
  key: string,
): Promise<{ range: KeyRange; rows: number } | null> {
  const { rows } = await client.query<{ lo: string | null; hi: string | null; n: string }>(
    `SELECT min(${quote(key)})::text AS lo, max(${quote(key)})::text AS hi, count(*)::text AS n FROM ${quote(t.schema)}.${quote(t.table)}`,
  );
  const r = rows[0];
  if (!r || r.lo === null || r.hi === null) return null;
  return { range: { lo: BigInt(r.lo), hi: BigInt(r.hi) }, rows: Number(r.n) };
}

/**
 * The source side of a range comparison: bucket sums computed by PostgreSQL (`hash`: the row-hash
 * expression of checksum-sql.ts, or null for counts only), rows read by range. Reads inside the
 * caller's transaction (one snapshot for the whole comparison).
 */
export function sourceRangeSide(
  client: pg.Client,
  t: SourceTable,
  key: string,
  hash: string | null,
): RangeSide {
  const k = quote(key);
  const rel = `${quote(t.schema)}.${quote(t.table)}`;
  return {
    async sums(range: KeyRange, width: bigint): Promise<BucketSums> {
      const { rows } = await client.query<{ b: string; n: string; s: string | null }>({
        text: `SELECT ((${k}::int8 - $1::int8) / $3::int8)::text AS b, count(*)::text AS n, ${hash ? `sum(${hash})::text` : `'0'`} AS s
                 FROM ${rel} WHERE ${k} BETWEEN $1 AND $2 GROUP BY 1`,
        values: [String(range.lo), String(range.hi), String(width)],
      });
      return new Map(
        rows.map((r) => [BigInt(r.b), { count: Number(r.n), sum: BigInt(r.s ?? '0') & MASK64 }]),
      );
    },
    rows: (range: KeyRange) => readSourceRows(client, t, { key, lo: range.lo, hi: range.hi }),
  };
}

/**
 * The key columns of a table compared by encoded key ranges (key-order.ts): a primary key of
 * integer, uuid and `text`/`varchar` columns that ClickHouse holds as (U)Int, UUID and String;
 * else why not.
 */
export function tupleKeyOf(
  t: SourceTable,
  chTypes: ReadonlyMap<string, string>,
): { ok: true; columns: KeyColumn[] } | { ok: false; reason: string } {
  if (t.key.length === 0) return { ok: false, reason: 'no primary key' };
  const columns: KeyColumn[] = [];
  for (const name of t.key) {
    const c = t.columns.find((x) => x.name === name);
    const chName = clickHouseColumnName(name);
    const chType = chTypes.get(chName);
    if (!c || c.kind.array || chType === undefined)
      return { ok: false, reason: `key column ${name} is missing in ClickHouse` };
    let kind: KeyKind | undefined;
    if (c.kind.kind === 'int' && /^U?Int(8|16|32|64)$/.test(chType)) kind = 'int';
    else if (c.kind.kind === 'uuid' && chType === 'UUID') kind = 'uuid';
    else if (
      c.kind.kind === 'text' &&
      /^(text|character varying(\(\d+\))?)$/.test(c.type) &&
      chType === 'String'
    )
      kind = 'text';
    if (!kind)
      return { ok: false, reason: `key column ${name} (${c.type} as ${chType}) has no common key order` };
    columns.push({ name, kind, chName });
  }
  return { ok: true, columns };
}

/**
 * The source side of an encoded-key range comparison (tuple-range-verify.ts), inside the
 * caller's transaction. Ranges are conditions on the key's encoding (a bytea compared byte by
 * byte, whatever the database collation), plus, when the first key column orders the same way
 * (an integer or a uuid), the same bounds on that column so that the primary key's index
 * narrows the scan.
 */
export function sourceTupleSide(
  client: pg.Client,
  t: SourceTable,
  keys: readonly KeyColumn[],
  hash: string | null,
): TupleSide {
  const rel = `${quote(t.schema)}.${quote(t.table)}`;
  const enc = pgKeyExpression(keys);
  // Without text columns, or with text in byte order only, the index's order is the encoding's.
  const indexOrder = keys.every((k) => k.kind !== 'text' || k.pgByteOrder);
  const order = indexOrder ? keys.map((k) => quote(k.name)).join(', ') : enc;
  // One integer or uuid column orders natively as its encoding: compared and bucketed as itself
  // (its index narrows the range, `width_bucket` searches fixed-width values).
  const single = keys.length === 1 && keys[0]?.kind !== 'text' ? keys[0] : undefined;
  const expr = single ? quote(single.name) : enc;
  const literal = (hex: string) => {
    if (!single) return pgBytes(hex);
    const v = decodeKey([single], hex)[0] as string;
    return single.kind === 'uuid' ? `'${v}'::uuid` : v;
  };
  const cond = (range: HexRange) => {
    const c = [rangeCondition(expr, range, literal)];
    const first = keys[0] as KeyColumn;
    if (!single && (first.kind !== 'text' || first.pgByteOrder)) {
      const lit = (v: string) =>
        first.kind === 'uuid' ? `'${v}'::uuid` : first.kind === 'text' ? client.escapeLiteral(v) : v;
      const b = leadingBounds(keys, range, first.pgByteOrder === true);
      if (b.lo !== null) c.push(`${quote(first.name)} >= ${lit(b.lo)}`);
      if (b.hi !== null) c.push(`${quote(first.name)} <= ${lit(b.hi)}`);
    }
    if (t.where) c.push(`(${t.where})`);
    return c.join(' AND ');
  };
  return {
    async sums(range, splits) {
      const bucket =
        splits.length === 0 ? '0' : `width_bucket(${expr}, ARRAY[${splits.map(literal).join(', ')}])`;
      // Grouped through a join with the bucket numbers: the planner then expects that many
      // groups (a hash aggregate, in parallel) rather than a group per row (a sort spilled to disk).
      const { rows } = await client.query<{ b: string; n: string; s: string | null }>(
        `SELECT v.b::text AS b, count(*)::text AS n, ${hash ? `sum(${hash})::text` : `'0'`} AS s
           FROM ${rel} JOIN generate_series(0, ${splits.length}) v(b) ON v.b = ${bucket}
          WHERE ${cond(range)} GROUP BY v.b`,
      );
      return new Map(
        rows.map((r) => [Number(r.b), { count: Number(r.n), sum: BigInt(r.s ?? '0') & MASK64 }]),
      );
    },
    async splits(range, every) {
      // The encoding of the chosen rows only (the key columns keep their names in `s`).
      const { rows } = await client.query<{ k: string }>(
        `SELECT encode(${enc}, 'hex') AS k FROM (
           SELECT ${keys.map((k) => quote(k.name)).join(', ')}, row_number() OVER (ORDER BY ${order}) AS rn
             FROM ${rel} WHERE ${cond(range)}
         ) s WHERE rn % ${Math.max(1, Math.floor(every))} = 0 ORDER BY rn`,
      );
      return rows.map((r) => r.k);
    },
    rows: (range) => readSourceRows(client, t, { sql: cond(range) }),
  };
}

/** The rows of the given keys (each the key columns' values), by key; `keys` of one query at most ~1,000. */
export async function readSourceKeys(
  client: pg.Client,
  t: SourceTable,
  keys: readonly KeyColumn[],
  values: readonly (readonly string[])[],
): Promise<Rows> {
  if (values.length === 0) return new Map();
  const cols = `(${keys.map((k) => quote(k.name)).join(', ')})`;
  const list = values.map((v) => `(${v.map((x) => client.escapeLiteral(x)).join(', ')})`).join(', ');
  return readSourceRows(client, t, { sql: `${cols} IN (${list})` });
}

/** Collations whose order is the order of the UTF-8 bytes (code points). */
const BYTE_ORDER = /^(C|POSIX|C\.UTF-?8|C\.utf-?8)$/;

/** `keys` with `pgByteOrder` set on the text columns whose collation orders by bytes. */
export async function withCollations(
  client: pg.Client,
  t: SourceTable,
  keys: readonly KeyColumn[],
): Promise<KeyColumn[]> {
  const { rows } = await client.query<{ name: string; coll: string | null }>(
    `SELECT a.attname AS name,
            CASE WHEN c.collname = 'default' OR c.collname IS NULL
                 THEN (SELECT datcollate FROM pg_database WHERE datname = current_database())
                 ELSE c.collname END AS coll
       FROM pg_attribute a LEFT JOIN pg_collation c ON c.oid = a.attcollation
      WHERE a.attrelid = $1::regclass AND a.attname = ANY($2::text[])`,
    [`${quote(t.schema)}.${quote(t.table)}`, keys.map((k) => k.name)],
  );
  const coll = new Map(rows.map((r) => [r.name, r.coll ?? '']));
  return keys.map((k) =>
    k.kind === 'text' && BYTE_ORDER.test(coll.get(k.name) ?? '') ? { ...k, pgByteOrder: true } : k,
  );
}
