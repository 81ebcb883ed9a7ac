/**
 * Hostile values: the full range of PostgreSQL dates and times and of BSON dates, and exact
 * numbers, through the whole pipeline (`cdc up`) into ClickHouse.
 *
 * Inside what ClickHouse's `Date32` / `DateTime64` hold (1900-01-01 .. 2299-12-31) every value
 * arrives exactly, on both sides of 1970; outside it (before 1900, after 2299, ±infinity, BC)
 * the column holds the nearest bound and `_out_of_range` the exact source text; nothing is
 * dead-lettered. `cdc query --json` prints Int64, Decimal and NaN losslessly, `cdc verify`
 * agrees with the replica, and an ordinary table keeps flowing.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type Hostile, openHostile } from './harness.ts';

let h: Hostile;

const MIN_TS = '1900-01-01 00:00:00.000000';
const MAX_TS = '2299-12-31 23:59:59.999999';

/** id → [date, timestamp, timestamptz] as PostgreSQL reads them. */
const DATES: Record<number, [string, string, string]> = {
  1: ['1899-12-31', '1899-12-31 23:59:59.999999', '1899-12-31 23:59:59.999999+00'],
  2: ['1900-01-01', '1900-01-01 00:00:00', '1900-01-01 00:00:00+00'],
  3: ['1969-12-31', '1969-12-31 23:59:59.999999', '1969-12-31 23:59:59.999999+00'],
  4: ['1970-01-01', '1970-01-01 00:00:00.5', '1970-01-01 00:00:00.5+00'],
  5: ['2286-11-21', '2286-11-21 00:00:00', '2286-11-21 00:00:00+00'],
  6: ['2299-12-31', '2299-12-31 23:59:59.999999', '2299-12-31 23:59:59.999999+00'],
  7: ['2300-01-01', '2300-01-01 00:00:00', '2300-01-01 00:00:00+00'],
  8: ['5000-01-01', '5000-06-15 12:00:00.123456', '5000-06-15 12:00:00.123456+00'],
  9: ['4713-01-01 BC', '4713-01-01 00:00:00 BC', '4713-01-01 00:00:00+00 BC'],
  10: ['infinity', 'infinity', 'infinity'],
  11: ['-infinity', '-infinity', '-infinity'],
  // Written before `cdc up`: read by the snapshot, not the replication stream.
  100: ['0044-03-15 BC', '1066-10-14 09:00:00', '-infinity'],
};

type DateRow = { id: number; d: string; ts: string; tstz: string; ds: string[]; oor: Record<string, string> };

async function dateRows(): Promise<Map<number, DateRow>> {
  const rows = await h.query<DateRow>(
    `SELECT id, toString(d) AS d, toString(ts) AS ts, toString(tstz) AS tstz, arrayMap(x -> toString(x), ds) AS ds, _out_of_range AS oor FROM h.${h.pgTable('dates')} FINAL ORDER BY id`,
  );
  return new Map(rows.map((r) => [Number(r.id), r]));
}

