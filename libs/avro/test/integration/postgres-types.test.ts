/**
 * PostgreSQL types → Avro against the real server: a table with a column of every type in a
 * fresh schema, rows of boundary values, the catalog read as the capture reads it, the row
 * schema derived, each column's text form (`col::text`, what pgoutput sends) converted and
 * round-tripped through avsc, and the result checked against PostgreSQL itself: the text
 * printed back must read, in PostgreSQL, as the value it printed, and dates, timestamps,
 * intervals and decimals must equal the numbers PostgreSQL computes for them.
 * Needs `npm run stack -- up --only postgres`.
 */
import { isCdcError } from '@cdc/core';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { localEndpoints } from '../../../../infra/local/src/endpoints.ts';
import { parseSchema } from '../../src/parse-schema.ts';
import { readPgRelation } from '../../src/postgres/catalog.ts';
import { twosComplementToBigint } from '../../src/postgres/numeric.ts';
import type { PgRelation } from '../../src/postgres/relation.ts';
import { derivePgRowSchema, type PgRowSchema } from '../../src/postgres/row-schema.ts';
import { pgRowFromText, pgRowToText } from '../../src/postgres/values.ts';

const { postgres } = localEndpoints();
const schema = `it_pgtypes_${process.pid}_${Date.now()}`;
const asciiDb = `it_sqlascii_${process.pid}_${Date.now()}`;

async function connect(url: string): Promise<pg.Client> {
  const client = new pg.Client({
    connectionString: url,
    connectionTimeoutMillis: 5000,
    statement_timeout: 20_000,
  });
  await client.connect().catch((err: Error) => {
    throw new Error(
      `PostgreSQL does not answer at ${url}: start it with npm run stack -- up --only postgres (${err.message})`,
    );
  });
  return client;
}

const nines = '9'.repeat(38);

/** Column name → SQL type, then rows as SQL literals (NULL where absent). */
const COLUMNS: Record<string, string> = {
  id: 'int8 PRIMARY KEY',
  i2: 'int2',
  i4: 'int4 NOT NULL',
  i8: 'int8',
  amount: 'numeric(10,2)',
  big: 'numeric(38,0)',
  frac: 'numeric(38,38)',
  neg_scale: 'numeric(5,-2)',
  free: 'numeric',
  r: 'real',
  d: 'double precision',
  b: 'boolean',
  t: 'text',
  vc: 'varchar(20)',
  c: 'char(5)',
  u: 'uuid',
  dt: 'date',
  tm: 'time',
  tmtz: 'timetz',
  ts: 'timestamp',
  tstz: 'timestamptz',
  iv: 'interval',
  j: 'json',
  jb: 'jsonb',
  by: 'bytea',
  ai: 'int[]',
  at: 'text[]',
  a2: 'float8[][]',
  aiv: 'interval[]',
  ats: 'timestamptz[]',
  an: 'numeric(10,2)[]',
  feeling: 'mood',
  feelings: 'mood[]',
  cost: 'price',
  ip: 'inet',
  pt: 'point',
  rng: 'tstzrange',
  cash: 'money',
  'Odd Name': 'text',
};

const huge = `${'ü'.repeat(200_000)}🦀${'x'.repeat(800_000)}`;
const q = (s: string): string => `'${s.replace(/'/g, "''")}'`;

