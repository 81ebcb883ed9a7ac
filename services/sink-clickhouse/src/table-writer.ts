/**
 * One insert per table per batch, with an insert deduplication token, and poison isolation:
 * when ClickHouse rejects the data (not the connection), the batch is split in halves until
 * the rows it rejects are alone; those are handed back to be dead-lettered, the rest is
 * written. Retriable failures are thrown to the caller, which retries the whole batch with a
 * token of its own (`insertToken`).
 */

import type { ClickHouseTransport } from '@cdc/clickhouse';
import { compactInsertable, isDataError } from '@cdc/clickhouse';
import { offsetRanges } from '@cdc/kafka';
import type { KafkaRecord } from './decode.ts';
import { type EncodedRow, encodeRows, keyedLine } from './row-encoder.ts';
import type { RowItem } from './row-item.ts';

export type { RowItem } from './row-item.ts';

/**
 * The payload of `items`, in order. `compact`: every item is a JSONCompactEachRow line of those
 * columns, copied as it is. Else JSONEachRow: rows encoded here, JSONEachRow lines copied as they
 * are, JSONCompactEachRow lines rewritten with their column names (`keyedLine`; `omitNulls`: for
 * servers that cannot read a null into a column that is not Nullable). Adjacent lines
 * copied from one buffer go in one piece.
 */
export function payloadOf(items: readonly RowItem[], compact?: readonly string[], omitNulls = false): Buffer {
  const parts: Buffer[] = [];
  let rows: EncodedRow[] = [];
  // The run of adjacent lines: the buffer holding the first, and the run's end in it (one view
  // made per run, not one per line).
  let run: Buffer | undefined;
  let runEnd = 0;
  const flushRows = () => {
    if (rows.length > 0) parts.push(encodeRows(rows));
    rows = [];
  };
  const flushRun = () => {
    if (run !== undefined)
      parts.push(
        runEnd === run.byteOffset + run.length
          ? run
          : Buffer.from(run.buffer, run.byteOffset, runEnd - run.byteOffset),
      );
    run = undefined;
  };
  // Indexed: a for-of (this runs once per batch, not optimized) made an iterator result per item.
  for (let i = 0; i < items.length; i++) {
    const item = items[i]!;
    if ('row' in item) {
      flushRun();
      rows.push(item.row);
      continue;
    }
    flushRows();
    if (item.compact && compact === undefined) {
      flushRun();
      parts.push(keyedLine(item.line, item.columns, omitNulls));
      continue;
    }
    const l = item.line;
    if (run !== undefined && run.buffer === l.buffer && runEnd === l.byteOffset) runEnd += l.length;
    else {
      flushRun();
      run = l;
      runEnd = l.byteOffset + l.length;
    }
  }
  flushRows();
  flushRun();
  return parts.length === 1 ? parts[0]! : Buffer.concat(parts);
}

/**
 * The columns of `items` when all of them are JSONCompactEachRow lines of the same columns (the
 * common case: one table's changes of one schema version, transcoded), and the transport may name
 * them; else undefined, and the batch goes as JSONEachRow.
 */
export function compactColumns(items: readonly RowItem[]): readonly string[] | undefined {
  let columns: readonly string[] | undefined;
  for (let i = 0; i < items.length; i++) {
    const item = items[i]!;
    if ('row' in item || !item.compact) return undefined;
    if (item.columns === columns) continue;
    if (columns !== undefined && !sameColumns(columns, item.columns)) return undefined;
    columns = item.columns;
  }
  return columns !== undefined && compactInsertable(columns) ? columns : undefined;
}

function sameColumns(a: readonly string[], b: readonly string[]): boolean {
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
}

/** `topic-partition-first-last` per partition that contributed, sorted: the same records give the same token. */
export function dedupToken(records: readonly KafkaRecord[]): string {
  return [...offsetRanges(records).values()]
    .map((r) => `${r.topic}-${r.partition}-${r.first}-${r.last}`)
    .sort()
    .join(',');
}

