/**
 * The HTTP transport against the local Debian ClickHouse server (18.16) on simple tables:
 * connect, insert, query, the server's errors classified (statement, data, too old for the
 * sink's dialect), poison rows isolated, the server down and back (through a proxy that this
 * test cuts, so that the shared server keeps running for the other tests).
 */

import { HttpTransport } from '@cdc/clickhouse';
import { isRetriable } from '@cdc/core';
import { TcpProxy } from '@cdc/testkit';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { TableManager } from '../../src/schema/tables.ts';
import { insertIsolating } from '../../src/table-writer.ts';
import { endpoints, recordAt, testLogger, unique } from '../helpers.ts';

const table = `default.${unique('it_http')}`;
const failure = (p: Promise<unknown>) =>
  p.then(
    () => undefined,
    (e: unknown) => e as Error & { code?: string; context?: Record<string, unknown> },
  );

describe('HTTP transport against ClickHouse 18.16', () => {
  const proxy = TcpProxy.forUrl(endpoints.clickhouse.url);
  let ch: HttpTransport;

  beforeAll(async () => {
    await proxy.start();
    ch = new HttpTransport({ url: proxy.url, requestTimeoutMs: 5_000 });
  });

  afterAll(async () => {
    await ch?.command(`DROP TABLE IF EXISTS ${table}`).catch(() => undefined);
    await ch?.close();
    await proxy.close();
  });

  it('connects, creates a table, inserts JSONEachRow bytes and reads them back', async () => {
    expect((await ch.query<{ v: string }>('SELECT version() AS v'))[0]?.v).toMatch(/^18\.16\./);
    await ch.command(`CREATE TABLE ${table} (id UInt32, name String) ENGINE = MergeTree ORDER BY id`);
    await ch.insert(
      table,
      ['id', 'name'],
      Buffer.from('{"id":2,"name":"b"}\n{"id":1,"name":"a \\"q\\""}\n'),
      {},
    );
    expect(await ch.query(`SELECT id, name FROM ${table} ORDER BY id`)).toEqual([
      { id: 1, name: 'a "q"' },
      { id: 2, name: 'b' },
    ]);
    expect((await ch.queryRaw(`SELECT id FROM ${table} ORDER BY id`, 'TabSeparated')).toString()).toBe(
      '1\n2\n',
    );
  });

  it('classifies server errors: a bad statement is not retried, bad data is isolated row by row', async () => {
    const syntax = await failure(ch.query('SELEC 1'));
    expect(syntax).toMatchObject({
      code: 'SINK_REJECTED',
      context: { clickhouseCode: 62, dataError: false },
    });
    expect(isRetriable(syntax)).toBe(false);

    const items = Array.from({ length: 10 }, (_, i) => ({
      row: { id: i === 6 ? 'not a number' : 100 + i, name: `r${i}` },
      record: recordAt(i),
    }));
    const rejected = await insertIsolating(ch, table, items, 'token-unused', {
      dedup: false,
      compact: false,
    });
    expect(rejected.map((r) => r.item.record.offset)).toEqual(['6']);
    expect(rejected[0]?.error).toMatchObject({ code: 'SINK_REJECTED', context: { dataError: true } });
    expect((await ch.query<{ n: string }>(`SELECT count() AS n FROM ${table} WHERE id >= 100`))[0]?.n).toBe(
      '9',
    );
  });

  it('says that 18.16 is too old for the sink dialect, without retrying', async () => {
    const token = await failure(
      ch.insert(table, ['id', 'name'], Buffer.from('{"id":3,"name":"c"}\n'), {
        insert_deduplicate: 1,
        insert_deduplication_token: 'x',
      }),
    );
    expect(token?.message).toMatch(/Unknown setting insert_deduplication_token/);
    expect(isRetriable(token)).toBe(false);
    const ddl = await failure(new TableManager(ch, unique('it_http_db'), testLogger).init());
    expect(ddl).toMatchObject({ code: 'SINK_REJECTED' });
    expect(ddl?.message).toMatch(/Unknown data type family: (UInt128|DateTime64)/);
    expect(isRetriable(ddl)).toBe(false);
  });

  it('reports the server down as retriable and works again on the same client once it is back', async () => {
    await proxy.cut();
    try {
      const down = await failure(ch.query('SELECT 1 AS one'));
      expect(down).toMatchObject({ code: 'SINK_UNAVAILABLE' });
      expect(isRetriable(down)).toBe(true);
      expect(down?.message).toMatch(/check that the server is up and reachable/);
    } finally {
      await proxy.restore();
    }
    expect(await ch.query('SELECT 1 AS one')).toEqual([{ one: 1 }]);
  });
});
