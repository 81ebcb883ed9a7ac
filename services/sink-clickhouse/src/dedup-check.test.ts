import type { RegistryClient } from '@cdc/avro';
import type { ClickHouseTransport } from '@cdc/clickhouse';
import { CdcError, noopLogger } from '@cdc/core';
import type { Kafka } from '@cdc/kafka';
import { ClickHouseSinkSchema } from '@cdc/pipeline';
import { describe, expect, it } from 'vitest';
import type { Decoding, KafkaRecord } from './decode.ts';
import {
  AssignedEnds,
  changeIdsOf,
  duplicatedBlocks,
  missingFromHistory,
  refillDropped,
  refillToken,
  type WrittenBatch,
} from './dedup-check.ts';
import type { RowItem } from './row-item.ts';
import type { TableManager } from './schema/tables.ts';
import { ClickHouseSink } from './sink.ts';
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

describe('AssignedEnds', () => {
  const at = (topic: string, partition: number, offset: string) => ({ topic, partition, offset });

  it('suspects a record below its partition mark, or of a partition without one', () => {
    const ends = new AssignedEnds();
    ends.set('a', 0, '100');
    ends.set('a', 1, '7');
    expect(ends.suspect([at('a', 0, '100'), at('a', 0, '101'), at('a', 1, '7')])).toBe(false);
    expect(ends.suspect([at('a', 0, '100'), at('a', 0, '99')])).toBe(true);
    // Compared as numbers: '99' < '100', '1000' > '100'.
    expect(ends.suspect([at('a', 0, '1000')])).toBe(false);
    expect(ends.suspect([at('a', 1, '8'), at('a', 1, '6')])).toBe(true);
    expect(ends.suspect([at('a', 0, '100'), at('b', 0, '100')])).toBe(true);
    expect(ends.suspect([])).toBe(false);
  });

  it('holds no mark after a rebalance until the partition is fetched again', () => {
    const ends = new AssignedEnds();
    ends.set('a', 0, '10');
    expect(ends.suspect([at('a', 0, '10')])).toBe(false);
    ends.clear();
    expect(ends.suspect([at('a', 0, '10')])).toBe(true);
    ends.set('a', 0, '20');
    expect(ends.suspect([at('a', 0, '10')])).toBe(true);
    expect(ends.suspect([at('a', 0, '20')])).toBe(false);
  });
});

describe('the flush reads the duplicates counter only for records an earlier consumer may have attempted', () => {
  const counter = 'system.events';
  /** A sink on fakes: no Kafka consumer (the commit is a no-op), tables that are ready, the transport given. */
  function sinkOn(transport: ClickHouseTransport): ClickHouseSink {
    const tables = {
      database: 'db',
      qualified: (t: string) => `db.${t}`,
      init: async () => {},
      exists: async () => true,
      isClaimedBy: () => true,
      isEnsured: () => true,
      takeRenames: () => undefined,
      renamesOf: () => new Map(),
      applyDrops: async () => {},
    } as unknown as TableManager;
    return new ClickHouseSink({
      kafka: {} as Kafka,
      registry: {} as RegistryClient,
      transport,
      tables,
      options: ClickHouseSinkSchema.parse({ topics: ['t'], groupId: 'g', deadLetterTopic: 't.dlq' }),
      logger: noopLogger,
      decodeThreads: 0,
    });
  }
  const batch = (from: number, n: number) => {
    const records = Array.from({ length: n }, (_, i) => ({ ...record, offset: String(from + i) }));
    const decoded = records.map(
      (_, i): Decoding => ({
        kind: 'row',
        shape: {} as never,
        shapeId: 's',
        row: { id: from + i, _change_id: `c${from + i}` },
      }),
    );
    return [records, decoded] as const;
  };

  it('skips the counter for records at or past the mark, and reads it around the inserts below it', async () => {
    const { transport, queries, inserts } = fakeTransport((sql) =>
      sql.includes(counter) ? [{ value: '0' }] : [],
    );
    const sink = sinkOn(transport);
    // The partition's log end when this sink was assigned it (its first fetch's high watermark).
    sink.assignedEnds.set('t', 0, '100');

    await sink.flush(...batch(100, 3));
    expect(inserts).toHaveLength(1);
    expect(queries.filter((q) => q.includes(counter))).toHaveLength(0);

    // One record below the mark (an earlier instance may have sent this batch's token): read before and after.
    await sink.flush(...batch(98, 3));
    expect(inserts).toHaveLength(2);
    expect(queries.filter((q) => q.includes(counter))).toHaveLength(2);

    // A rebalance: no mark until the partition's next first fetch, so every record is suspect.
    sink.assignedEnds.clear();
    queries.length = 0;
    await sink.flush(...batch(200, 3));
    expect(queries.filter((q) => q.includes(counter))).toHaveLength(1);
    sink.assignedEnds.set('t', 0, '200');
    queries.length = 0;
    await sink.flush(...batch(203, 3));
    expect(queries).toEqual([]);
  });

  it('checks and refills a batch below the mark when the counter moved', async () => {
    let reads = 0;
    const { transport, inserts } = fakeTransport((sql) =>
      sql.includes(counter) ? [{ value: String(reads++ === 0 ? 0 : 2) }] : [{ found: 0 }],
    );
    const sink = sinkOn(transport);
    sink.assignedEnds.set('t', 0, '100');
    await sink.flush(...batch(97, 3));
    expect(inserts.map((i) => i.token)).toEqual(['t-0-97-99', expect.stringMatching(/^t-0-97-99\/s/)]);
  });
});
