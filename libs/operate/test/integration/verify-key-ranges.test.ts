/**
 * verify-key-ranges: tables keyed by something other than one integer column (a composite text +
 * integer key whose text column sorts by an ICU collation, a uuid key) are compared by ranges of
 * the key's encoding: PostgreSQL, the embedded engine and the code here encode every key to the
 * same bytes, both databases name the same split points and put every row in the same bucket
 * (so the collation does not matter), equal replicas match from sums alone, and a damaged replica
 * is bisected down to exactly the changed, missing and extra keys.
 */
import { createHash } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { type ClickHouseReader, openReader } from '@cdc/clickhouse';
import type { ClickHouseSection } from '@cdc/pipeline';
import type pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { rowHashSql } from '../../src/verify/checksum-sql.ts';
import { readReplicaKeys, replicaColumnTypes, replicaTupleSide } from '../../src/verify/clickhouse-side.ts';
import { checksum, rowText } from '../../src/verify/compare.ts';
import { encodeKey, pgKeyExpression, WHOLE } from '../../src/verify/key-order.ts';
import {
  describeTable,
  readSourceKeys,
  readSourceRows,
  type SourceTable,
  sourceTupleSide,
  tupleKeyOf,
  withCollations,
} from '../../src/verify/postgres-side.ts';
import { compareTupleRanges } from '../../src/verify/tuple-range-verify.ts';
import { connectLocalSource } from './local-source.ts';

const id = `vk_${process.pid}`;
const REGIONS = ['Zürich', 'amsterdam', 'Berlin', 'berlin', 'a-b', 'ab', 'Ab', ''];
const PER_REGION = 750;
const UUID_ROWS = 5_000;
const uuid = (i: number) => {
  const h = createHash('md5').update(String(i)).digest('hex');
  return `${h.slice(0, 8)}-${h.slice(8, 12)}-${h.slice(12, 16)}-${h.slice(16, 20)}-${h.slice(20)}`;
};
const chdbDir = mkdtempSync(join(tmpdir(), 'cdc-verify-keys-'));
let client: pg.Client;
let reader: ClickHouseReader;
let composite: SourceTable;
let byUuid: SourceTable;
const q = (s: string) => `'${s.replaceAll('\\', '\\\\').replaceAll("'", "\\'")}'`;

beforeAll(async () => {
  client = await connectLocalSource(id);
  await client.query(`DROP TABLE IF EXISTS ${id}_c, ${id}_u, ${id}_d`);
  // The text key column sorts by an ICU collation (case and punctuation weighed late): not byte order.
  await client.query(
    `CREATE TABLE ${id}_c (region text COLLATE "en-US-x-icu", n int, u uuid NOT NULL, name text, PRIMARY KEY (region, n))`,
  );
  await client.query(
    `INSERT INTO ${id}_c SELECT r, n, md5(r || n)::uuid, 'item ' || r || ' ' || n FROM unnest($1::text[]) r, generate_series(-10, ${PER_REGION - 11}) n`,
    [REGIONS],
  );
  await client.query(`CREATE TABLE ${id}_u (u uuid PRIMARY KEY, name text, qty bigint)`);
  await client.query(
    `INSERT INTO ${id}_u SELECT md5(i::text)::uuid, CASE WHEN i % 7 = 0 THEN NULL ELSE 'n' || i END, i * 3 FROM generate_series(1, ${UUID_ROWS}) i`,
  );
  composite = await describeTable(client, 'public', `${id}_c`);
  byUuid = await describeTable(client, 'public', `${id}_u`);
  reader = await openReader({
    database: id,
    embedded: { path: chdbDir, http: { enabled: false, port: 0 } },
  } as unknown as ClickHouseSection);
  await reader.query(`CREATE DATABASE ${id}`);
  await reader.query(
    `CREATE TABLE ${id}.c_current (region String, n Int32, u UUID, name Nullable(String)) ENGINE = MergeTree ORDER BY (region, n)`,
  );
  await reader.query(
    `CREATE TABLE ${id}.u_current (u UUID, name Nullable(String), qty Int64) ENGINE = MergeTree ORDER BY u`,
  );
  const rows = (
    await client.query<{ region: string; n: string; u: string; name: string }>(`SELECT * FROM ${id}_c`)
  ).rows;
  await reader.query(
    `INSERT INTO ${id}.c_current VALUES ${rows.map((r) => `(${q(r.region)}, ${r.n}, '${r.u}', ${q(r.name)})`).join(', ')}`,
  );
  const values: string[] = [];
  for (let i = 1; i <= UUID_ROWS; i++)
    values.push(`('${uuid(i)}', ${i % 7 === 0 ? 'NULL' : `'n${i}'`}, ${i * 3})`);
  await reader.query(`INSERT INTO ${id}.u_current VALUES ${values.join(', ')}`);
});

