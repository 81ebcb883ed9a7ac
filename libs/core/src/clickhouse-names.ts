/**
 * Source names → ClickHouse names, and how to write them in SQL. One home for the rule, used by
 * the sink (DDL, inserts, rebuild) and the CLI (`cdc verify`, `cdc query`).
 *
 * Columns (and the element names of a Tuple column): the source's own name, exact, quoted in
 * backticks wherever SQL names it, except for two characters ClickHouse reads as structure:
 *
 * | source name | ClickHouse column |
 * |---|---|
 * | no `.`, no `%` (`my id`, `$x`, `Имя`, `🙂`, `1abc`, `select`, `A` and `a`) | the same |
 * | `.` (a subcolumn separator: `c.d` would share storage with `c`'s element `d`) | `%2E` |
 * | `%` (the escape character itself) | `%25` |
 * | the empty name (MongoDB allows it) | `%` |
 *
 * The mapping is injective and reversible (`sourceColumnName`): `c.d` is `c%2Ed`, the nested
 * `c: { d }` is the element `d` of the Tuple column `c`, and a source column literally named
 * `c%2Ed` is `c%252Ed`.
 *
 * Tables: the topic's table (`tableNameForTopic`). Topics hold `[A-Za-z0-9._-]`. A topic of
 * `[A-Za-z0-9._]` only keeps its earlier name, `.` → `_` (`cdc.shop.public.orders` →
 * `cdc_shop_public_orders`); any other topic (it has a `-`) also gets `.` → `_` but keeps the
 * `-`, quoted (`cdc.shop.public.h-dash` → `` `cdc_shop_public_h-dash` ``), so it never meets a
 * table of the first kind (`h_dash`). Two topics can still meet where `.` and `_` read the same
 * (`a_b.c` and `a.b_c`): the sink records each table's topic and source in its comment and
 * refuses a second one (`TableClaim`). A table named in `clickhouse.sink.tables` may take several
 * topics: that is the user's choice, not a collision.
 */

/** An identifier in backticks, `` ` `` and `\` escaped: valid for any name. */
export function quoteIdent(name: string): string {
  return `\`${name.replace(/\\/g, '\\\\').replace(/`/g, '\\`')}\``;
}

/** A string literal in single quotes, `'` and `\` escaped. */
export function quoteString(s: string): string {
  return `'${s.replace(/\\/g, '\\\\').replace(/'/g, "\\'")}'`;
}

/** Whether `name` may be written bare in SQL: plain ASCII, not starting with a digit. */
export function isPlainIdent(name: string): boolean {
  return /^[A-Za-z_][A-Za-z0-9_]*$/.test(name);
}

/** The ClickHouse column (or Tuple element) name for a source column or field name. */
export function clickHouseColumnName(source: string): string {
  if (source === '') return '%';
  return source.replace(/[%.]/g, (c) => (c === '%' ? '%25' : '%2E'));
}

/** The source name of a ClickHouse column that `clickHouseColumnName` made. */
export function sourceColumnName(column: string): string {
  if (column === '%') return '';
  return column.replace(/%(25|2E)/g, (_m, hex: string) => (hex === '25' ? '%' : '.'));
}

/** The default ClickHouse table of a topic (see the header for the rule). */
export function tableNameForTopic(topic: string): string {
  return topic.replace(/\./g, '_');
}

/** The sink's default name before this rule: every character outside `[A-Za-z0-9_]` became `_`. */
export function legacyTableNameForTopic(topic: string): string {
  return topic.replace(/[^A-Za-z0-9_]/g, '_');
}

/**
 * Who writes a table: its topic and the exact source name (`postgresql:db.schema.table`,
 * `mongodb:db.collection`; the topic for the processor's topics). Kept in the table's comment.
 */
export interface TableClaim {
  readonly topic: string;
  readonly source: string;
}

const CLAIM_PREFIX = 'cdc: ';

/** The table comment that records a claim. */
export function claimComment(claim: TableClaim): string {
  return `${CLAIM_PREFIX}${JSON.stringify({ topic: claim.topic, source: claim.source })}`;
}

/** The claim a table comment records, or undefined (no comment, or one a person wrote). */
export function parseClaimComment(comment: string | undefined): TableClaim | undefined {
  if (!comment?.startsWith(CLAIM_PREFIX)) return undefined;
  try {
    const v = JSON.parse(comment.slice(CLAIM_PREFIX.length)) as Partial<TableClaim>;
    return typeof v.topic === 'string' && typeof v.source === 'string'
      ? { topic: v.topic, source: v.source }
      : undefined;
  } catch {
    return undefined;
  }
}
