/**
 * Whether a batch whose insert the engine dropped as a duplicate is really in its tables.
 *
 * A batch formed again after a restart sends the token its first attempt sent before
 * (`insertToken`, attempt 0), so that a batch inserted before its offsets were committed is not
 * inserted twice. But when that earlier attempt failed at the commit of a part (its rename: a
 * disk turned read-only), the engine had already added the block to that table's deduplication
 * log, and the token is spent there without its rows: the insert is dropped again, and the batch
 * is missing from the table or from its history for good.
 *
 * The engine does not say in an insert's answer that it dropped the block (chdb's `rowsWritten`
 * counts the rows of a dropped block too, as the HTTP summary's `written_rows` does); it counts
 * the blocks it dropped in `system.events` `DuplicatedInsertedBlocks`. The sink reads that
 * counter once per flush (`duplicatedBlocks`); only when it moved during the flush are the
 * flush's tables checked for the batch's changes (`missingFromHistory`, `behindInTable`), and a
 * batch they lack inserted again with a token no attempt sent (`refillToken`).
 *
 * Only a flush that may hold a batch formed again reads the counter (`AssignedEnds`): one with a
 * record below its partition's log end as it stood when this sink was assigned the partition,
 * which an earlier consumer may have attempted. Records appended later were never fetched by an
 * earlier instance, and this instance's own retries send tokens of their own (`/r<attempt>`).
 */

import type { ClickHouseTransport } from '@cdc/clickhouse';
import { isRetriable, type Logger, quoteIdent, quoteString } from '@cdc/core';
import { offsetBefore, partitionKey } from '@cdc/kafka';
import type { KafkaRecord } from './decode.ts';
import type { RowItem } from './row-item.ts';
import { type TableManager, TRUNCATIONS_TABLE } from './schema/tables.ts';
import { type InsertOptions, insertIsolating } from './table-writer.ts';

/** The engine's counter of inserted blocks dropped as duplicates. */
export const DUPLICATED_BLOCKS_EVENT = 'DuplicatedInsertedBlocks';

/** Change ids per query: a literal list stays well below the parser's `max_query_size` (256 KiB). */
const IDS_PER_QUERY = 2_000;

/**
 * The engine's count of inserted blocks dropped as duplicates so far (process-wide for the
 * embedded engine, server-wide over HTTP: other clients' inserts only cost a check), 0 before the
 * first. Undefined when the server refuses to say (a user without access to `system.events`):
 * the caller checks every flush then. An outage is thrown (retriable).
 */
export async function duplicatedBlocks(transport: ClickHouseTransport): Promise<number | undefined> {
  try {
    const [row] = await transport.query<{ value: string | number }>(
      `SELECT value FROM system.events WHERE event = ${quoteString(DUPLICATED_BLOCKS_EVENT)}`,
    );
    return row === undefined ? 0 : Number(row.value);
  } catch (err) {
    if (isRetriable(err)) throw err;
    return undefined;
  }
}

/**
 * Per partition, its log end (high watermark) as it stood when this sink was assigned it: the
 * first batch fetched after each assignment brings it (`BatchConsumerOptions.assigned`), and
 * every rebalance clears them all. One string per assigned partition, nothing per record.
 */
export class AssignedEnds {
  private readonly ends = new Map<string, string>();

  /** The partition's mark for this assignment (the high watermark its first fetch saw). */
  set(topic: string, partition: number, highWatermark: string): void {
    this.ends.set(partitionKey(topic, partition), highWatermark);
  }

  /** The assignment may change: no mark holds until the partition's next first fetch. */
  clear(): void {
    this.ends.clear();
  }

  /**
   * Whether an earlier consumer of their partition may have attempted any of `records`: one
   * lies below its partition's mark, or its partition has none (revoked or reassigned since
   * the fetch: every record of it is suspect then). A lookup per run of one partition, a
   * comparison of strings per record.
   */
  suspect(records: readonly Pick<KafkaRecord, 'topic' | 'partition' | 'offset'>[]): boolean {
    let topic: string | undefined;
    let partition = -1;
    let end = '';
    for (let i = 0; i < records.length; i++) {
      const r = records[i]!;
      if (r.partition !== partition || r.topic !== topic) {
        topic = r.topic;
        partition = r.partition;
        const e = this.ends.get(partitionKey(topic, partition));
        if (e === undefined) return true;
        end = e;
      }
      if (offsetBefore(r.offset, end)) return true;
    }
    return false;
  }
}

/** The `_change_id` of each item (read from its line when it was encoded: this path is rare). */
export function changeIdsOf(items: readonly RowItem[]): string[] {
  return items.map((item) => {
    if ('row' in item) return String(item.row._change_id);
    const value = JSON.parse(item.line.toString('utf8')) as unknown;
    return String(
      Array.isArray(value)
        ? value[item.columns.indexOf('_change_id')]
        : (value as Record<string, unknown>)._change_id,
    );
  });
}

/** The distinct `ids` as quoted lists for `IN (…)`, at most `IDS_PER_QUERY` each, with their sizes. */
function chunks(ids: readonly string[]): { list: string; size: number }[] {
  const distinct = [...new Set(ids)];
  const out: { list: string; size: number }[] = [];
  for (let i = 0; i < distinct.length; i += IDS_PER_QUERY) {
    const chunk = distinct.slice(i, i + IDS_PER_QUERY);
    out.push({ list: chunk.map(quoteString).join(', '), size: chunk.length });
  }
  return out;
}