afterAll(async () => {
  await client?.query(`DROP TABLE IF EXISTS ${id}_c, ${id}_u, ${id}_d`).catch(() => undefined);
  await client?.end();
  await reader?.close();
  rmSync(chdbDir, { recursive: true, force: true });
});

async function sides(t: SourceTable, chTable: string) {
  const types = await replicaColumnTypes(reader, id, chTable);
  const key = tupleKeyOf(t, types);
  if (!key.ok) throw new Error(key.reason);
  const hash = rowHashSql(t.columns, types);
  if (!hash.ok) throw new Error(hash.reason);
  const keys = await withCollations(client, t, key.columns);
  return {
    keys,
    src: sourceTupleSide(client, t, keys, hash.postgres),
    ch: replicaTupleSide(reader, id, chTable, t, keys, hash.clickhouse),
  };
}
const names = (t: SourceTable) => t.columns.map((c) => c.name);

describe('key ranges by encoded keys', () => {
  it('encodes every key to the same bytes in PostgreSQL as here, and both databases split at the same keys', async () => {
    const { keys, src, ch } = await sides(composite, 'c');
    const { rows } = await client.query<{ region: string; n: string; k: string }>(
      `SELECT region, n::text, encode(${pgKeyExpression(keys)}, 'hex') AS k FROM ${id}_c`,
    );
    for (const r of rows) expect(r.k).toBe(encodeKey(keys, [r.region, r.n]));
    const [a, b] = await Promise.all([src.splits(WHOLE, 500), ch.splits(WHOLE, 500)]);
    expect(a).toHaveLength(Math.floor((REGIONS.length * PER_REGION) / 500));
    expect(a).toEqual(b);
    // The collation's order differs from the bytes' (so predicates on it would select other rows).
    const icu = (
      await client.query<{ region: string }>(`SELECT DISTINCT region FROM ${id}_c ORDER BY region`)
    ).rows.map((r) => r.region);
    expect(icu).not.toEqual([...REGIONS].sort((x, y) => Buffer.compare(Buffer.from(x), Buffer.from(y))));
    const [sa, sb] = await Promise.all([src.sums(WHOLE, a), ch.sums(WHOLE, a)]);
    expect([...sa.entries()].sort()).toEqual([...sb.entries()].sort());
  });

  it('narrows ranges by the index only where the text column sorts by bytes', async () => {
    // The same rows under the database's collation (the stack's: C.UTF-8, code point order).
    await client.query(
      `CREATE TABLE ${id}_d (region text, n int, u uuid NOT NULL, name text, PRIMARY KEY (region, n))`,
    );
    await client.query(`INSERT INTO ${id}_d SELECT * FROM ${id}_c`);
    const collate = (
      await client.query<{ c: string }>(
        'SELECT datcollate AS c FROM pg_database WHERE datname = current_database()',
      )
    ).rows[0]?.c;
    const d = await describeTable(client, 'public', `${id}_d`);
    const [icu, plain] = await Promise.all([sides(composite, 'c'), sides(d, 'c')]);
    expect(icu.keys[0]?.pgByteOrder).toBeUndefined();
    expect(plain.keys[0]?.pgByteOrder).toBe(/^(C|POSIX|C\.UTF-?8)$/i.test(collate ?? '') ? true : undefined);
    const [a, b] = await Promise.all([plain.src.splits(WHOLE, 700), icu.src.splits(WHOLE, 700)]);
    expect(a).toEqual(b);
    const part = { lo: a[1] as string, hi: a[4] as string };
    const [sa, sb, sc] = await Promise.all([
      plain.src.sums(part, a.slice(2, 4)),
      icu.src.sums(part, a.slice(2, 4)),
      plain.ch.sums(part, a.slice(2, 4)),
    ]);
    expect([...sa.entries()].sort()).toEqual([...sb.entries()].sort());
    expect([...sa.entries()].sort()).toEqual([...sc.entries()].sort());
  });

  it('ClickHouse names the same split points as PostgreSQL, uuids ending in a zero byte included', async () => {
    // ClickHouse is the side that names a bucket's split points when it holds more rows there.
    const s = await sides(byUuid, 'u');
    const [a, b] = await Promise.all([s.src.splits(WHOLE, 1), s.ch.splits(WHOLE, 1)]);
    expect(a.filter((h) => h.endsWith('00')).length).toBeGreaterThan(0);
    expect(b).toEqual(a);
  });

  it.each([
    ['composite text + integer', 'c'],
    ['uuid', 'u'],
  ])('matches an identical %s-keyed replica from sums alone, with the in-memory checksum', async (_n, ch) => {
    const t = ch === 'c' ? composite : byUuid;
    const s = await sides(t, ch);
    const c = await compareTupleRanges(
      names(t),
      s.keys.map((k) => names(t).indexOf(k.name)),
      s.src,
      s.ch,
      { targetRows: 1_000 },
    );
    const inMemory = checksum(await readSourceRows(client, t));
    const rows = ch === 'c' ? REGIONS.length * PER_REGION : UUID_ROWS;
    expect(c).toMatchObject({
      match: true,
      sourceRows: rows,
      clickhouseRows: rows,
      leaves: 0,
      sourceChecksum: inMemory,
      clickhouseChecksum: inMemory,
    });
  });

  it('names exactly the changed, missing and extra keys of a damaged composite-keyed replica', async () => {
    await reader.query(
      `ALTER TABLE ${id}.c_current UPDATE name = 'damaged' WHERE region = 'berlin' AND n = 77`,
    );
    await reader.query(`ALTER TABLE ${id}.c_current DELETE WHERE region = 'Ab' AND n = -3`);
    await reader.query(`INSERT INTO ${id}.c_current VALUES ('berlin ', 1, '${uuid(1)}', 'ghost')`);
    const s = await sides(composite, 'c');
    const c = await compareTupleRanges(names(composite), [0, 1], s.src, s.ch, {
      targetRows: 1_000,
      leafRows: 100,
    });
    expect(c.match).toBe(false);
    expect(c.keys.map((k) => k.join('/')).sort()).toEqual(['Ab/-3', 'berlin /1', 'berlin/77']);
    expect(c.onlyInClickHouse).toEqual([['berlin ', '1']]);
    expect(c.onlyAtSource).toEqual([['Ab', '-3']]);
    expect(c.diffs.find((d) => d.key === rowText(['berlin', '77']))?.clickhouse).toEqual({ name: 'damaged' });
    expect(c.leaves).toBeLessThanOrEqual(3);
    // The keys read back one by one on both sides (what a re-verify after a repair reads).
    const wanted = c.keys;
    const [a, b] = await Promise.all([
      readSourceKeys(client, composite, s.keys, wanted),
      readReplicaKeys(reader, id, 'c', composite, s.keys, wanted),
    ]);
    expect([...a.keys()].sort()).toEqual([rowText(['berlin', '77']), rowText(['Ab', '-3'])].sort());
    expect([...b.keys()].sort()).toEqual([rowText(['berlin', '77']), rowText(['berlin ', '1'])].sort());
  });

  it('names exactly the changed, missing and extra keys of a damaged uuid-keyed replica', async () => {
    await reader.query(`ALTER TABLE ${id}.u_current UPDATE qty = -1 WHERE u = '${uuid(4242)}'`);
    await reader.query(`ALTER TABLE ${id}.u_current DELETE WHERE u = '${uuid(777)}'`);
    await reader.query(`INSERT INTO ${id}.u_current VALUES ('${uuid(UUID_ROWS + 5)}', 'ghost', 1)`);
    const s = await sides(byUuid, 'u');
    const c = await compareTupleRanges(names(byUuid), [0], s.src, s.ch, { targetRows: 1_000, leafRows: 100 });
    expect(c.match).toBe(false);
    expect(c.keys.map((k) => k[0]).sort()).toEqual([uuid(777), uuid(4242), uuid(UUID_ROWS + 5)].sort());
    expect(c.onlyInClickHouse).toEqual([[uuid(UUID_ROWS + 5)]]);
    expect(c.diffs.find((d) => d.key === uuid(4242))).toEqual({
      key: uuid(4242),
      source: { qty: String(4242 * 3) },
      clickhouse: { qty: '-1' },
    });
  });

  it('without SQL checksums (a column with no SQL canonical form) reads the buckets row by row and finds the same keys', async () => {
    const types = await replicaColumnTypes(reader, id, 'u');
    const key = tupleKeyOf(byUuid, types);
    if (!key.ok) throw new Error(key.reason);
    const c = await compareTupleRanges(
      names(byUuid),
      [0],
      sourceTupleSide(client, byUuid, key.columns, null),
      replicaTupleSide(reader, id, 'u', byUuid, key.columns, null),
      { targetRows: 1_000, hashed: false },
    );
    expect(c).toMatchObject({ match: false, sourceRows: UUID_ROWS, clickhouseRows: UUID_ROWS, differing: 3 });
    expect(c.keys.map((k) => k[0]).sort()).toEqual([uuid(777), uuid(4242), uuid(UUID_ROWS + 5)].sort());
    expect(c.leaves).toBeGreaterThanOrEqual(5);
  });
});
