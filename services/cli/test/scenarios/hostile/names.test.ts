/**
 * Hostile names: every identifier PostgreSQL and MongoDB accept arrives in ClickHouse under its
 * own name (quoted; `.` and `%` escaped as `%2E` and `%25`), two source names never share a
 * table or a column, and where two of them would (one topic name for two source tables, one
 * table name for two topics) the second is refused, naming both and the fix, while everything
 * else keeps flowing. One pipeline run for every case (see README.md, "Unusual input", and docs/hostile-input.md).
 */
import { quoteIdent as q, sanitizeTopicPart, tableNameForTopic } from '@cdc/core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type Hostile, openHostile } from './harness.ts';

const LONG_COLUMN = `${'long name '.repeat(6)}end`; // 63 characters, PostgreSQL's limit
const LONG_TABLE = `${'Long Table '.repeat(5)}with 8 c`; // 63 characters, PostgreSQL's limit
const MIXED = {
  _id: 1,
  $dollar: 'dollar',
  Ключ: 'ключ',
  'c.d': 'dotted key',
  c_d: 'underscore key',
  c: { d: 'nested d', 'e.f': 'nested dotted' },
  'a b': 'space',
  '🙂': 'emoji',
  K: 'upper',
  k: 'lower',
  '': 'empty key',
};

