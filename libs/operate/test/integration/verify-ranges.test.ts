/**
 * verify-ranges: the range checksums computed inside PostgreSQL, inside ClickHouse 18.16 over
 * HTTP and inside the embedded engine (chdb) agree with each other and with the rows made
 * canonical in memory, for values that are easy to get wrong in SQL (backslashes, the column
 * separator, NULL, non-ASCII text, quoted names); and a damaged replica is bisected down to
 * exactly the changed, missing and extra keys.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { type ClickHouseReader, openReader } from '@cdc/clickhouse';
import type { ClickHouseSection } from '@cdc/pipeline';
import type pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { localEndpoints } from '../../../../infra/local/src/endpoints.ts';
import { rowHashSql } from '../../src/verify/checksum-sql.ts';
import { replicaColumnTypes, replicaRangeSide } from '../../src/verify/clickhouse-side.ts';
import { checksum } from '../../src/verify/compare.ts';
import {
  describeTable,
  readSourceRows,
  type SourceTable,
  sourceRangeSide,
} from '../../src/verify/postgres-side.ts';
import { compareRanges } from '../../src/verify/range-verify.ts';
import { connectLocalSource } from './local-source.ts';

const ep = localEndpoints();
const id = `vr_${process.pid}`;
const ROWS = 5_000;
let client: pg.Client;
let t: SourceTable;
const chdbDir = mkdtempSync(join(tmpdir(), 'cdc-verify-ranges-'));

/** Row i's values: text with the hard characters, NULL every 7th row, a uuid. */
const text = (i: number) => (i % 7 === 0 ? null : `n\\${i}\u001f é "q" ${i % 3 === 0 ? '\\N' : ''}`);
const uuid = (i: number) => `00000000-0000-4000-8000-${String(i).padStart(12, '0')}`;

async function server(sql: string): Promise<void> {
  const r = await fetch(`${ep.clickhouse.url}/`, { method: 'POST', body: sql });
  if (!r.ok) throw new Error(`${sql}: ${await r.text()}`);
}

/** Fills `db.t_current` (a plain table stands in for the sink's view) with the source's rows. */
async function fillReplica(run: (sql: string) => Promise<unknown>, db: string, withBool: boolean) {
  await run(`DROP DATABASE IF EXISTS ${db}`);
  await run(`CREATE DATABASE ${db}`);
  await run(
    `CREATE TABLE ${db}.t_current (id Int32, \`the name\` Nullable(String), u UUID${withBool ? ', flag Nullable(Bool)' : ''}) ENGINE = MergeTree ORDER BY id`,
  );
  const values: string[] = [];
  for (let i = 1; i <= ROWS; i++) {
    const s = text(i);
    const lit = s === null ? 'NULL' : `'${s.replaceAll('\\', '\\\\').replaceAll("'", "\\'")}'`;
    values.push(
      `(${i}, ${lit}, '${uuid(i)}'${withBool ? `, ${i % 5 === 0 ? 'NULL' : i % 2 === 0 ? 'true' : 'false'}` : ''})`,
    );
  }
  await run(`INSERT INTO ${db}.t_current VALUES ${values.join(', ')}`);
}

beforeAll(async () => {
  client = await connectLocalSource(id);
  await client.query(`DROP TABLE IF EXISTS ${id}`);
  await client.query(
    `CREATE TABLE ${id} (id int PRIMARY KEY, "the name" text, u uuid NOT NULL, flag boolean)`,
  );
  await client.query(
    `INSERT INTO ${id} SELECT i, CASE WHEN i % 7 = 0 THEN NULL ELSE 'n\\' || i || chr(31) || ' é "q" ' || CASE WHEN i % 3 = 0 THEN '\\N' ELSE '' END END,
       ('00000000-0000-4000-8000-' || lpad(i::text, 12, '0'))::uuid,
       CASE WHEN i % 5 = 0 THEN NULL ELSE i % 2 = 0 END
       FROM generate_series(1, ${ROWS}) i`,
  );
  t = await describeTable(client, 'public', id);
});

afterAll(async () => {
  await client.query(`DROP TABLE IF EXISTS ${id}`).catch(() => undefined);
  await client.end();
  await server(`DROP DATABASE IF EXISTS ${id}`).catch(() => undefined);
  rmSync(chdbDir, { recursive: true, force: true });
});

