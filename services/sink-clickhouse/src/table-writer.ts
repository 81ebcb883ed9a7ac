/**
 * One insert per table per batch, with an insert deduplication token, and poison isolation:
 * when ClickHouse rejects the data (not the connection), the batch is split in halves until
 * the rows it rejects are alone; those are handed back to be dead-lettered, the rest is
 * written. Retriable failures are thrown to the caller, which retries the whole batch (the
 * same token makes a repeated insert a no-op).
 */

import type { ClickHouseTransport } from '@cdc/clickhouse';
import { isDataError } from '@cdc/clickhouse';
import { offsetRanges } from '@cdc/kafka';
import type { KafkaRecord } from './decode.ts';
import { type EncodedRow, encodeRows } from './row-encoder.ts';
import type { RowItem } from './row-item.ts';

export type { RowItem } from './row-item.ts';

/**
 * The JSONEachRow payload of `items`, in order: rows encoded here, lines encoded by a worker
 * copied as they are (adjacent lines of one worker's buffer in one piece).
 */
export function payloadOf(items: readonly RowItem[]): Buffer {
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
  for (const item of items) {
    if ('row' in item) {
      flushRun();
      rows.push(item.row);
      continue;
    }
    flushRows();
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

/** `topic-partition-first-last` per partition that contributed, sorted: the same records give the same token. */
export function dedupToken(records: readonly KafkaRecord[]): string {
  return [...offsetRanges(records).values()]
    .map((r) => `${r.topic}-${r.partition}-${r.first}-${r.last}`)
    .sort()
    .join(',');
}

export interface InsertOptions {
  /** Send `insert_deduplication_token` (servers older than 22.x do not know it). */
  dedup: boolean;
}

function settings(token: string, options: InsertOptions): Record<string, string | number> {
  return options.dedup ? { insert_deduplicate: 1, insert_deduplication_token: token } : {};
}

/**
 * Inserts `items` into `table`; returns the items ClickHouse rejected, each with its error.
 * Columns are the union of the rows' keys (rows of older schema versions lack new columns,
 * which take their defaults).
 */
export async function insertIsolating(
  transport: ClickHouseTransport,
  table: string,
  items: readonly RowItem[],
  token: string,
  options: InsertOptions,
): Promise<{ item: RowItem; error: unknown }[]> {
  if (items.length === 0) return [];
  const columnSet = new Set<string>();
  // for…in, not Object.keys: no array per row (rows have no prototype, so only their own keys).
  let lineColumns: readonly string[] | undefined;
  for (const item of items)
    if ('row' in item) for (const k in item.row) columnSet.add(k);
    else if (item.columns !== lineColumns) {
      // Lines of one worker's chunk and shape share one column list: added once.
      lineColumns = item.columns;
      for (const k of lineColumns) columnSet.add(k);
    }
  const columns = [...columnSet];
  try {
    await transport.insert(table, columns, payloadOf(items), settings(token, options));
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
