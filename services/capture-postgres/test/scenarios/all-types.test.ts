/**
 * all-types: a column of every PostgreSQL type the Avro mapping knows survives the trip
 * through the capture and Kafka, in the snapshot and in the stream: the decoded record equals
 * the conversion of PostgreSQL's own text for the row.
 */
import { derivePgRowSchema, pgRowFromText, readPgRelation } from '@cdc/avro';
import { afterAll, describe, expect, it } from 'vitest';
import { cleanup, connectPg, consume, runCapture, scenario, waitStreaming } from './harness.ts';

const s = scenario('types');
const table = `${s.name}_t`.toLowerCase();
const mood = `${s.name}_mood`.toLowerCase();
const price = `${s.name}_price`.toLowerCase();

const COLUMNS: Record<string, string> = {
  id: 'int8 PRIMARY KEY',
  i2: 'int2',
  i4: 'int4 NOT NULL',
  i8: 'int8',
  amount: 'numeric(10,2)',
  big: 'numeric(38,0)',
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
  an: 'numeric(10,2)[]',
  feeling: mood,
  feelings: `${mood}[]`,
  cost: price,
  ip: 'inet',
  pt: 'point',
  rng: 'tstzrange',
  cash: 'money',
  '"Odd Name"': 'text',
};

const VALUES = `
  -9223372036854775808, -32768, -2147483648, 9223372036854775807, -99999999.99, ${'9'.repeat(38)},
  '-1234567890.0987654321', '-3.4028235e+38', '1.7976931348623157e+308', true, 'Zoë "quoted", ünïcode ✓', 'varchar', 'abc',
  'a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11', '2024-02-29', '23:59:59.999999', '12:00:00+05:30', '1999-12-31 23:59:59.123456',
  '2038-01-19 03:14:08.5+02', '1 year 2 mons 3 days 04:05:06.789', '{"a": [1, 2.5, null]}', '{"b": {"c": true}}', '\\xdeadbeef00',
  '{1,NULL,3}', '{"x,y","",NULL}', '{{1.5,2},{NULL,-0}}', '{1.10,NULL}', 'happy', '{sad,ok}', 12.34, '192.168.0.1/24',
  '(1.5,-2)', '[2024-01-01 00:00:00+00,2024-02-01 00:00:00+00)', 12.34, 'odd'`;

afterAll(async () => {
  await cleanup(s, [table], [s.topicOf(table)]);
  const db = await connectPg();
  await db.query(`DROP DOMAIN IF EXISTS ${price}; DROP TYPE IF EXISTS ${mood}`);
  await db.end();
});

describe('all-types', () => {
  it('every type round-trips through Kafka in the snapshot and in the stream', async () => {
    const db = await connectPg();
    await db.query(
      `SET timezone = 'UTC'; SET datestyle = ISO; SET intervalstyle = postgres; SET extra_float_digits = 3`,
    );
    await db.query(`CREATE TYPE ${mood} AS ENUM ('sad', 'ok', 'happy')`);
    await db.query(`CREATE DOMAIN ${price} AS numeric(10,2)`);
    const defs = Object.entries(COLUMNS).map(([n, t]) => `${n} ${t}`);
    await db.query(`CREATE TABLE ${table} (${defs.join(', ')})`);
    const names = Object.keys(COLUMNS).join(', ');
    await db.query(`INSERT INTO ${table} (${names}) VALUES (${VALUES.replace('-9223372036854775808', '1')})`);
    await db.query(`INSERT INTO ${table} (id, i4) VALUES (2, 0)`);
    const capture = runCapture(s.source({ include: [table] }));
    try {
      await waitStreaming(s);
      // The snapshot of a keyed table runs beside the stream: rows inserted before its read would
      // come twice (streamed, then read). The stream rows come after the snapshot's two.
      await consume([s.topicOf(table)], { expected: 2 });
      await db.query(
        `INSERT INTO ${table} (${names}) VALUES (${VALUES.replace('-9223372036854775808', '3')})`,
      );
      await db.query(`INSERT INTO ${table} (id, i4) VALUES (4, 0)`);
      const got = await consume([s.topicOf(table)], { expected: 4 });
      expect(got.map((r) => r.value.op).sort()).toEqual(['c', 'c', 'r', 'r']);

      const rs = derivePgRowSchema(await readPgRelation(db, { schema: 'public', table }));
      // PostgreSQL's output text of each value (what pgoutput sends; `::text` would trim char(n)).
      const cols = rs.columns.map((c) => `"${c.column.name}"`).join(', ');
      const { rows } = await db.query<(string | null)[]>({
        text: `SELECT ${cols} FROM ${table} ORDER BY id`,
        rowMode: 'array',
        types: { getTypeParser: () => (v: string) => v } as never,
      });
      for (const texts of rows) {
        const expected = pgRowFromText(rs, texts);
        const record = got.find((r) => r.value.after?.id === expected.id);
        for (const [field, value] of Object.entries(expected)) {
          expect({ field, value: record?.value.after?.[field] }).toEqual({ field, value });
        }
        expect(record?.key).toEqual({ id: expected.id });
      }
    } finally {
      await capture.stop();
      await db.end();
    }
  });
});
