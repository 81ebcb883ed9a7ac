/**
 * The embedded mode's read-only SQL endpoint, against a sink that has written a CDC topic into
 * the engine of this process: plain HTTP (as curl sends it) and `@clickhouse/client` read the
 * current state; writes, DDL, SYSTEM, settings changes, table functions and several statements
 * are refused with ClickHouse's codes, statuses and message shape; the sink still writes after.
 */
import { type ClickHouseClient, ClickHouseError, ClickHouseLogLevel, createClient } from '@clickhouse/client';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type ReadServer, startReadServer } from '../../src/read-server/read-server.ts';
import {
  embeddedTransport,
  ordersRelation,
  PgTopic,
  produce,
  runSinkUntil,
  sinkOptions,
  testLogger,
  unique,
} from '../helpers.ts';

const topic = unique('it.read.orders');
const db = unique('read');
const table = topic.replace(/\W/g, '_');

describe('read-only SQL endpoint (embedded)', () => {
  let server: ReadServer;
  let client: ClickHouseClient;
  const get = (params: Record<string, string>, init?: RequestInit) =>
    fetch(`${server.url}/?${new URLSearchParams(params)}`, init);

  beforeAll(async () => {
    const pg = new PgTopic(topic, ordersRelation());
    const messages = [];
    for (let id = 1; id <= 20; id++)
      messages.push(await pg.event('c', [String(id), `c${id}`, `${id}.25`, '2024-03-01 10:00:00+00']));
    messages.push(await pg.event('d', ['20', null, null, null]));
    await produce(topic, messages);
    await runSinkUntil(sinkOptions([topic]), db, messages.length);
    server = await startReadServer({
      path: embeddedTransport().path,
      database: db,
      port: 0,
      logger: testLogger,
    });
    client = createClient({ url: server.url, log: { level: ClickHouseLogLevel.OFF } });
  });

  afterAll(async () => {
    await client?.close();
    await server?.close();
  });

  it('listens on 127.0.0.1 and answers /ping like a server', async () => {
    expect(server.url).toMatch(/^http:\/\/127\.0\.0\.1:\d+$/);
    const res = await fetch(`${server.url}/ping`);
    expect(res.status).toBe(200);
    expect(await res.text()).toBe('Ok.\n');
    expect(await client.ping()).toEqual({ success: true });
  });

  it('serves GET /?query= with default_format, in the sink database by default', async () => {
    const res = await get({
      query: `SELECT id, customer, toString(amount) AS amount FROM ${table}_current ORDER BY id LIMIT 2`,
      default_format: 'JSONEachRow',
      query_id: 'q-1',
    });
    expect(res.status).toBe(200);
    expect(res.headers.get('x-clickhouse-query-id')).toBe('q-1');
    expect(res.headers.get('x-clickhouse-format')).toBe('JSONEachRow');
    expect(res.headers.get('x-clickhouse-timezone')).toBeTruthy();
    expect(JSON.parse(res.headers.get('x-clickhouse-summary') ?? '{}')).toMatchObject({ written_rows: '0' });
    const rows = (await res.text())
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l));
    expect(rows).toEqual([
      { id: 1, customer: 'c1', amount: '1.25' },
      { id: 2, customer: 'c2', amount: '2.25' },
    ]);
  });

  it('appends a POST body to the query parameter; a FORMAT clause wins; TabSeparated otherwise', async () => {
    const post = await fetch(`${server.url}/?${new URLSearchParams({ query: 'SELECT count() AS n' })}`, {
      method: 'POST',
      body: `FROM ${db}.${table}_current FORMAT CSVWithNames`,
    });
    expect(post.status).toBe(200);
    expect(post.headers.get('x-clickhouse-format')).toBe('CSVWithNames');
    expect(await post.text()).toBe('"n"\n19\n');
    const tsv = await get({ query: `SELECT id, customer FROM ${table}_current WHERE id = 3` });
    expect(await tsv.text()).toBe('3\tc3\n');
  });

  it('serves @clickhouse/client: JSONEachRow, query parameters, gzip, another database', async () => {
    const rs = await client.query({
      query: `SELECT id, customer FROM ${table}_current WHERE id > {min:UInt32} AND customer != {s:String} ORDER BY id`,
      query_params: { min: 17, s: "it's\ta tab" },
      format: 'JSONEachRow',
    });
    expect(await rs.json()).toEqual([
      { id: 18, customer: 'c18' },
      { id: 19, customer: 'c19' },
    ]);
    const echo = await client.query({
      query: 'SELECT {s:String} AS s',
      query_params: { s: "it's\ta\\tab" },
      format: 'JSONEachRow',
    });
    expect(await echo.json()).toEqual([{ s: "it's\ta\\tab" }]);

    const gz = createClient({
      url: server.url,
      compression: { response: true },
      log: { level: ClickHouseLogLevel.OFF },
    });
    const other = createClient({
      url: server.url,
      database: 'system',
      log: { level: ClickHouseLogLevel.OFF },
    });
    try {
      const n = await (
        await gz.query({ query: `SELECT count() AS n FROM ${table}_current`, format: 'JSONEachRow' })
      ).json();
      expect(n).toEqual([{ n: 19 }]);
      const one = await (await other.query({ query: 'SELECT dummy FROM one', format: 'JSONEachRow' })).json();
      expect(one).toEqual([{ dummy: 0 }]);
    } finally {
      await gz.close();
      await other.close();
    }
  });

  it.each([
    [`INSERT INTO ${table} (id) VALUES (999)`, 403, 164, 'READONLY'],
    [`ALTER TABLE ${table} DELETE WHERE 1`, 403, 164, 'READONLY'],
    [`DROP TABLE ${table}`, 403, 164, 'READONLY'],
    ['CREATE TABLE x (a Int8) ENGINE = Memory', 403, 164, 'READONLY'],
    ['SYSTEM FLUSH LOGS', 403, 164, 'READONLY'],
    ['KILL QUERY WHERE 1', 403, 164, 'READONLY'],
    ["SELECT * FROM file('/etc/hostname', 'LineAsString')", 403, 164, 'READONLY'],
    [`SELECT 1; DROP TABLE ${table}`, 400, 62, 'SYNTAX_ERROR'],
    ['SELECT (1', 400, 62, 'SYNTAX_ERROR'],
    ['SELECT * FROM no_such_table', 404, 60, 'UNKNOWN_TABLE'],
  ])('refuses %s (HTTP %i, Code %i)', async (query, status, code, type) => {
    const res = await get({ query });
    expect(res.status).toBe(status);
    expect(res.headers.get('x-clickhouse-exception-code')).toBe(String(code));
    const text = await res.text();
    expect(text).toMatch(
      new RegExp(`^Code: ${code}\\. DB::Exception: [\\s\\S]+\\(${type}\\) \\(version \\d+\\.`),
    );

    const err = await client.command({ query }).then(
      () => undefined,
      (e: unknown) => e,
    );
    expect(err).toBeInstanceOf(ClickHouseError);
    expect(err).toMatchObject({ code: String(code), type });
  });

  it('refuses settings changes in the URL like a readonly = 1 server, but lets output settings through', async () => {
    const res = await get({ query: 'SELECT 1', max_memory_usage: '1' });
    expect(res.status).toBe(403);
    expect(await res.text()).toMatch(/Cannot modify 'max_memory_usage' setting in readonly mode/);
    expect((await get({ query: 'SELECT 1', readonly: '0' })).status).toBe(403);
    const quoted = await get({
      query: 'SELECT toUInt64(7) AS n',
      default_format: 'JSONEachRow',
      output_format_json_quote_64bit_integers: '1',
    });
    expect(await quoted.text()).toBe('{"n":"7"}\n');
  });

  it('leaves the data and the sink session untouched: the sink still writes', async () => {
    const n = async () =>
      Number(
        (await embeddedTransport().query<{ n: number }>(`SELECT count() AS n FROM ${db}.${table}_current`))[0]
          ?.n,
      );
    expect(await n()).toBe(19);
    await embeddedTransport().command(
      `INSERT INTO ${db}.${table} (id, customer, _version) VALUES (100, 'direct', 1)`,
    );
    expect(await n()).toBe(20);
  });
});