beforeAll(async () => {
  h = await openHostile('values');
  await h.sql('CREATE TABLE dates (id int PRIMARY KEY, d date, ts timestamp, tstz timestamptz, ds date[])');
  await h.sql('CREATE TABLE times (id int PRIMARY KEY, t time, ttz timetz, iv interval)');
  await h.sql('CREATE TABLE nums (id int PRIMARY KEY, big bigint, n38 numeric(38,10), nn numeric, f float8)');
  await h.sql('CREATE TABLE fixed (id int PRIMARY KEY, n numeric(10,2))');
  await h.sql('CREATE TABLE far (id int PRIMARY KEY, ts timestamp)');
  const [d, ts, tstz] = DATES[100] as [string, string, string];
  await h.sql('INSERT INTO dates VALUES (100, $1, $2, $3, NULL)', [d, ts, tstz]);
  await h.mongo
    .collection('events')
    .insertOne({ _id: 100, at: new Date('1492-10-12T00:00:00.000Z') } as never);
  h.up();
  for (const [id, [d, ts, tstz]] of Object.entries(DATES))
    if (Number(id) < 100)
      await h.sql('INSERT INTO dates VALUES ($1, $2, $3, $4, NULL)', [Number(id), d, ts, tstz]);
  await h.sql(`INSERT INTO dates VALUES (12, NULL, NULL, NULL, '{1899-12-31,2000-01-01,infinity}')`);
  await h.sql(`INSERT INTO times VALUES
    (1, '24:00:00', '24:00:00+00', '178956970 years 7 mons 2147483647 days 2562047788:00:54.775807'),
    (2, '23:59:59.999999', '12:34:56.789+05:30', '-178956970 years -8 mons -2147483648 days -2562047788:00:54.775807'),
    (3, '00:00:00', '10:00:00-03', '1 mon -1 days 00:00:00.000001')`);
  await h.sql(`INSERT INTO nums VALUES
    (1, 9223372036854775807, 9999999999999999999999999999.9999999999, 'NaN', 'NaN'),
    (2, -9223372036854775808, -1234567890123456789012345678.0123456789, 0.00000000000000000001, 'Infinity'),
    (3, 0, 0.0000000001, 'Infinity', '-Infinity'),
    (4, 1, 1, '-Infinity', '-0')`);
  await h.sql(`INSERT INTO fixed VALUES (1, 'NaN'), (3, 1.50)`);
  await h.sql(`INSERT INTO far VALUES (1, '294246-12-31 23:59:59.999999'), (2, '294270-01-01 00:00:00')`);
  await h.mongo.collection('events').insertMany([
    { _id: 1, at: new Date('1969-12-31T23:59:59.999Z') },
    { _id: 2, at: new Date('1800-01-01T00:00:00.000Z') },
    { _id: 3, at: new Date('2999-12-31T23:59:59.999Z') },
    { _id: 4, at: new Date('1900-01-01T00:00:00.000Z') },
    { _id: 5, at: new Date('1970-01-01T00:00:00.500Z') },
    { _id: 6, at: new Date('9999-12-31T23:59:59.999Z') },
  ] as never[]);
  await h.waitRows(
    `SELECT id FROM h.${h.pgTable('dates')} FINAL`,
    (r) => r.length === Object.keys(DATES).length + 1,
    180_000,
  );
  await h.waitRows(`SELECT id FROM h.${h.pgTable('nums')} FINAL`, (r) => r.length === 4);
  await h.waitRows(`SELECT id FROM h.${h.pgTable('times')} FINAL`, (r) => r.length === 3);
  await h.waitRows(`SELECT id FROM h.${h.pgTable('fixed')} FINAL`, (r) => r.length === 1);
  await h.waitRows(`SELECT id FROM h.${h.pgTable('far')} FINAL`, (r) => r.length === 1);
  await h.waitRows(`SELECT _id FROM h.${h.id}_docs_${h.id}_events FINAL`, (r) => r.length === 7);
}, 420_000);

afterAll(async () => {
  await h?.close();
}, 120_000);

describe('PostgreSQL dates inside 1900–2299 arrive exactly', () => {
  it.each([
    [2, '1900-01-01', MIN_TS],
    [3, '1969-12-31', '1969-12-31 23:59:59.999999'],
    [4, '1970-01-01', '1970-01-01 00:00:00.500000'],
    [5, '2286-11-21', '2286-11-21 00:00:00.000000'],
    [6, '2299-12-31', MAX_TS],
  ])('row %i: date %s, timestamp and timestamptz %s, nothing out of range', async (id, d, ts) => {
    const r = (await dateRows()).get(id);
    expect(r).toMatchObject({ d, ts, tstz: ts });
    expect(r?.oor).toEqual({});
  });
});