/**
 * How many of the changes `ids` the log `history` (qualified; a table keeping every change once:
 * a table's history, `_cdc_truncations`) lacks.
 */
export async function missingFromHistory(
  transport: ClickHouseTransport,
  history: string,
  ids: readonly string[],
): Promise<number> {
  let missing = 0;
  for (const { list, size } of chunks(ids)) {
    const [row] = await transport.query<{ found: string | number }>(
      `SELECT uniqExact(_change_id) AS found FROM ${history} WHERE _change_id IN (${list})`,
    );
    missing += size - Number(row?.found ?? 0);
  }
  return missing;
}

/**
 * How many keys of the changes `ids` the table `table` (qualified) does not hold at the version
 * of the batch's last change of the key, or a later one. The keys and versions are read from the
 * history `history`, which must hold every one of `ids` (`missingFromHistory` first): the table
 * keeps only the last version of a key (merged on insert, within a block too), so a change
 * superseded by a later one is not looked for in it. `keyColumns`: the table's sorting key.
 */
export async function behindInTable(
  transport: ClickHouseTransport,
  table: string,
  history: string,
  keyColumns: readonly string[],
  ids: readonly string[],
): Promise<number> {
  const key = keyColumns.map(quoteIdent).join(', ');
  let behind = 0;
  for (const { list } of chunks(ids)) {
    const [row] = await transport.query<{ behind: string | number }>(
      `SELECT count() AS behind FROM (SELECT ${key}, max(_version) AS v FROM ${history} WHERE _change_id IN (${list}) GROUP BY ${key}) AS b LEFT JOIN (SELECT ${key}, max(_version) AS m FROM ${table} WHERE (${key}) IN (SELECT ${key} FROM ${history} WHERE _change_id IN (${list})) GROUP BY ${key}) AS c USING (${key}) WHERE c.m IS NULL OR c.m < b.v SETTINGS join_use_nulls = 1`,
    );
    behind += Number(row?.behind ?? 0);
  }
  return behind;
}

/** The columns of `table`'s sorting key (`database`, `table`: unquoted names). */
export async function sortingKeyOf(
  transport: ClickHouseTransport,
  database: string,
  table: string,
): Promise<string[]> {
  const rows = await transport.query<{ name: string }>(
    `SELECT name FROM system.columns WHERE database = ${quoteString(database)} AND table = ${quoteString(table)} AND is_in_sorting_key ORDER BY position`,
  );
  return rows.map((r) => r.name);
}

/**
 * The token of an insert that refills a batch found missing after its insert `token` was dropped
 * as a duplicate: `<token>/s<instance>`. `instance` is random per sink instance, so no earlier
 * instance sent it (its `/r<attempt>` tokens may be spent too); `token` differs per attempt, so no
 * earlier attempt of this instance did.
 */
export function refillToken(token: string, instance: string): string {
  return `${token}/s${instance}`;
}

/** One table's insert of a flush: the items it wrote (rejected ones left out), its truncations, its token. */
export interface WrittenBatch {
  table: string;
  items: readonly RowItem[];
  truncations: readonly RowItem[];
  token: string;
}

export interface RefillContext {
  transport: ClickHouseTransport;
  tables: Pick<TableManager, 'database' | 'qualified'>;
  insert: InsertOptions;
  logger: Logger;
  /** Random per sink instance (`refillToken`). */
  instance: string;
}

/**
 * Checks each batch of a flush in which the engine dropped a block as a duplicate: a batch its
 * table or history (or `_cdc_truncations`) lacks is inserted again with `refillToken`. Rows already
 * there are written again, which FINAL collapses (same key and `_version`). Returns the items the
 * refill rejected (none expected: the same items went through the insert before).
 */
export async function refillDropped(
  ctx: RefillContext,
  written: readonly WrittenBatch[],
): Promise<{ table: string; item: RowItem; error: unknown }[]> {
  const { transport, tables, logger } = ctx;
  const rejected: { table: string; item: RowItem; error: unknown }[] = [];
  for (const w of written) {
    if (w.truncations.length > 0) {
      const truncations = tables.qualified(TRUNCATIONS_TABLE);
      const missing = await missingFromHistory(transport, truncations, changeIdsOf(w.truncations));
      if (missing > 0) {
        logger.warn(
          'truncations whose insert was dropped as a duplicate were missing (an earlier attempt failed at the commit of a part): inserted again',
          { table: w.table, missing },
        );
        const r = await insertIsolating(
          transport,
          truncations,
          w.truncations,
          refillToken(`${w.token}/truncate`, ctx.instance),
          ctx.insert,
        );
        if (r.length > 0) throw r[0]!.error;
      }
    }
    if (w.items.length === 0) continue;
    const ids = changeIdsOf(w.items);
    const table = tables.qualified(w.table);
    const history = tables.qualified(`${w.table}_history`);
    const missing = await missingFromHistory(transport, history, ids);
    const behind =
      missing > 0
        ? 0
        : await behindInTable(
            transport,
            table,
            history,
            await sortingKeyOf(transport, tables.database, w.table),
            ids,
          );
    if (missing === 0 && behind === 0) continue;
    logger.warn(
      'a batch whose insert was dropped as a duplicate was missing (an earlier attempt failed at the commit of a part): inserted again',
      { table: w.table, changes: ids.length, missingFromHistory: missing, keysBehindInTable: behind },
    );
    const r = await insertIsolating(
      transport,
      table,
      w.items,
      refillToken(w.token, ctx.instance),
      ctx.insert,
    );
    for (const x of r) rejected.push({ table: w.table, ...x });
  }
  return rejected;
}
