import type { ClickHouseTransport } from '@cdc/clickhouse';
import { CdcError, noopLogger } from '@cdc/core';
import { describe, expect, it } from 'vitest';
import type { KafkaRecord } from './decode.ts';
import {
  changeIdsOf,
  duplicatedBlocks,
  missingFromHistory,
  refillDropped,
  refillToken,
  type WrittenBatch,
} from './dedup-check.ts';
import type { RowItem } from './row-item.ts';
import { insertToken } from './table-writer.ts';

const record = {
  topic: 't',
  partition: 0,
  offset: '0',
  key: null,
  value: null,
  timestamp: '0',
} as KafkaRecord;

/** A transport answering each query with `answer(sql)`, recording queries and inserts. */
function fakeTransport(answer: (sql: string) => unknown[]) {
  const queries: string[] = [];
  const inserts: { table: string; token: unknown; rows: number }[] = [];
  const transport = {
    kind: 'embedded',
    command: async () => {},
    query: async (sql: string) => {
      queries.push(sql);
      return answer(sql);
    },
    queryRaw: async () => Buffer.alloc(0),
    insert: async (
      table: string,
      _columns: readonly string[],
      payload: Buffer,
      settings: Record<string, unknown>,
    ) => {
      inserts.push({
        table,
        token: settings.insert_deduplication_token,
        rows: payload.toString().split('\n').filter(Boolean).length,
      });
    },
    close: async () => {},
  } as unknown as ClickHouseTransport;
  return { transport, queries, inserts };
}

describe('changeIdsOf', () => {
  it('reads the change id of a row, a compact line and a JSONEachRow line', () => {
    const items: RowItem[] = [
      { row: { id: 1, _change_id: 'c1' }, record },
      {
        line: Buffer.from('[2,"7",0,"c2"]\n'),
        columns: ['id', '_version', '_is_deleted', '_change_id'],
        compact: true,
        commitMs: undefined,
        record,
      },
      {
        line: Buffer.from('{"id":3,"_change_id":"c3"}\n'),
        columns: ['id', '_change_id'],
        compact: false,
        commitMs: undefined,
        record,
      },
    ];
    expect(changeIdsOf(items)).toEqual(['c1', 'c2', 'c3']);
  });
});

describe('duplicatedBlocks', () => {
  it('reads the engine counter, 0 before the first duplicate', async () => {
    expect(await duplicatedBlocks(fakeTransport(() => [{ value: '4' }]).transport)).toBe(4);
    expect(await duplicatedBlocks(fakeTransport(() => []).transport)).toBe(0);
  });

  it('throws an outage, and is undefined when the server refuses to say', async () => {
    const failing = (retriable: boolean) =>
      fakeTransport(() => {
        throw new CdcError(retriable ? 'SINK_UNAVAILABLE' : 'SINK_REJECTED', 'no', { retriable });
      }).transport;
    await expect(duplicatedBlocks(failing(true))).rejects.toThrow('no');
    expect(await duplicatedBlocks(failing(false))).toBeUndefined();
  });
});

describe('missingFromHistory', () => {
  it('asks for the distinct ids in lists small enough for the parser, and counts the ones not found', async () => {
    const ids = Array.from({ length: 4_500 }, (_, i) => `c${i}`);
    const { transport, queries } = fakeTransport(() => [{ found: '1990' }]);
    expect(await missingFromHistory(transport, 'db.t_history', [...ids, 'c1'])).toBe(4_500 - 3 * 1_990);
    expect(queries).toHaveLength(3);
    for (const q of queries) expect(q.length).toBeLessThan(256 * 1024);
  });
});

describe('refillToken', () => {
  it('differs from every token of the attempts and from another instance', () => {
    const records = [record, { ...record, offset: '4' }];
    const tokens = [0, 1, 2].map((a) => insertToken(records, a));
    const refills = tokens.flatMap((t) => [refillToken(t, 'aaaa'), refillToken(t, 'bbbb')]);
    expect(new Set([...tokens, ...refills]).size).toBe(tokens.length + refills.length);
  });
});

describe('refillDropped', () => {
  const tables = { database: 'db', qualified: (t: string) => `db.${t}` };
  const batch: WrittenBatch = {
    table: 't',
    items: [
      { row: { id: 1, _change_id: 'c1' }, record },
      { row: { id: 2, _change_id: 'c2' }, record },
    ],
    truncations: [],
    token: 'tok',
  };
  const context = (transport: ClickHouseTransport) => ({
    transport,
    tables,
    insert: { dedup: true },
    logger: noopLogger,
    instance: 'i1',
  });

  it('leaves a batch its history and table hold', async () => {
    const { transport, inserts } = fakeTransport((sql) =>
      sql.includes('uniqExact')
        ? [{ found: 2 }]
        : sql.includes('system.columns')
          ? [{ name: 'id' }]
          : [{ behind: 0 }],
    );
    expect(await refillDropped(context(transport), [batch])).toEqual([]);
    expect(inserts).toEqual([]);
  });

  it('inserts again, with the refill token, a batch its history lacks', async () => {
    const { transport, inserts, queries } = fakeTransport(() => [{ found: 0 }]);
    await refillDropped(context(transport), [batch]);
    expect(inserts).toEqual([{ table: 'db.t', token: 'tok/si1', rows: 2 }]);
    // Refilled without looking at the table: the refill writes both.
    expect(queries).toHaveLength(1);
  });

  it('inserts again a batch whose history holds it while the table is behind', async () => {
    const { transport, inserts } = fakeTransport((sql) =>
      sql.includes('uniqExact')
        ? [{ found: 2 }]
        : sql.includes('system.columns')
          ? [{ name: 'id' }]
          : [{ behind: 1 }],
    );
    await refillDropped(context(transport), [batch]);
    expect(inserts).toEqual([{ table: 'db.t', token: 'tok/si1', rows: 2 }]);
  });

  it('inserts again the truncations _cdc_truncations lacks', async () => {
    const truncation: RowItem = { row: { table_name: 't', _version: 5n, _change_id: 'x1' }, record };
    const { transport, inserts } = fakeTransport(() => [{ found: 0 }]);
    await refillDropped(context(transport), [{ ...batch, items: [], truncations: [truncation] }]);
    expect(inserts).toEqual([{ table: 'db._cdc_truncations', token: 'tok/truncate/si1', rows: 1 }]);
  });
});