describe('PostgreSQL dates outside 1900–2299: the nearest bound, the exact text in _out_of_range', () => {
  it.each([
    [1, '1900-01-01', MIN_TS],
    [7, '2299-12-31', MAX_TS],
    [8, '2299-12-31', MAX_TS],
    [9, '1900-01-01', MIN_TS],
    [10, '2299-12-31', MAX_TS],
    [11, '1900-01-01', MIN_TS],
  ])('row %i', async (id, d, ts) => {
    const [pd, pts, ptstz] = DATES[id] as [string, string, string];
    const r = (await dateRows()).get(id);
    expect(r).toMatchObject({ d, ts, tstz: ts });
    expect(r?.oor).toEqual({ d: pd, ts: pts, tstz: ptstz });
  });

  it('a snapshot row (read before the stream) keeps 44 BC, 1066 and -infinity the same way', async () => {
    const r = (await dateRows()).get(100);
    expect(r).toMatchObject({ d: '1900-01-01', ts: MIN_TS, tstz: MIN_TS });
    expect(r?.oor).toEqual({ d: '0044-03-15 BC', ts: '1066-10-14 09:00:00', tstz: '-infinity' });
  });

  it('a timestamp past what an int64 of µs from 1970 holds (PostgreSQL reaches 294276) is dead-lettered saying so; one just inside is kept', async () => {
    const dead = (await h.deadLetters()).filter((d) => d.headers['cdc.source.topic'] === h.pgTopic('far'));
    expect(dead.map((d) => d.headers['cdc.error.code'])).toEqual(['POISON_RECORD']);
    expect(dead[0]?.headers['cdc.error.message']).toMatch(
      /not a valid timestamp value: '294270-01-01 00:00:00' \(beyond 294247-01-10 04:00:54.775806 \(either way\), the last instant an int64 of microseconds from 1970 holds; PostgreSQL counts from 2000 and reaches 294276: the value cannot be replicated\)/,
    );
    const rows = await h.query<{ id: number; ts: string; oor: Record<string, string> }>(
      `SELECT id, toString(ts) AS ts, _out_of_range AS oor FROM h.${h.pgTable('far')} FINAL`,
    );
    expect(rows.map((r) => [Number(r.id), r.ts, r.oor])).toEqual([
      [1, MAX_TS, { ts: '294246-12-31 23:59:59.999999' }],
    ]);
  });

  it('an array keeps each element that is out of range under its 1-based index', async () => {
    const r = (await dateRows()).get(12);
    expect(r?.ds).toEqual(['1900-01-01', '2000-01-01', '2299-12-31']);
    expect(r?.oor).toEqual({ 'ds[1]': '1899-12-31', 'ds[3]': 'infinity' });
  });

  it('nothing was dead-lettered but NaN in a numeric(10,2) (below)', async () => {
    const dead = await h.deadLetters();
    const expected = [h.pgTopic('fixed'), h.pgTopic('far')];
    expect(dead.filter((d) => !expected.includes(d.headers['cdc.source.topic'] as string))).toEqual([]);
  });
});

describe('times and intervals arrive exactly', () => {
  it('time 24:00:00, timetz with offsets, the largest and smallest intervals', async () => {
    const rows = await h.query<{ id: number; t: string; ttz: string; iv: string }>(
      `SELECT id, toString(t) AS t, ttz, toString(iv) AS iv FROM h.${h.pgTable('times')} FINAL ORDER BY id`,
    );
    expect(rows.map((r) => [Number(r.id), r.t, r.ttz, r.iv])).toEqual([
      [1, '86400000000', '24:00:00+00:00', '(2147483647,2147483647,9223372036854775807)'],
      [2, '86399999999', '12:34:56.789+05:30', '(-2147483648,-2147483648,-9223372036854775807)'],
      [3, '0', '10:00:00-03:00', '(1,-1,1)'],
    ]);
  });
});

describe('BSON dates', () => {
  type Ev = { id: string; at: string; oor: Record<string, string> };
  const events = async () =>
    new Map(
      (
        await h.query<Ev>(
          `SELECT toString(_id) AS id, toString(at) AS at, _out_of_range AS oor FROM h.${h.id}_docs_${h.id}_events FINAL`,
        )
      ).map((r) => [Number(r.id), r]),
    );

  it('before 1970, at 1900-01-01 and in the first second of 1970: exact to the millisecond', async () => {
    const e = await events();
    expect([e.get(1)?.at, e.get(1)?.oor]).toEqual(['1969-12-31 23:59:59.999', {}]);
    expect([e.get(4)?.at, e.get(4)?.oor]).toEqual(['1900-01-01 00:00:00.000', {}]);
    expect([e.get(5)?.at, e.get(5)?.oor]).toEqual(['1970-01-01 00:00:00.500', {}]);
  });

  it('before 1900 and after 2299 (snapshot and stream): the nearest bound, ISO 8601 in _out_of_range', async () => {
    const e = await events();
    expect([e.get(2)?.at, e.get(2)?.oor]).toEqual([
      '1900-01-01 00:00:00.000',
      { at: '1800-01-01T00:00:00.000Z' },
    ]);
    expect([e.get(3)?.at, e.get(3)?.oor]).toEqual([
      '2299-12-31 23:59:59.999',
      { at: '2999-12-31T23:59:59.999Z' },
    ]);
    expect([e.get(6)?.at, e.get(6)?.oor]).toEqual([
      '2299-12-31 23:59:59.999',
      { at: '9999-12-31T23:59:59.999Z' },
    ]);
    expect([e.get(100)?.at, e.get(100)?.oor]).toEqual([
      '1900-01-01 00:00:00.000',
      { at: '1492-10-12T00:00:00.000Z' },
    ]);
  });
});

