/**
 * The stack's ClickHouse server (Debian 18.16) through `@clickhouse/client` over HTTP: the
 * operations the sink's HTTP transport needs, in the SQL an 18.16 server understands.
 * Needs `npm run stack -- up --only clickhouse`.
 */
import { createServer } from 'node:net';
import { type ClickHouseClient, ClickHouseError, ClickHouseLogLevel, createClient } from '@clickhouse/client';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { localEndpoints } from '../../src/endpoints.ts';

const { clickhouse } = localEndpoints();
const table = `it_orders_${process.pid}_${Date.now()}`;

/** A 127.0.0.1 port nobody listens on: bound by us, then released. */
function deadPort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = createServer();
    srv.once('error', reject);
    srv.listen({ port: 0, host: '127.0.0.1' }, () => {
      const addr = srv.address();
      srv.close(() => (typeof addr === 'object' && addr ? resolve(addr.port) : reject(new Error('no port'))));
    });
  });
}

describe('ClickHouse server over HTTP (@clickhouse/client)', () => {
  let client: ClickHouseClient;

  beforeAll(async () => {
    client = createClient({
      url: clickhouse.url,
      request_timeout: 10_000,
      // The client logs every failed request itself; the assertions below look at the errors.
      log: { level: ClickHouseLogLevel.OFF },
    });
    const ping = await client.ping();
    if (!ping.success) {
      throw new Error(
        `ClickHouse does not answer at ${clickhouse.url}: start it with npm run stack -- up --only clickhouse (${String(ping.error)})`,
      );
    }
  });

  afterAll(async () => {
    await client?.command({ query: `DROP TABLE IF EXISTS ${table}` }).catch(() => undefined);
    await client?.close();
  });

  it('reports the Debian server version', async () => {
    const rows = await (await client.query({ query: 'SELECT version() AS v', format: 'JSONEachRow' })).json<{
      v: string;
    }>();
    expect(rows[0]?.v).toMatch(/^18\.16\./);
  });

  it('creates a MergeTree table, inserts JSONEachRow rows and reads them back in key order', async () => {
    await client.command({
      query: `CREATE TABLE ${table} (id UInt32, customer String, amount Float64, day Date)
              ENGINE = MergeTree() ORDER BY id`,
    });
    const rows = [
      { id: 3, customer: 'carol', amount: 12.5, day: '2024-03-03' },
      { id: 1, customer: 'alice', amount: 99.95, day: '2024-03-01' },
      { id: 2, customer: 'bob, "the builder"', amount: 0, day: '2024-03-02' },
    ];
    const res = await client.insert({ table, values: rows, format: 'JSONEachRow' });
    expect(res.executed).toBe(true);

    const back = await (
      await client.query({
        query: `SELECT id, customer, amount, day FROM ${table} ORDER BY id`,
        format: 'JSONEachRow',
      })
    ).json();
    expect(back).toEqual([...rows].sort((a, b) => a.id - b.id));

    const count = await (
      await client.query({ query: `SELECT count() AS n FROM ${table}`, format: 'JSON' })
    ).json<{
      n: string;
    }>();
    // UInt64 is quoted in JSON output (output_format_json_quote_64bit_integers defaults to 1).
    expect(count.data).toEqual([{ n: '3' }]);
  });

  it('surfaces bad SQL as a rejected promise carrying the server code and message', async () => {
    const err = await client.query({ query: 'SELEC nonsense FROM nowhere', format: 'JSONEachRow' }).then(
      () => undefined,
      (e: unknown) => e,
    );
    expect(err).toBeInstanceOf(Error);
    const message = (err as Error).message;
    expect(message).toMatch(/Code: 62\b/);
    expect(message).toContain('Syntax error');
    // 18.16 writes errors as "Code: 62, e.displayText() = DB::Exception: …", without the
    // "(SYNTAX_ERROR)" suffix newer servers add, so the client cannot turn it into a
    // ClickHouseError: code and type are only in the message on this server.
    expect(err).not.toBeInstanceOf(ClickHouseError);
  });

  it('rejects a setting the old server does not know, naming it', async () => {
    const err = await client
      .insert({
        table,
        values: [{ id: 4, customer: 'dave', amount: 1, day: '2024-03-04' }],
        format: 'JSONEachRow',
        clickhouse_settings: { insert_deduplication_token: 'batch-1' },
      })
      .then(
        () => undefined,
        (e: unknown) => e,
      );
    expect((err as Error).message).toMatch(/Unknown setting insert_deduplication_token/);
  });

  it('fails fast with a connection error when nothing listens on the port', async () => {
    const port = await deadPort();
    const dead = createClient({
      url: `http://127.0.0.1:${port}`,
      request_timeout: 10_000,
      log: { level: ClickHouseLogLevel.OFF },
    });
    try {
      const t0 = Date.now();
      const err = await dead.query({ query: 'SELECT 1', format: 'JSONEachRow' }).then(
        () => undefined,
        (e: unknown) => e,
      );
      expect(Date.now() - t0).toBeLessThan(2000);
      expect((err as NodeJS.ErrnoException).code).toBe('ECONNREFUSED');
      expect((err as Error).message).toContain(`127.0.0.1:${port}`);

      const ping = await dead.ping();
      expect(ping.success).toBe(false);
    } finally {
      await dead.close();
    }
  });
});
