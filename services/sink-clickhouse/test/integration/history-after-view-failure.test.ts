/**
 * history-after-view-failure: an insert whose rows reached the table but whose materialized
 * view failed to write the history (the history's disk broken at that moment) is retried by
 * the sink with the same deduplication token. The retry must not be dropped whole as a
 * duplicate of the table's block: the history gets the rows it missed, once, and the table
 * does not get them twice. (Without `deduplicate_blocks_in_dependent_materialized_views`,
 * which every insert of the sink says, the history silently lost every change of such a batch.
 * The sink's own retry sends another token, `insertToken`; this holds for the same token too.)
 */
import { execFileSync } from 'node:child_process';
import { deriveTableShape } from '@cdc/clickhouse';
import { afterAll, expect, it } from 'vitest';
import { TableManager } from '../../src/schema/tables.ts';
import { insertIsolating, type RowItem } from '../../src/table-writer.ts';
import { embeddedTransport, recordAt, testLogger, unique } from '../helpers.ts';

const immutable: string[] = [];
afterAll(() => {
  if (immutable.length > 0) execFileSync('chattr', ['-i', ...immutable]);
});

it('a retried insert fills the history its first attempt missed, and writes the table once', async () => {
  const ch = embeddedTransport();
  const database = unique('it_hist_db');
  const tables = new TableManager(ch, database, testLogger);
  await tables.init();
  const shape = deriveTableShape({
    value: {
      type: 'record',
      name: 'Total',
      fields: [
        { name: 'id', type: 'long' },
        { name: 'total', type: 'long' },
      ],
    },
    key: { type: 'record', name: 'TotalKey', fields: [{ name: 'id', type: 'long' }] },
  });
  await tables.ensure('totals', shape, 'v1');
  const items: RowItem[] = [1, 2, 3].map((id) => ({
    row: {
      id,
      total: id * 10,
      _version: String(id),
      _is_deleted: 0,
      _change_id: `c${id}`,
      _op: 'u',
      _source_ts: 0,
    },
    record: recordAt(id),
  }));

  const [history] = await ch.query<{ path: string }>(
    `SELECT arrayJoin(data_paths) AS path FROM system.tables WHERE database = '${database}' AND name = 'totals_history'`,
  );
  expect(history?.path).toBeTruthy();
  const dir = history!.path.replace(/\/$/, '');
  execFileSync('chattr', ['+i', dir]);
  immutable.push(dir);
  // The table's part is written, then the view's write into the history fails.
  await expect(
    insertIsolating(ch, tables.qualified('totals'), items, 'tok-1', { dedup: true }),
  ).rejects.toThrow();
  execFileSync('chattr', ['-i', dir]);
  immutable.pop();
  const count = async (table: string) =>
    Number(
      (await ch.query<{ n: string }>(`SELECT count() AS n FROM ${tables.qualified(table)}`))[0]?.n ?? -1,
    );
  expect(await count('totals')).toBe(3);
  expect(await count('totals_history')).toBe(0);

  // The sink's retry: same rows, same token.
  expect(await insertIsolating(ch, tables.qualified('totals'), items, 'tok-1', { dedup: true })).toEqual([]);
  expect(await count('totals')).toBe(3);
  expect(await count('totals_history')).toBe(3);
  // And a third attempt changes nothing anywhere.
  await insertIsolating(ch, tables.qualified('totals'), items, 'tok-1', { dedup: true });
  expect(await count('totals')).toBe(3);
  expect(await count('totals_history')).toBe(3);
});
