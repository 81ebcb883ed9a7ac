/** What `flush` inserts per row (no ClickHouse transport here: decode worker threads import it). */
import type { KafkaRecord } from './decode.ts';
import type { EncodedRow } from './row-encoder.ts';

/**
 * A row to insert and the record it comes from: the row itself, or its line already encoded (by
 * the transcoder, or by a decode worker: `decode-pool.ts`) with the row's columns and source
 * commit time. A line is JSONCompactEachRow (`compact`: the values of `columns` in that order) or
 * JSONEachRow (its columns are among `columns`).
 */
export type RowItem =
  | { row: EncodedRow; record: KafkaRecord }
  | {
      line: Buffer;
      columns: readonly string[];
      compact: boolean;
      commitMs: number | undefined;
      record: KafkaRecord;
    };

/**
 * The source commit time of a row in ms, or undefined for rows that are not source changes
 * (aggregate outputs and other upsert topics carry the producer's record time instead).
 */
export function sourceCommitMs(item: RowItem): number | undefined {
  if (!('row' in item)) return item.commitMs;
  const { row, record } = item;
  if (row._change_id === `${record.topic}/${record.partition}/${record.offset}`) return undefined;
  const ts = Number(row._source_ts);
  return Number.isFinite(ts) && ts > 0 ? Math.round(ts * 1000) : undefined;
}
