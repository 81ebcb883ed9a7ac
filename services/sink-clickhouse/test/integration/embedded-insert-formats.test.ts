/**
 * The embedded engine takes the sink's batches in both row formats, into a table with a plain
 * name (the engine's own insert, with a column list) and into one whose name needs quoting (one
 * statement with the rows inline): JSONCompactEachRow lines land in the named columns, in order,
 * columns named like SQL keywords included, the others (`_ingested_at`) taking their defaults; a
 * null in a column that is not Nullable takes the column's default, as a column a JSONEachRow
 * line leaves out does.
 */
import { describe, expect, it } from 'vitest';
import { insertIsolating, type RowItem } from '../../src/table-writer.ts';
import { embeddedTransport, recordAt, unique } from '../helpers.ts';

const columns = ['id', 'from', 'note', 'at'];
const compact = (offset: number, line: string): RowItem => ({
  line: Buffer.from(`${line}\n`),
  columns,
  compact: true,
  commitMs: undefined,
  record: recordAt(offset),
});

describe('embedded engine: compact and JSONEachRow batches', () => {
  for (const [what, name] of [
    ['a table with a plain name', unique('it_formats')],
    ['a table whose name needs quoting', `\`${unique('it-formats')}\``],
  ] as const)
    it(`lands every row of both formats in ${what}`, async () => {
      const ch = embeddedTransport();
      const table = `default.${name}`;
      await ch.command(
        `CREATE TABLE ${table} (id Int64, \`from\` String, note Nullable(String), at DateTime64(3, 'UTC'), _ingested_at DateTime64(3, 'UTC') DEFAULT now64(3)) ENGINE = MergeTree ORDER BY id`,
      );
      const options = { dedup: true };
      // One column list: JSONCompactEachRow. A delete's columns out of its replica identity are null.
      expect(
        await insertIsolating(
          ch,
          table,
          [compact(0, '["1","a","n","2025-01-01 00:00:00.000"]'), compact(1, '["2",null,null,null]')],
          'formats-1',
          options,
        ),
      ).toEqual([]);
      // A row the decoder made among them: JSONEachRow, the compact line rewritten with its names.
      expect(
        await insertIsolating(
          ch,
          table,
          [
            compact(2, '["3","c",null,"2025-01-02 00:00:00.000"]'),
            { row: { id: 4n, note: 'd' }, record: recordAt(3) },
          ],
          'formats-2',
          options,
        ),
      ).toEqual([]);
      const rows = await ch.query<Record<string, unknown>>(
        `SELECT id, \`from\`, note, toString(at) AS at, _ingested_at > now64(3) - 600 AS fresh FROM ${table} ORDER BY id`,
      );
      expect(rows.map((r) => ({ ...r, id: Number(r.id) }))).toEqual([
        { id: 1, from: 'a', note: 'n', at: '2025-01-01 00:00:00.000', fresh: 1 },
        { id: 2, from: '', note: null, at: '1970-01-01 00:00:00.000', fresh: 1 },
        { id: 3, from: 'c', note: null, at: '2025-01-02 00:00:00.000', fresh: 1 },
        { id: 4, from: '', note: 'd', at: '1970-01-01 00:00:00.000', fresh: 1 },
      ]);
      await ch.command(`DROP TABLE ${table}`);
    });
});