describe.each([
  ['ClickHouse 18.16 over HTTP', false],
  ['the embedded engine', true],
])('range checksums against %s', (_name, embedded) => {
  let reader: ClickHouseReader;
  let columns: SourceTable;
  beforeAll(async () => {
    if (embedded) {
      reader = await openReader({
        database: id,
        embedded: { path: chdbDir, http: { enabled: false, port: 0 } },
      } as unknown as ClickHouseSection);
      await fillReplica((sql) => reader.query(sql), id, true);
      columns = t;
    } else {
      await fillReplica(server, id, false);
      reader = await openReader({
        url: ep.clickhouse.url,
        username: 'default',
        database: id,
        requestTimeoutMs: 60_000,
      } as unknown as ClickHouseSection);
      // 18.16 has no Bool type: the boolean column is left out on this side.
      columns = { ...t, columns: t.columns.filter((c) => c.name !== 'flag') };
    }
  });
  afterAll(async () => reader.close());

  it('computes in SQL the checksum the rows give in memory, on both sides', async () => {
    const types = await replicaColumnTypes(reader, id, 't');
    const hash = rowHashSql(columns.columns, types);
    expect(hash).toMatchObject({ ok: true });
    if (!hash.ok) return;
    const range = { lo: 1n, hi: BigInt(ROWS) };
    const [src, ch] = [
      sourceRangeSide(client, columns, 'id', hash.postgres),
      replicaRangeSide(reader, id, 't', columns, 'id', hash.clickhouse),
    ];
    const [a, b] = await Promise.all([src.sums(range, 1_000n), ch.sums(range, 1_000n)]);
    expect([...a.entries()].sort()).toEqual([...b.entries()].sort());
    const inMemory = checksum(await readSourceRows(client, columns));
    const c = await compareRanges(
      ['id', 'the name', 'u', 'flag'].slice(0, columns.columns.length),
      { range, rows: ROWS },
      src,
      ch,
      { targetRows: 1_000 },
    );
    expect(c).toMatchObject({
      match: true,
      sourceRows: ROWS,
      clickhouseRows: ROWS,
      leaves: 0,
      sourceChecksum: inMemory,
      clickhouseChecksum: inMemory,
    });
  });

  it('names exactly the changed, missing and extra keys of a damaged replica', async () => {
    const run = embedded ? (sql: string) => reader.query(sql) : server;
    await run(`ALTER TABLE ${id}.t_current DELETE WHERE id = 1234`);
    await run(`ALTER TABLE ${id}.t_current UPDATE \`the name\` = 'damaged' WHERE id = 4321`);
    await run(
      `INSERT INTO ${id}.t_current (id, \`the name\`, u) VALUES (${ROWS + 10}, 'extra', '${uuid(1)}')`,
    );
    // Mutations are asynchronous on a server: wait until they are applied.
    for (let i = 0; i < 100; i++) {
      const [r] = await reader.query<{ n: string }>(
        `SELECT toString(count()) AS n FROM ${id}.t_current WHERE id = 1234 OR \`the name\` = 'damaged'`,
      );
      if (r?.n === '1') break;
      await new Promise((res) => setTimeout(res, 100));
    }
    const types = await replicaColumnTypes(reader, id, 't');
    const hash = rowHashSql(columns.columns, types);
    if (!hash.ok) throw new Error(hash.reason);
    const c = await compareRanges(
      columns.columns.map((x) => x.name),
      { range: { lo: 1n, hi: BigInt(ROWS + 10) }, rows: ROWS },
      sourceRangeSide(client, columns, 'id', hash.postgres),
      replicaRangeSide(reader, id, 't', columns, 'id', hash.clickhouse),
      { targetRows: 1_000, leafRows: 100 },
    );
    expect(c.match).toBe(false);
    expect(c.keys).toEqual([1234n, 4321n, BigInt(ROWS + 10)]);
    expect(c.onlyInClickHouse).toEqual([BigInt(ROWS + 10)]);
    expect(c.diffs.find((d) => d.key === '4321')?.clickhouse).toEqual({ 'the name': 'damaged' });
    expect(c.leaves).toBe(3);
  });
});