/**
 * The token of a batch's insert into one table in attempt `attempt` of its flush (0: the first).
 * The first attempt sends `dedupToken`, so that a batch formed again after a restart, whose insert
 * had succeeded before its offsets were committed, is dropped as a duplicate. A failed attempt
 * may leave its token recorded without its rows: the engine adds the block to a table's
 * deduplication log before it renames the block's part into place, and a rename that fails (a
 * disk turned read-only) does not take the entry back, in the table or in its history. The same
 * token again would then be dropped for good there. So every later attempt sends
 * `<token>/r<attempt>`, which no earlier attempt sent, nor any token derived from one
 * (`/truncate`, the halves' `/a` and `/b`). Rows an earlier attempt did write are written again:
 * harmless, they carry the same key and `_version`, and collapse under FINAL in the table, its
 * history (ordered by key and `_version`) and `_cdc_truncations`. A token an earlier sink instance
 * spent that way (it stopped before a retry went through) is sent again after a restart; the flush
 * then finds the batch missing and refills it with a token of its own (`dedup-check.ts`).
 */
export function insertToken(records: readonly KafkaRecord[], attempt: number): string {
  const token = dedupToken(records);
  return attempt === 0 ? token : `${token}/r${attempt}`;
}

export interface InsertOptions {
  /** Send `insert_deduplication_token` (servers older than 22.x do not know it). */
  dedup: boolean;
  /**
   * Send a batch of compact lines as JSONCompactEachRow, saying `input_format_null_as_default`
   * (default true). Servers older than 19.x know neither: every batch goes as JSONEachRow, with
   * the nulls of compact lines left out, which such a server reads as the columns' defaults.
   */
  compact?: boolean;
}

function settings(token: string, options: InsertOptions): Record<string, string | number> {
  // A null read into a column that is not Nullable takes the column's default (the engine's
  // default, said here for servers whose profile says otherwise): a delete's compact line holds
  // null where its before image had no value.
  const nulls: Record<string, number> = options.compact === false ? {} : { input_format_null_as_default: 1 };
  // The history's materialized view deduplicates the block too, by a token derived from this one:
  // a retry whose rows reached the table but not the history fills the history (said here, not
  // left to the engine's default, which a server's profile may turn off).
  return options.dedup
    ? {
        ...nulls,
        insert_deduplicate: 1,
        insert_deduplication_token: token,
        deduplicate_blocks_in_dependent_materialized_views: 1,
      }
    : nulls;
}

/**
 * Inserts `items` into `table`; returns the items ClickHouse rejected, each with its error. As
 * JSONCompactEachRow when every item is a compact line of the same columns (`compactColumns`),
 * else as JSONEachRow whose columns are the union of the rows' (rows of older schema versions lack
 * new columns, which take their defaults).
 */
export async function insertIsolating(
  transport: ClickHouseTransport,
  table: string,
  items: readonly RowItem[],
  token: string,
  options: InsertOptions,
): Promise<{ item: RowItem; error: unknown }[]> {
  if (items.length === 0) return [];
  const compact = options.compact === false ? undefined : compactColumns(items);
  let columns: readonly string[];
  if (compact !== undefined) columns = compact;
  else {
    const columnSet = new Set<string>();
    // for…in, not Object.keys: no array per row (rows have no prototype, so only their own keys).
    let lineColumns: readonly string[] | undefined;
    for (let i = 0; i < items.length; i++) {
      const item = items[i]!;
      if ('row' in item) for (const k in item.row) columnSet.add(k);
      else if (item.columns !== lineColumns) {
        // Lines of one worker's chunk and shape share one column list: added once.
        lineColumns = item.columns;
        for (const k of lineColumns) columnSet.add(k);
      }
    }
    columns = [...columnSet];
  }
  try {
    await transport.insert(
      table,
      columns,
      payloadOf(items, compact, options.compact === false),
      settings(token, options),
      compact === undefined ? 'JSONEachRow' : 'JSONCompactEachRow',
    );
    return [];
  } catch (err) {
    if (!isDataError(err)) throw err;
    if (items.length === 1) return [{ item: items[0]!, error: err }];
    const mid = Math.ceil(items.length / 2);
    const left = await insertIsolating(transport, table, items.slice(0, mid), `${token}/a`, options);
    const right = await insertIsolating(transport, table, items.slice(mid), `${token}/b`, options);
    return [...left, ...right];
  }
}
