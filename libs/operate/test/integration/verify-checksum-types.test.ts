/**
 * verify-checksum-types: decimals and timestamps are checksummed inside the databases, so the
 * demo's tables (numeric totals, timestamptz columns) are compared by range sums instead of row
 * by row in memory. PostgreSQL and ClickHouse give the same text per row: decimals with their
 * trailing fraction zeros cut on both sides (ClickHouse 18.16 keeps them in `toString`, the
 * embedded engine does not), timestamps in UTC with microseconds, and a timestamp ClickHouse
 * cannot hold (before 1900, after 2299, BC) as the exact text the sink keeps in `_out_of_range`.
 * The replica is filled the way the sink fills it (its own conversions); a changed decimal or
 * timestamp is named by key. A column named like the queries' own aliases (`n`) reads as itself.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { type ClickHouseReader, dateTime64Value, openReader } from '@cdc/clickhouse';
import type { ClickHouseSection } from '@cdc/pipeline';
import type pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { localEndpoints } from '../../../../infra/local/src/endpoints.ts';
import { rowHashSql } from '../../src/verify/checksum-sql.ts';
import { replicaColumnTypes, replicaRangeSide } from '../../src/verify/clickhouse-side.ts';
import { describeTable, type SourceTable, sourceRangeSide } from '../../src/verify/postgres-side.ts';
import { compareRanges } from '../../src/verify/range-verify.ts';
import { connectLocalSource } from './local-source.ts';

const ep = localEndpoints();
const id = `vct_${process.pid}`;
const ROWS = 3_000;
let client: pg.Client;
let t: SourceTable;
const chdbDir = mkdtempSync(join(tmpdir(), 'cdc-verify-types-'));

interface SourceRow {
  id: string;
  total: string | null;
  n: string | null;
  at: string | null;
  local: string | null;
}

const lit = (s: string) => `'${s.replaceAll('\\', '\\\\').replaceAll("'", "\\'")}'`;

/** The replica's rows as the sink writes them: decimals as text, timestamps through its own conversion. */
function replicaValues(rows: readonly SourceRow[], withTimestamps: boolean): string {
  return rows
    .map((r) => {
      const exact: [string, string][] = [];
      const ts = (
        micros: string | null,
        column: string,
        logical: 'timestamp-micros' | 'local-timestamp-micros',
      ) =>
        micros === null
          ? 'NULL'
          : lit(
              dateTime64Value(BigInt(micros), logical, (path, text) =>
                exact.push([`${column}${path}`, text]),
              ),
            );
      const cells = [r.id, r.total === null ? 'NULL' : lit(r.total), r.n === null ? 'NULL' : lit(r.n)];
      if (withTimestamps) {
        cells.push(ts(r.at, 'at', 'timestamp-micros'), ts(r.local, 'local', 'local-timestamp-micros'));
        cells.push(`map(${exact.map(([k, v]) => `${lit(k)}, ${lit(v)}`).join(', ')})`);
      }
      return `(${cells.join(', ')})`;
    })
    .join(', ');
}

beforeAll(async () => {
  client = await connectLocalSource(id);
  await client.query(`DROP TABLE IF EXISTS ${id}`);
  await client.query(
    `CREATE TABLE ${id} (id int PRIMARY KEY, total numeric(12,2), n numeric, at timestamptz, local timestamp)`,
  );
  // Trailing zeros (12.50, 3.00, 0.00), negatives, NULLs, unconstrained numerics with long
  // fractions; timestamps with and without fractions, and every 500th row out of ClickHouse's range.
  await client.query(
    `INSERT INTO ${id} SELECT i,
       CASE WHEN i % 11 = 0 THEN NULL ELSE ((i % 2000) - 700) / 20.0 END,
       CASE WHEN i % 13 = 0 THEN NULL ELSE i / 8.0 END,
       CASE WHEN i % 500 = 0 THEN timestamptz '1800-01-01 00:00:00+00' + i * interval '1 second'
            WHEN i % 500 = 1 THEN timestamptz '5000-06-01 12:34:56.5+00'
            WHEN i % 17 = 0 THEN NULL
            ELSE timestamptz '2024-01-01 00:00:00+00' + i * interval '1.000250 seconds' END,
       CASE WHEN i % 500 = 2 THEN timestamp '0044-03-15 12:00:00 BC'
            ELSE timestamp '1999-12-31 23:59:59' + i * interval '0.5 seconds' END
       FROM generate_series(1, ${ROWS}) i`,
  );
  t = await describeTable(client, 'public', id);
});

afterAll(async () => {
  await client.query(`DROP TABLE IF EXISTS ${id}`).catch(() => undefined);
  await client.end();
  await fetch(`${ep.clickhouse.url}/`, { method: 'POST', body: `DROP DATABASE IF EXISTS ${id}` }).catch(
    () => undefined,
  );
  rmSync(chdbDir, { recursive: true, force: true });
});