const ROWS: Record<string, string>[] = [
  {
    id: '1',
    i2: '-32768',
    i4: '-2147483648',
    i8: '-9223372036854775808',
    amount: '-99999999.99',
    big: `-${nines}`,
    frac: `-0.${nines}`,
    neg_scale: '-9999900',
    free: q(`-${'1234567890'.repeat(30)}.${'0987654321'.repeat(30)}`),
    r: q('-3.4028235e+38'),
    d: q('-1.7976931348623157e+308'),
    b: 'false',
    t: q(''),
    vc: q(''),
    c: q(''),
    u: q('00000000-0000-0000-0000-000000000000'),
    dt: q('4714-11-24 BC'),
    tm: q('00:00:00'),
    tmtz: q('00:00:00+15:59'),
    ts: q('4714-11-24 00:00:00 BC'),
    tstz: q('4714-11-24 00:00:00+00 BC'),
    iv: q('-178956970 years -8 mons -2147483648 days -2562047788:00:54.775807'),
    j: q('[]'),
    jb: q('{}'),
    by: q('\\x'),
    ai: q('{}'),
    at: q('{}'),
    a2: q('{}'),
    aiv: q('{}'),
    ats: q('{}'),
    an: q('{}'),
    feeling: q('sad'),
    feelings: q('{}'),
    cost: '-99999999.99',
    ip: q('0.0.0.0/0'),
    pt: q('(0,0)'),
    rng: q('empty'),
    cash: q('-92233720368547758.08'),
    '"Odd Name"': q(''),
  },
  {
    id: '2',
    i2: '32767',
    i4: '2147483647',
    i8: '9223372036854775807',
    amount: '99999999.99',
    big: nines,
    frac: `0.${nines}`,
    neg_scale: '9999900',
    free: q(`1${'0'.repeat(500)}.${'0'.repeat(499)}1`),
    r: q('3.4028235e+38'),
    d: q('1.7976931348623157e+308'),
    b: 'true',
    t: q(huge),
    vc: q('ümläüt 🦀 twenty char'.slice(0, 20)),
    c: q('ab'),
    u: q('FFFFFFFF-FFFF-FFFF-FFFF-FFFFFFFFFFFF'),
    dt: q('5874897-12-31'),
    tm: q('24:00:00'),
    tmtz: q('23:59:59.999999-15:59'),
    ts: q('294247-01-10 04:00:54.775806'),
    tstz: q('294247-01-10 04:00:54.775806+00'),
    iv: q('178956970 years 7 mons 2147483647 days 2562047788:00:54.775806'),
    j: q('{"a": [1, {"b": null}], "c": "\\u00e9\\"q"}'),
    jb: q('{"a": [1, {"b": null}], "deep": [[[[[[[[[[{"x": 1.50}]]]]]]]]]]}'),
    by: q('\\xdeadbeef00ff'),
    ai: q('{1,NULL,-2147483648}'),
    at: q('{"a b","\\"q\\"",NULL,"NULL","","x,y","{}","back\\\\slash"}'),
    a2: q('{{1.5,NULL},{NaN,-Infinity}}'),
    aiv: q('{"1 day",NULL,"-1 mons +00:00:00.000001"}'),
    ats: q('{"2038-01-19 03:14:08+00",infinity,NULL}'),
    an: q('{1.50,NULL,-0.01}'),
    feeling: q('happy'),
    feelings: q('{sad,NULL,ok}'),
    cost: '12345678.90',
    ip: q('::1/128'),
    pt: q('(1.5,-2)'),
    rng: q('[2024-01-01 00:00:00+00,infinity)'),
    cash: q('92233720368547758.07'),
    '"Odd Name"': q('x'),
  },
  {
    id: '3',
    i4: '0',
    i8: '9007199254740993',
    free: q('NaN'),
    r: q('NaN'),
    d: q('-Infinity'),
    t: q('line\nbreak\ttab "quotes" \\backslash\\ \'apos\''),
    c: q('a  '),
    dt: q('infinity'),
    tm: q('12:34:56.000001'),
    tmtz: q('12:00:00+05:30'),
    ts: q('1969-12-31 23:59:59.999999'),
    tstz: q('1900-01-01 12:00:00'), // in the session's Europe/Amsterdam: +00:19:32 then
    iv: q('-1 years -2 mons +3 days -04:05:06.000001'),
    a2: q('{{-0,1e-07},{5e-324,Infinity}}'),
  },
  {
    id: '4',
    i4: '1',
    free: q('-Infinity'),
    r: q('-0'),
    d: q('Infinity'),
    dt: q('-infinity'),
    ts: q('infinity'),
    tstz: q('-infinity'),
    iv: q('00:00:00'),
  },
  { id: '5', i4: '2' },
];

