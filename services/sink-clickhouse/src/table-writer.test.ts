import type { ClickHouseTransport } from '@cdc/clickhouse';
import { CdcError } from '@cdc/core';
import { describe, expect, it } from 'vitest';
import type { KafkaRecord } from './decode.ts';
import { encodeRows, LineWriter } from './row-encoder.ts';
import {
  compactColumns,
  dedupToken,
  insertIsolating,
  insertToken,
  payloadOf,
  type RowItem,
} from './table-writer.ts';

const record = {
  topic: 't',
  partition: 0,
  offset: '0',
  key: null,
  value: null,
  timestamp: '0',
} as KafkaRecord;

describe('payloadOf', () => {
  it('puts rows and lines in item order, adjacent lines of one buffer in one piece', () => {
    const rows = [{ id: 1n }, { id: 2n }, { id: 3n }, { id: 4n }, { id: 5n }];
    const w = new LineWriter(8);
    for (const r of rows) w.write(r);
    const bytes = w.bytes();
    const line = (i: number) => ({
      line: bytes.subarray(i === 0 ? 0 : w.ends[i - 1], w.ends[i]),
      columns: ['id'],
      compact: false,
      commitMs: undefined,
      record,
    });
    const other = encodeRows([{ id: 6n }]);
    const items = [
      line(0),
      line(1),
      { row: { id: 9n }, record },
      line(2),
      line(4),
      line(3),
      { line: other, columns: ['id'], compact: false, commitMs: undefined, record },
    ];
    const want = [rows[0], rows[1], { id: 9n }, rows[2], rows[4], rows[3], { id: 6n }];
    expect(payloadOf(items).toString()).toBe(encodeRows(want as Record<string, unknown>[]).toString());
    expect(payloadOf([line(0), line(1), line(2)]).equals(bytes.subarray(0, w.ends[2]))).toBe(true);
  });
});

describe('a batch of compact lines', () => {
  const w = new LineWriter(8);
  const columns = ['id', 'name'];
  w.writeCompact({ id: 1n, name: 'a' }, columns);
  w.writeCompact({ id: 2n }, columns);
  const bytes = w.bytes();
  const line = (i: number, cols: readonly string[] = columns): RowItem => ({
    line: bytes.subarray(i === 0 ? 0 : w.ends[i - 1], w.ends[i]),
    columns: cols,
    compact: true,
    commitMs: undefined,
    record,
  });

  it('goes as it is when every line holds the same columns', () => {
    const items = [line(0), line(1, [...columns])];
    expect(compactColumns(items)).toEqual(columns);
    expect(payloadOf(items, columns).toString()).toBe('["1","a"]\n["2",null]\n');
  });

  it('goes as JSONEachRow, names beside values, when lines of other columns or rows are in it', () => {
    const mixed: RowItem[][] = [
      [line(0), { row: { id: 3n }, record }],
      [line(0), line(1, ['id', 'other'])],
      [line(0), { ...line(1), line: encodeRows([{ id: 4n }]), compact: false }],
      // A column the embedded engine's insert cannot name.
      [line(0, ['id', 'my name'])],
    ];
    for (const items of mixed) expect(compactColumns(items)).toBeUndefined();
    expect(payloadOf(mixed[0]!).toString()).toBe('{"id":"1","name":"a"}\n{"id":"3"}\n');
    expect(payloadOf(mixed[1]!).toString()).toBe('{"id":"1","name":"a"}\n{"id":"2","other":null}\n');
  });
});

describe('the tokens of a retried flush', () => {
  const records = [5, 6, 7, 8].map((o) => ({ ...record, offset: String(o) }));
  const items: RowItem[] = records.map((r) => ({ row: { id: Number(r.offset) }, record: r }));

  /**
   * A transport that refuses the row with id 7 as data (the batch is split around it) and whose
   * every insert fails with a storage error once `failAfter` inserts went through in an attempt.
   */
  function fakeTransport(tokens: string[]) {
    let inserts = 0;
    let failAfter = Number.POSITIVE_INFINITY;
    const transport = {
      kind: 'http',
      insert: async (
        _table: string,
        _columns: readonly string[],
        payload: Buffer,
        settings: Record<string, unknown>,
      ) => {
        tokens.push(String(settings.insert_deduplication_token));
        expect(settings.deduplicate_blocks_in_dependent_materialized_views).toBe(1);
        if (inserts++ >= failAfter)
          throw new CdcError('SINK_UNAVAILABLE', 'filesystem error: in rename: Operation not permitted', {
            retriable: true,
          });
        if (payload.toString().includes('"id":7'))
          throw new CdcError('SINK_REJECTED', 'bad row', { context: { dataError: true } });
      },
    } as unknown as ClickHouseTransport;
    return {
      transport,
      attempt(n: number) {
        inserts = 0;
        failAfter = n;
      },
    };
  }

  it('keep the range token on the first attempt, and never send a token an earlier attempt sent', async () => {
    expect(insertToken(records, 0)).toBe(dedupToken(records));
    expect(insertToken(records, 0)).toBe('t-0-5-8');
    const tokens: string[] = [];
    const fake = fakeTransport(tokens);
    // Attempt 0 splits the batch (the whole, its halves, the refused row alone) and fails on its
    // last insert; attempt 1 fails on its first; attempt 2 goes through.
    for (const [attempt, failAfter] of [
      [0, 4],
      [1, 0],
      [2, Number.POSITIVE_INFINITY],
    ] as const) {
      fake.attempt(failAfter);
      const token = insertToken(records, attempt);
      tokens.push(`${token}/truncate`);
      const done = insertIsolating(fake.transport, 'db.t', items, token, { dedup: true });
      if (attempt < 2) await expect(done).rejects.toThrow(/Operation not permitted/);
      else expect((await done).map((r) => r.item.record.offset)).toEqual(['7']);
    }
    expect(tokens[1]).toBe('t-0-5-8');
    expect(tokens).toContain('t-0-5-8/r2/b/b');
    expect(new Set(tokens).size).toBe(tokens.length);
  });
});
