/**
 * The two ways to reach ClickHouse behind one small interface: a server over HTTP(S)
 * (`http-transport.ts`) and the embedded engine on a data directory (`embedded-transport.ts`).
 * Both speak the same SQL; every failure is a `CdcError`: `SINK_UNAVAILABLE` (retriable: down,
 * slow, out of disk, an unwritable directory) or `SINK_REJECTED` (the statement or the data is
 * wrong; `context.dataError` says whether it is the data, so a batch can be split to find the
 * poison record).
 */
export interface ClickHouseTransport {
  readonly kind: 'embedded' | 'http';
  /** A statement without a result (DDL, ALTER, …). */
  command(sql: string): Promise<void>;
  /** A SELECT, rows parsed from JSONEachRow. 64-bit integers may come back as strings or numbers. */
  query<T = Record<string, unknown>>(sql: string): Promise<T[]>;
  /** A query's result in `format`, as bytes (the read-only HTTP endpoint). */
  queryRaw(sql: string, format: string): Promise<Buffer>;
  /**
   * Inserts a payload into `table` (qualified `db.table`): JSONEachRow lines (by name; columns a
   * line lacks take their defaults), or JSONCompactEachRow lines holding `columns` in order (the
   * engine reads them faster, and they are shorter to write). A compact insert's column names
   * must pass `compactInsertable`.
   */
  insert(
    table: string,
    columns: readonly string[],
    payload: Buffer,
    settings: Record<string, string | number>,
    format?: InsertFormat,
  ): Promise<void>;
  close(): Promise<void>;
}

/** The row formats an insert takes. */
export type InsertFormat = 'JSONEachRow' | 'JSONCompactEachRow';

/** A column name the embedded engine's insert takes in its column list (it refuses any other). */
const PLAIN_COLUMN = /^[A-Za-z_][A-Za-z0-9_]*$/;

/** Whether a JSONCompactEachRow insert may name these columns (with either transport). */
export function compactInsertable(columns: readonly string[]): boolean {
  for (const c of columns) if (!PLAIN_COLUMN.test(c)) return false;
  return true;
}