describe.each([
  // 18.16 has neither DateTime64 nor Map: its side checks the decimals only.
  ['ClickHouse 18.16 over HTTP', false],
  ['the embedded engine', true],
])('decimal and timestamp checksums against %s', (_name, embedded) => {
  let reader: ClickHouseReader;
  let columns: SourceTable;
  let run: (sql: string) => Promise<unknown>;

  beforeAll(async () => {
    if (embedded) {
      reader = await openReader({
        database: id,
        embedded: { path: chdbDir, http: { enabled: false, port: 0 } },
      } as unknown as ClickHouseSection);
      run = (sql) => reader.query(sql);
      columns = t;
    } else {
      reader = await openReader({
        url: ep.clickhouse.url,
        username: 'default',
        database: id,
        requestTimeoutMs: 60_000,
      } as unknown as ClickHouseSection);
      run = async (sql) => {
        const r = await fetch(`${ep.clickhouse.url}/`, { method: 'POST', body: sql });
        if (!r.ok) throw new Error(`${sql.slice(0, 200)}: ${await r.text()}`);
      };
      columns = { ...t, columns: t.columns.filter((c) => !['at', 'local'].includes(c.name)) };
    }
    const { rows } = await client.query<SourceRow>(
      `SELECT id::text, total::text, n::text,
              (extract(epoch FROM at) * 1000000)::bigint::text AS at,
              (extract(epoch FROM local) * 1000000)::bigint::text AS local
         FROM ${id} ORDER BY id`,
    );
    await run(`DROP DATABASE IF EXISTS ${id}`);
    await run(`CREATE DATABASE ${id}`);
    await run(
      `CREATE TABLE ${id}.t_current (id Int32, total Nullable(Decimal(12, 2)), n Nullable(String)${
        embedded
          ? ", at Nullable(DateTime64(6, 'UTC')), local DateTime64(6, 'UTC'), _out_of_range Map(String, String)"
          : ''
      }) ENGINE = MergeTree ORDER BY id`,
    );
    await run(`INSERT INTO ${id}.t_current VALUES ${replicaValues(rows, embedded)}`);
  });
  afterAll(async () => reader.close());

  it('sums every range to the same checksum on both sides', async () => {
    const types = await replicaColumnTypes(reader, id, 't');
    const hash = rowHashSql(columns.columns, types);
    expect(hash).toMatchObject({ ok: true });
    if (!hash.ok) return;
    const range = { lo: 1n, hi: BigInt(ROWS) };
    const src = sourceRangeSide(client, columns, 'id', hash.postgres);
    const ch = replicaRangeSide(reader, id, 't', columns, 'id', hash.clickhouse);
    const [a, b] = await Promise.all([src.sums(range, 100n), ch.sums(range, 100n)]);
    expect(a.size).toBe(30);
    expect([...b.entries()].sort()).toEqual([...a.entries()].sort());
    const c = await compareRanges(
      columns.columns.map((x) => x.name),
      { range, rows: ROWS },
      src,
      ch,
      { targetRows: 500 },
    );
    expect(c).toMatchObject({ match: true, sourceRows: ROWS, clickhouseRows: ROWS, leaves: 0, hashOnly: 0 });
  });

  it('names the key of a changed decimal and of a changed timestamp', async () => {
    await run(`ALTER TABLE ${id}.t_current UPDATE total = toDecimal64(99999, 2) WHERE id = 1234`);
    if (embedded) await run(`ALTER TABLE ${id}.t_current UPDATE local = local + 1 WHERE id = 2345`);
    const damaged = embedded ? 2 : 1;
    for (let i = 0; i < 100; i++) {
      const [r] = await reader.query<{ n: string }>(
        `SELECT toString(count()) AS n FROM system.mutations WHERE database = '${id}' AND is_done = 0`,
      );
      if (r?.n === '0') break;
      await new Promise((res) => setTimeout(res, 100));
    }
    const types = await replicaColumnTypes(reader, id, 't');
    const hash = rowHashSql(columns.columns, types);
    if (!hash.ok) throw new Error(hash.reason);
    const c = await compareRanges(
      columns.columns.map((x) => x.name),
      { range: { lo: 1n, hi: BigInt(ROWS) }, rows: ROWS },
      sourceRangeSide(client, columns, 'id', hash.postgres),
      replicaRangeSide(reader, id, 't', columns, 'id', hash.clickhouse),
      { targetRows: 500, leafRows: 50 },
    );
    expect(c.match).toBe(false);
    expect(c.keys).toEqual(embedded ? [1234n, 2345n] : [1234n]);
    expect(c.leaves).toBe(damaged);
    expect(c.hashOnly).toBe(0);
  });
});
