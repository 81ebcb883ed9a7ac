/**
 * The source side of `cdc verify` for PostgreSQL: which tables the capture captures (its
 * publication's tables; before the publication exists, what the capture would put in it:
 * `include`, or every table of the database), their columns, primary keys and current rows
 * in canonical form, and the WAL position.
 */
import { type PostgresSource, postgresClientConfig } from '@cdc/pipeline';
import pg from 'pg';
import { type ColumnKind, fromPostgres, kindOf } from './canonical.ts';
import { multisetKey, type Rows, rowText } from './compare.ts';
import { type BucketSums, type KeyRange, MASK64 } from './range-plan.ts';
import type { RangeSide } from './range-verify.ts';

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
 * Every current row (of `range` of the key column `rangeKey`) that the table's filter keeps,
 * canonical, by key (the key columns' canonical values joined).
 */
export async function readSourceRows(
  client: pg.Client,
  t: SourceTable,
  range?: { key: string; lo: bigint; hi: bigint },
): Promise<Rows> {
  const conditions = [
    ...(t.where ? [`(${t.where})`] : []),
    ...(range ? [`${quote(range.key)} BETWEEN $1 AND $2`] : []),
  ];
  const where = conditions.length > 0 ? ` WHERE ${conditions.join(' AND ')}` : '';
  const sql = `SELECT ${t.columns.map((c) => quote(c.name)).join(', ')} FROM ${quote(t.schema)}.${quote(t.table)}${where}`;
  const res = await client.query({
    text: sql,
    rowMode: 'array',
    ...(range ? { values: [String(range.lo), String(range.hi)] } : {}),
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