describe('exact numbers', () => {
  it('bigint min/max, numeric(38,10), numeric NaN/±Infinity and float specials in ClickHouse', async () => {
    const rows = await h.query<Record<string, string>>(
      `SELECT id, toString(big) AS big, toString(n38) AS n38, nn, toString(f) AS f FROM h.${h.pgTable('nums')} FINAL ORDER BY id`,
    );
    expect(rows.map((r) => [Number(r.id), r.big, r.n38, r.nn, r.f])).toEqual([
      [1, '9223372036854775807', '9999999999999999999999999999.9999999999', 'NaN', 'nan'],
      [
        2,
        '-9223372036854775808',
        '-1234567890123456789012345678.0123456789',
        '0.00000000000000000001',
        'inf',
      ],
      [3, '0', '0.0000000001', 'Infinity', '-inf'],
      [4, '1', '1', '-Infinity', '-0'],
    ]);
  });

  it('NaN in a numeric(p,s) (which has no ±Infinity) is dead-lettered naming the fix; the other rows arrive', async () => {
    const dead = (await h.deadLetters()).filter((d) => d.headers['cdc.source.topic'] === h.pgTopic('fixed'));
    expect(dead.map((d) => d.headers['cdc.error.code'])).toEqual(['POISON_RECORD']);
    for (const [i, text] of ['NaN'].entries())
      expect(dead[i]?.headers['cdc.error.message']).toMatch(
        new RegExp(
          `not a valid numeric\\(10,2\\) value: '${text}' \\(an Avro decimal has no NaN or Infinity; to replicate them, declare the column numeric without a precision`,
        ),
      );
    const rows = await h.query<{ id: number; n: string }>(
      `SELECT id, toString(n) AS n FROM h.${h.pgTable('fixed')} FINAL`,
    );
    expect(rows.map((r) => [Number(r.id), r.n])).toEqual([[3, '1.5']]);
  });

  it('cdc query --json prints them losslessly: 64-bit integers and decimals as strings, NaN/±Infinity as "nan"/"inf"/"-inf"', () => {
    const r = h.cdc(
      'query',
      `SELECT id, big, n38, f FROM h.${h.pgTable('nums')} FINAL ORDER BY id`,
      '--json',
    );
    expect(r.status, r.out).toBe(0);
    const json = JSON.parse(r.out.slice(r.out.indexOf('[\n'), r.out.lastIndexOf('\n]') + 2)) as Record<
      string,
      unknown
    >[];
    expect(json.map((x) => [x.big, x.n38, x.f])).toEqual([
      ['9223372036854775807', '9999999999999999999999999999.9999999999', 'nan'],
      ['-9223372036854775808', '-1234567890123456789012345678.0123456789', 'inf'],
      ['0', '0.0000000001', '-inf'],
      ['1', '1', -0],
    ]);
  });
});

describe('the whole', () => {
  it('cdc verify agrees with the replica, out-of-range values compared by their exact text', async () => {
    // The dead-lettered rows are the differences verify would report: the user removes them.
    await h.sql('DELETE FROM fixed WHERE id = 1');
    await h.sql('DELETE FROM far WHERE id = 2');
    const r = h.cdc('verify', '--timeout', '120', '--json');
    expect(r.status, r.out).toBe(0);
  }, 180_000);

  it('the ordinary table keeps flowing', async () => {
    await h.assertFlowing();
  });
});