describe('hostile names', () => {
  let h: Hostile;
  const pgT = (table: string) => `${h.database}.${q(h.pgTable(table))}`;
  const mongoT = (collection: string) =>
    `${h.database}.${q(tableNameForTopic(h.mongoTopic(sanitizeTopicPart(collection))))}`;
  const one = async (sql: string) =>
    (await h.waitRows<Record<string, unknown>>(sql, (r) => r.length === 1))[0]!;

  beforeAll(async () => {
    expect([LONG_COLUMN.length, LONG_TABLE.length]).toEqual([63, 63]);
    const pid = process.pid;
    const id = `h_names_${pid}`;
    // A user's explicit table entry that points a second topic at the table of another.
    h = await openHostile('names', {
      sinkExtra: `tables:\n  "${id}.${id}.public.merge_b": { table: "${id}_${id}_public_merge_a" }`,
    });
    expect(h.id).toBe(id);
    await h.sql(
      `CREATE TABLE "t s" ("my id" int PRIMARY KEY, "a""quote" text, "a'single" text, "Имя" text, "🙂" text,
        "1st" int, "select" text, "a.b" text, "a_b" text, "a%b" text, "Mixed" int, "mixed" int,
        "${LONG_COLUMN}" text, "back\`tick" text, "__proto__" text)`,
    );
    await h.sql(
      `INSERT INTO "t s" VALUES (1, 'dq', 'sq', 'имя', 'smile', 11, 'sel', 'dot', 'under', 'pct', 1, 2, 'long', 'bt', 'proto')`,
    );
    for (const t of [
      '"h-dash"',
      'h_dash',
      '"Orders"',
      'orders',
      `"${LONG_TABLE}"`,
      '"Заказы"',
      '"Товары"',
      'merge_a',
      'merge_b',
    ])
      await h.sql(`CREATE TABLE ${t} (id int PRIMARY KEY, v text)`);
    await h.sql(`CREATE TABLE "select" (id int PRIMARY KEY, "from" text)`);
    await h.sql(`INSERT INTO "h-dash" VALUES (1, 'from h-dash')`);
    await h.sql(`INSERT INTO h_dash VALUES (1, 'from h_dash')`);
    await h.sql(`INSERT INTO "Orders" VALUES (1, 'upper')`);
    await h.sql(`INSERT INTO orders VALUES (1, 'lower')`);
    await h.sql(`INSERT INTO "${LONG_TABLE}" VALUES (1, 'long table')`);
    await h.sql(`INSERT INTO "select" VALUES (1, 'reserved')`);
    await h.sql(`INSERT INTO "Заказы" VALUES (1, 'first of two in one topic')`);
    await h.sql(`INSERT INTO merge_a VALUES (1, 'merge a')`);
    await h.mongo.collection('keys').insertOne(MIXED as never);
    await h.mongo.collection('k-v').insertOne({ _id: 1, v: 'dash collection' } as never);
    await h.mongo.collection('Коллекция').insertOne({ _id: 1, поле: 'значение' } as never);
    await h.mongo.collection('a_b').insertOne({ _id: 1, v: 'a_b first' } as never);
    h.up();
  }, 240_000);

  afterAll(async () => {
    await h?.close();
  }, 180_000);

  it('PostgreSQL: a table named with a space, and 15 hostile column names, arrive exactly', async () => {
    await h.sql(
      `INSERT INTO "t s" ("my id", "a""quote", "a.b", "__proto__") VALUES (2, 'dq2', 'dot2', 'proto2')`,
    );
    await h.sql(`UPDATE "t s" SET "Имя" = 'имя 2', "mixed" = 3 WHERE "my id" = 1`);
    expect(h.pgTable('t s')).toBe(`${h.id}_${h.id}_public_t_s`);
    const rows = await h.waitRows<Record<string, unknown>>(
      `SELECT * EXCEPT (_version, _is_deleted, _change_id, _op, _source_ts, _ingested_at, _out_of_range) FROM ${pgT('t s')} FINAL ORDER BY ${q('my id')}`,
      (r) => r.length === 2 && r[0]?.Имя === 'имя 2',
    );
    expect(rows[0]).toEqual({
      'my id': 1,
      'a"quote': 'dq',
      "a'single": 'sq',
      Имя: 'имя 2',
      '🙂': 'smile',
      '1st': 11,
      select: 'sel',
      'a%2Eb': 'dot',
      a_b: 'under',
      'a%25b': 'pct',
      Mixed: 1,
      mixed: 3,
      [LONG_COLUMN]: 'long',
      'back`tick': 'bt',
      ['__proto__']: 'proto',
    });
    expect(rows[1]).toMatchObject({
      'my id': 2,
      'a"quote': 'dq2',
      'a%2Eb': 'dot2',
      ['__proto__']: 'proto2',
      Имя: null,
    });
  });

  it('PostgreSQL: "h-dash" and h_dash are two tables, each with its own rows', async () => {
    expect(h.pgTable('h-dash')).toBe(`${h.id}_${h.id}_public_h-dash`);
    expect(await one(`SELECT id, v FROM ${pgT('h-dash')} FINAL`)).toEqual({ id: 1, v: 'from h-dash' });
    expect(await one(`SELECT id, v FROM ${pgT('h_dash')} FINAL`)).toEqual({ id: 1, v: 'from h_dash' });
  });

  it('PostgreSQL: "Orders" and orders differ only by case and stay two tables', async () => {
    expect(await one(`SELECT v FROM ${pgT('Orders')} FINAL`)).toEqual({ v: 'upper' });
    expect(await one(`SELECT v FROM ${pgT('orders')} FINAL`)).toEqual({ v: 'lower' });
  });

  it('PostgreSQL: a reserved word as table and column name, and a 63-character table name', async () => {
    expect(await one(`SELECT id, ${q('from')} FROM ${pgT('select')} FINAL`)).toEqual({
      id: 1,
      from: 'reserved',
    });
    expect(await one(`SELECT v FROM ${pgT(sanitizeTopicPart(LONG_TABLE))} FINAL`)).toEqual({
      v: 'long table',
    });
  });

  it('PostgreSQL: two tables whose names share one topic: the second is dead-lettered naming both', async () => {
    // "Заказы" and "Товары" are both ______ in a topic name.
    expect(await one(`SELECT id, v FROM ${pgT('______')} FINAL`)).toEqual({
      id: 1,
      v: 'first of two in one topic',
    });
    await h.sql(`INSERT INTO "Товары" VALUES (7, 'second of two')`);
    const letter = await waitFor(async () =>
      (await h.deadLetters()).find((d) => d.headers['cdc.dlq.reason']?.includes('Товары')),
    );
    expect(letter.headers['cdc.dlq.reason']).toContain(`postgresql "${h.id}"."public"."Заказы"`);
    expect(letter.headers['cdc.dlq.reason']).toContain(`postgresql "${h.id}"."public"."Товары"`);
    expect(letter.headers['cdc.dlq.reason']).toMatch(/Rename one of them at the source/);
    expect(await h.query(`SELECT id FROM ${pgT('______')} FINAL`)).toEqual([{ id: 1 }]);
  });

  it('two topics a clickhouse.sink.tables entry points at one table share it, as configured', async () => {
    await h.sql(`INSERT INTO merge_b VALUES (2, 'merge b')`);
    const rows = await h.waitRows(
      `SELECT id, v FROM ${pgT('merge_a')} FINAL ORDER BY id`,
      (r) => r.length === 2,
    );
    expect(rows).toEqual([
      { id: 1, v: 'merge a' },
      { id: 2, v: 'merge b' },
    ]);
  });

  it('MongoDB: $-prefixed, Cyrillic, dotted, nested dotted, spaced, emoji, case-only and empty keys each land in their own column', async () => {
    const expected = {
      $dollar: 'dollar',
      Ключ: 'ключ',
      'c%2Ed': 'dotted key',
      c_d: 'underscore key',
      c: { d: 'nested d', 'e%2Ef': 'nested dotted' },
      'a b': 'space',
      '🙂': 'emoji',
      K: 'upper',
      k: 'lower',
      '%': 'empty key',
    };
    const row = await one(`SELECT ${Object.keys(expected).map(q).join(', ')} FROM ${mongoT('keys')} FINAL`);
    expect(row).toEqual(expected);
  });

  it('MongoDB: a collection named with a dash keeps it in its table; a Cyrillic collection and key arrive', async () => {
    expect(await one(`SELECT v FROM ${mongoT('k-v')} FINAL`)).toEqual({ v: 'dash collection' });
    expect(mongoT('k-v')).toContain('_k-v`');
    expect(await one(`SELECT ${q('поле')} FROM ${mongoT('Коллекция')} FINAL`)).toEqual({ поле: 'значение' });
  });

  it('MongoDB: collections a.b and a_b share a topic name: the second is dead-lettered naming both', async () => {
    expect(await one(`SELECT v FROM ${mongoT('a_b')} FINAL`)).toEqual({ v: 'a_b first' });
    await h.mongo.collection('a.b').insertOne({ _id: 2, v: 'a.b second' } as never);
    const letter = await waitFor(async () =>
      (await h.deadLetters()).find((d) => d.headers['cdc.dlq.reason']?.includes('"a.b"')),
    );
    expect(letter.headers['cdc.dlq.reason']).toContain(`mongodb "${h.id}"."a_b"`);
    expect(letter.headers['cdc.dlq.reason']).toContain(`mongodb "${h.id}"."a.b"`);
  });

  it('the ordinary table kept flowing, and cdc verify passes for every hostile name', async () => {
    await h.assertFlowing();
    const r = h.cdc('verify', '--timeout', '60', '--json');
    // stdout is the report, pretty-printed: from the line `{` to the line `}`.
    const lines = r.out.split('\n');
    const json = lines.slice(lines.indexOf('{'), lines.indexOf('}') + 1).join('\n');
    const report = JSON.parse(json) as { tables: { table: string; match: boolean }[] };
    const byName = new Map(report.tables.map((t) => [t.table, t.match]));
    for (const t of ['t s', 'h-dash', 'h_dash', 'Orders', 'orders', 'select', LONG_TABLE, 'Заказы'])
      expect([t, byName.get(`public.${t}`)]).toEqual([t, true]);
    for (const c of ['keys', 'k-v', 'Коллекция', 'a_b'])
      expect([c, byName.get(`${h.id}.${c}`)]).toEqual([c, true]);
    // The refused ones are the mismatches verify reports.
    expect(byName.get('public.Товары')).toBe(false);
  }, 240_000);
});

async function waitFor<T>(probe: () => Promise<T | undefined>, timeoutMs = 90_000): Promise<T> {
  const t0 = Date.now();
  for (;;) {
    const v = await probe();
    if (v !== undefined) return v;
    if (Date.now() - t0 > timeoutMs) throw new Error(`waited ${timeoutMs / 1000} s`);
    await new Promise((r) => setTimeout(r, 1000));
  }
}
