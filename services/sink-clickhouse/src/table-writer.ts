/**
 * One insert per table per batch, with an insert deduplication token, and poison isolation:
 * when ClickHouse rejects the data (not the connection), the batch is split in halves until
 * the rows it rejects are alone; those are handed back to be dead-lettered, the rest is
 * written. Retriable failures are thrown to the caller, which retries the whole batch (the
 * same token makes a repeated insert a no-op).
 */

import type { ClickHouseTransport } from '@cdc/clickhouse';
import { isDataError } from '@cdc/clickhouse';
import type { KafkaRecord } from './decode.ts';
import { type EncodedRow, encodeRows } from './row-encoder.ts';

export interface RowItem {
  row: EncodedRow;
  record: KafkaRecord;
}

/** `topic-partition-first-last` per partition that contributed, sorted: the same records give the same token. */
export function dedupToken(records: readonly KafkaRecord[]): string {
  const ranges = new Map<string, { topic: string; partition: number; first: string; last: string }>();
  for (const r of records) {
    const k = `${r.topic}\u0000${r.partition}`;
    const o = r.offset;
    const range = ranges.get(k);
    if (!range) ranges.set(k, { topic: r.topic, partition: r.partition, first: o, last: o });
    else {
      if (offsetBefore(o, range.first)) range.first = o;
      if (offsetBefore(range.last, o)) range.last = o;
    }
  }
  return [...ranges.values()]
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
  for (const { row } of items) for (const k in row) columnSet.add(k);
  const columns = [...columnSet];
  try {
    await transport.insert(table, columns, encodeRows(items.map((i) => i.row)), settings(token, options));
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

/** `a < b` for offsets as Kafka gives them (decimal digits without leading zeros), without a bigint per record. */
function offsetBefore(a: string, b: string): boolean {
  return a.length !== b.length ? a.length < b.length : a < b;
}