/** SQL computing, for some columns, the number its Avro value must equal. */
const ORACLES: Record<string, { sql: (c: string) => string; avro: (v: unknown) => string }> = {
  dt: { sql: (c) => `CASE WHEN isfinite(${c}) THEN (${c} - date '1970-01-01')::text END`, avro: String },
  ts: {
    sql: (c) => `CASE WHEN isfinite(${c}) THEN (extract(epoch FROM ${c}) * 1000000)::int8::text END`,
    avro: String,
  },
  tstz: {
    sql: (c) => `CASE WHEN isfinite(${c}) THEN (extract(epoch FROM ${c}) * 1000000)::int8::text END`,
    avro: String,
  },
  tm: { sql: (c) => `(extract(epoch FROM ${c}) * 1000000)::int8::text`, avro: String },
  iv: {
    sql: (c) =>
      `(extract(year FROM ${c}) * 12 + extract(month FROM ${c}))::text || ' ' || extract(day FROM ${c})::text || ' ' ||
       ((extract(hour FROM ${c}) * 3600 + extract(minute FROM ${c}) * 60) * 1000000 + extract(microseconds FROM ${c}))::text`,
    avro: (v) => {
      const { months, days, micros } = v as { months: number; days: number; micros: bigint };
      return `${months} ${days} ${micros}`;
    },
  },
  amount: {
    sql: (c) => `(${c} * 100)::int8::text`,
    avro: (v) => String(twosComplementToBigint(v as Buffer)),
  },
  big: { sql: (c) => `trunc(${c})::text`, avro: (v) => String(twosComplementToBigint(v as Buffer)) },
  frac: {
    sql: (c) => `trunc(${c} * 1${'0'.repeat(38)})::text`,
    avro: (v) => String(twosComplementToBigint(v as Buffer)),
  },
  i8: { sql: (c) => `${c}::text`, avro: String },
};

describe('PostgreSQL types → Avro, against the server', () => {
  let client: pg.Client;
  let relation: PgRelation;
  let rs: PgRowSchema;
  let sqlTypes: string[];

  beforeAll(async () => {
    client = await connect(postgres.url);
    // pgoutput prints with the walsender's settings: the capture sets these; a zone whose
    // offsets had seconds (Amsterdam before 1937) makes the test harder.
    await client.query(
      `SET TimeZone = 'Europe/Amsterdam'; SET DateStyle = ISO; SET IntervalStyle = postgres; SET bytea_output = hex; SET extra_float_digits = 1`,
    );
    await client.query(`CREATE SCHEMA ${schema}; SET search_path = ${schema}`);
    await client.query(`CREATE TYPE mood AS ENUM ('sad', 'ok', 'happy')`);
    await client.query(`CREATE DOMAIN price AS numeric(10,2)`);
    const defs = Object.entries(COLUMNS).map(
      ([name, type]) => `${name.includes(' ') ? `"${name}"` : name} ${type}`,
    );
    await client.query(
      `CREATE TABLE every_type (${defs.join(', ')}, gen int8 GENERATED ALWAYS AS (id * 2) STORED)`,
    );
    await client.query('ALTER TABLE every_type DROP COLUMN cash');
    await client.query('ALTER TABLE every_type ADD COLUMN cash money');
    for (const row of ROWS) {
      const names = Object.keys(row);
      await client.query(
        `INSERT INTO every_type (${names.map((n) => (n === 'Odd Name' ? '"Odd Name"' : n)).join(', ')}) VALUES (${names.map((n) => row[n]).join(', ')})`,
      );
    }
    relation = await readPgRelation(client, { schema, table: 'every_type' });
    rs = derivePgRowSchema(relation);
    const { rows } = await client.query<{ t: string }>(
      `SELECT format_type(atttypid, atttypmod) AS t FROM pg_attribute
       WHERE attrelid = 'every_type'::regclass AND attnum > 0 AND NOT attisdropped AND attgenerated = '' ORDER BY attnum`,
    );
    sqlTypes = rows.map((r) => r.t);
  });

  afterAll(async () => {
    if (!client) return;
    await client.query(`DROP SCHEMA IF EXISTS ${schema} CASCADE`);
    await client.query(`DROP DATABASE IF EXISTS ${asciiDb}`);
    const left = await client.query('SELECT 1 FROM pg_namespace WHERE nspname = $1', [schema]);
    await client.end();
    expect(left.rowCount).toBe(0);
  });

  it('reads the relation as pgoutput sends it and derives the schema', () => {
    const names = Object.keys(COLUMNS).filter((n) => n !== 'cash');
    expect(relation.columns.map((c) => c.name)).toEqual([...names, 'cash']); // no dropped, no generated
    const field = (n: string) => rs.row.fields.find((f) => f.name === n);
    expect(field('id')).toEqual({
      name: 'id',
      type: 'long',
      'cdc.type': 'int8',
      'cdc.attnum': expect.any(Number),
    });
    expect(field('i4')).toEqual({
      name: 'i4',
      type: 'int',
      'cdc.type': 'int4',
      'cdc.attnum': expect.any(Number),
    });
    expect(field('amount')?.type).toEqual([
      'null',
      { type: 'bytes', logicalType: 'decimal', precision: 10, scale: 2 },
    ]);
    expect(field('neg_scale')?.type).toEqual([
      'null',
      { type: 'bytes', logicalType: 'decimal', precision: 7, scale: 0 },
    ]);
    expect(field('free')).toMatchObject({ type: ['null', 'string'], 'cdc.type': 'numeric' });
    expect(field('vc')).toMatchObject({ 'cdc.type': 'varchar', 'cdc.length': 20 });
    expect(field('a2')).toMatchObject({
      type: ['null', { type: 'array', items: { type: 'array', items: ['null', 'double'] } }],
      'cdc.type': '_float8',
      'cdc.dimensions': 2,
    });
    expect(field('feeling')).toMatchObject({
      'cdc.type': `${schema}.mood`,
      'cdc.labels': ['sad', 'ok', 'happy'],
    });
    expect(field('feelings')).toMatchObject({
      'cdc.elementType': `${schema}.mood`,
      'cdc.elementLabels': ['sad', 'ok', 'happy'],
    });
    expect(field('cost')).toMatchObject({ 'cdc.type': 'numeric', 'cdc.domain': `${schema}.price` });
    expect(field('rng')).toMatchObject({ type: ['null', 'string'], 'cdc.type': 'tstzrange' });
    expect(field('Odd_Name')).toMatchObject({ 'cdc.column': 'Odd Name' });
    expect(rs.keyFields.map((f) => f.name)).toEqual(['id']);
  });

  it('every value round-trips through avsc and reads back in PostgreSQL as the value it printed', async () => {
    const cols = relation.columns.map((c) => `${pg.escapeIdentifier(c.name)}::text`);
    const oracleNames = Object.keys(ORACLES);
    const oracleSql = oracleNames.map((n) => (ORACLES[n] as (typeof ORACLES)[string]).sql(n));
    const { rows } = await client.query<unknown[]>({
      text: `SELECT ${cols.join(', ')}, ${oracleSql.join(', ')} FROM every_type ORDER BY id`,
      rowMode: 'array',
    });
    expect(rows).toHaveLength(ROWS.length);
    const type = parseSchema(rs.row);
    for (const raw of rows) {
      const texts = raw.slice(0, cols.length) as (string | null)[];
      const oracles = raw.slice(cols.length) as (string | null)[];
      const record = pgRowFromText(rs, texts);
      const decoded = type.fromBuffer(type.toBuffer(record)) as Record<string, unknown>;
      expect(decoded).toEqual(record);

      // PostgreSQL's numbers for dates, timestamps, intervals, decimals.
      oracleNames.forEach((name, i) => {
        const expected = oracles[i];
        if (expected === null || expected === undefined) return;
        const oracle = ORACLES[name] as (typeof ORACLES)[string];
        expect(`${name}: ${oracle.avro(decoded[name])}`).toBe(`${name}: ${expected}`);
      });

      // Our text, read by PostgreSQL, prints as PostgreSQL printed the original.
      const back = pgRowToText(rs, decoded);
      const present = back.map((v, i) => [v, i] as const).filter(([v]) => v !== null);
      const reread = await client.query<unknown[]>({
        text: `SELECT ${present.map(([, i], k) => `$${k + 1}::${sqlTypes[i]}::text`).join(', ')}`,
        values: present.map(([v]) => v),
        rowMode: 'array',
      });
      present.forEach(([, i], k) => {
        const name = relation.columns[i]?.name;
        expect(`${name}: ${String(reread.rows[0]?.[k]).slice(0, 200)}`).toBe(
          `${name}: ${String(texts[i]).slice(0, 200)}`,
        );
        expect(reread.rows[0]?.[k] === texts[i]).toBe(true);
      });
      // NULL stays NULL.
      texts.forEach((t, i) => {
        if (t === null) expect(back[i]).toBeNull();
      });
    }
  });

  it('a label added to an enum later converts with the schema derived before', async () => {
    await client.query(`ALTER TYPE mood ADD VALUE 'ecstatic'`);
    await client.query(
      `INSERT INTO every_type (id, i4, feeling, feelings) VALUES (6, 3, 'ecstatic', '{ecstatic}')`,
    );
    const { rows } = await client.query<unknown[]>({
      text: `SELECT ${relation.columns.map((c) => `${pg.escapeIdentifier(c.name)}::text`).join(', ')} FROM every_type WHERE id = 6`,
      rowMode: 'array',
    });
    const record = pgRowFromText(rs, rows[0] as string[]);
    expect(record.feeling).toBe('ecstatic');
    expect(record.feelings).toEqual(['ecstatic']);
  });

  it('a NaN in a numeric(p,s) column is refused with an error naming the column', async () => {
    await client.query(`INSERT INTO every_type (id, i4, amount) VALUES (7, 4, 'NaN')`);
    const { rows } = await client.query<unknown[]>({
      text: `SELECT ${relation.columns.map((c) => `${pg.escapeIdentifier(c.name)}::text`).join(', ')} FROM every_type WHERE id = 7`,
      rowMode: 'array',
    });
    expect(() => pgRowFromText(rs, rows[0] as string[])).toThrow(
      new RegExp(`${schema}\\.every_type\\.amount \\(numeric\\)`),
    );
  });

  it('text that is not UTF-8 in a SQL_ASCII database is refused, naming the column, not mangled', async () => {
    await client.query(
      `CREATE DATABASE ${asciiDb} ENCODING 'SQL_ASCII' LC_COLLATE 'C' LC_CTYPE 'C' TEMPLATE template0`,
    );
    const ascii = await connect(postgres.url.replace(/\/cdc$/, `/${asciiDb}`));
    try {
      await ascii.query(`CREATE TABLE notes (id int PRIMARY KEY, body text)`);
      await ascii.query(`INSERT INTO notes VALUES (1, E'caf\\xe9'), (2, 'plain')`);
      const notes = derivePgRowSchema(await readPgRelation(ascii, { schema: 'public', table: 'notes' }));
      // The bytes as the server holds them (what pgoutput would carry).
      const { rows } = await ascii.query<{ id: number; body: Buffer }>(
        `SELECT id, convert_to(body, 'SQL_ASCII') AS body FROM notes ORDER BY id`,
      );
      const [latin1, plain] = rows;
      expect(latin1?.body).toEqual(Buffer.from([0x63, 0x61, 0x66, 0xe9]));
      let caught: unknown;
      try {
        pgRowFromText(notes, ['1', latin1?.body ?? null]);
      } catch (err) {
        caught = err;
      }
      expect(isCdcError(caught, 'POISON_RECORD')).toBe(true);
      expect((caught as Error).message).toMatch(
        /public\.notes\.body \(text\) holds 4 bytes that are not valid UTF-8/,
      );
      expect(pgRowFromText(notes, ['2', plain?.body ?? null])).toEqual({ id: 2, body: 'plain' });
    } finally {
      await ascii.end();
    }
  });
});
