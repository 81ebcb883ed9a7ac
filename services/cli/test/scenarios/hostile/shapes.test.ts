/**
 * Hostile MongoDB shapes, through the whole pipeline (`cdc up`) into ClickHouse: fields whose
 * type changes across documents, nesting 20, 80 and 100 levels deep, and an `_id` of every BSON
 * type, in two collections that see the types in opposite orders. Each case asserts the exact
 * values stored; then `cdc verify` passes for these collections, `cdc rebuild` of a widened
 * table works, and the ordinary table kept flowing throughout.
 */
import { Binary, Decimal128, Double, Int32, Long, ObjectId } from 'mongodb';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type Hostile, openHostile } from './harness.ts';

let h: Hostile;
const table = (collection: string) => `${h.database}.${h.id}_docs_${h.id}_${collection}`;

/** `_id` → `v` (as text, NULL as null), in `_id` order. */
async function values(collection: string, column = 'v', count?: number): Promise<Record<string, unknown>> {
  const rows = await h.waitRows<{ _id: string; v: unknown }>(
    `SELECT _id, ${column} AS v FROM ${table(collection)} FINAL ORDER BY _id`,
    (r) => count === undefined || r.length === count,
  );
  return Object.fromEntries(rows.map((r) => [r._id, r.v]));
}

async function columnType(collection: string, column: string): Promise<string> {
  const [r] = await h.query<{ type: string }>(
    `SELECT type FROM system.columns WHERE database = '${h.database}' AND table = '${h.id}_docs_${h.id}_${collection}' AND name = '${column}'`,
  );
  return r?.type ?? '(none)';
}

/** Inserts the first document, waits until the sink wrote it, then the rest: the column must widen in place. */
async function insertThenWiden(collection: string, first: object, rest: object[]): Promise<void> {
  const c = h.mongo.collection(collection);
  await c.insertOne({ ...first });
  await h.waitRows(`SELECT _id FROM ${table(collection)} FINAL`, (r) => r.length === 1);
  for (const d of rest) await c.insertOne({ ...d });
}

function nested(levels: number, id: number): Record<string, unknown> {
  let doc: unknown = 'leaf';
  for (let i = levels; i >= 1; i--) doc = { [`l${i}`]: doc };
  return { _id: id, ...(doc as object) };
}

/** Every BSON type an `_id` can have, with the text the `_id` column holds. */
const IDS: [unknown, string][] = [
  [new ObjectId('65a1b2c3d4e5f60718293a4b'), '65a1b2c3d4e5f60718293a4b'],
  ['x', 'x'],
  ['"y"', '"y"'],
  [new Int32(7), '7'],
  [Long.fromString('1099511627776'), '1099511627776'],
  [new Double(2.5), '2.5'],
  [Decimal128.fromString('1.50'), '1.50'],
  [new Date('2024-01-02T03:04:05.678Z'), '2024-01-02T03:04:05.678Z'],
  [{ a: 1, b: 'z' }, '{"a":{"$numberInt":"1"},"b":"z"}'],
  [new Binary(Buffer.from([1, 2, 3]), 0), '{"$binary":{"base64":"AQID","subType":"00"}}'],
];

beforeAll(async () => {
  h = await openHostile('shapes');
  h.up();
  await h.assertFlowing(180_000);
}, 300_000);

afterAll(async () => {
  await h?.close();
}, 120_000);

describe('MongoDB shapes', () => {
  it('int → string: the column widens to text, both values kept', async () => {
    await insertThenWiden('int_string', { _id: 1, v: 1 }, [{ _id: 2, v: 'two' }]);
    expect(await values('int_string', 'v', 2)).toEqual({ '1': '1', '2': 'two' });
    expect(await columnType('int_string', 'v')).toBe('Nullable(String)');
  }, 180_000);

  it('string → object: the sub-document is canonical Extended JSON', async () => {
    await insertThenWiden('string_object', { _id: 1, v: 'a' }, [{ _id: 2, v: { x: 1 } }]);
    expect(await values('string_object', 'v', 2)).toEqual({ '1': 'a', '2': '{"x":{"$numberInt":"1"}}' });
  }, 180_000);

  it('scalar → array', async () => {
    await insertThenWiden('scalar_array', { _id: 1, v: 5 }, [{ _id: 2, v: [1, 'b'] }]);
    expect(await values('scalar_array', 'v', 2)).toEqual({ '1': '5', '2': '[{"$numberInt":"1"},"b"]' });
  }, 180_000);

  it('object → array: the old sub-document is converted to JSON text in place', async () => {
    await insertThenWiden('object_array', { _id: 1, v: { x: 1 } }, [{ _id: 2, v: [1] }]);
    expect(await values('object_array', 'v', 2)).toEqual({ '1': '{"x":1}', '2': '[{"$numberInt":"1"}]' });
  }, 180_000);

  it('null → int and string → null: NULL kept, the null-only column takes the type', async () => {
    await insertThenWiden('null_any', { _id: 1, v: null, w: 'x' }, [{ _id: 2, v: 7, w: null }]);
    expect(await values('null_any', 'v', 2)).toEqual({ '1': null, '2': 7 });
    expect(await values('null_any', 'w', 2)).toEqual({ '1': 'x', '2': null });
    expect(await columnType('null_any', 'v')).toBe('Nullable(Int32)');
  }, 180_000);

  it('int → long and int → double widen the number exactly', async () => {
    await insertThenWiden('numbers', { _id: 1, l: 1, d: 1 }, [
      { _id: 2, l: Long.fromString('1099511627776'), d: new Double(1.5) },
    ]);
    expect(await values('numbers', 'toString(l)', 2)).toEqual({ '1': '1', '2': '1099511627776' });
    expect(await values('numbers', 'd', 2)).toEqual({ '1': 1, '2': 1.5 });
    expect(await columnType('numbers', 'l')).toBe('Nullable(Int64)');
  }, 180_000);

  it('a sub-document whose field changes type and gains a field', async () => {
    await insertThenWiden('subdoc', { _id: 1, v: { a: 1 } }, [{ _id: 2, v: { a: 'x', b: 2 } }]);
    expect(await values('subdoc', 'toJSONString(v)', 2)).toEqual({
      '1': '{"a":"1","b":null}',
      '2': '{"a":"x","b":2}',
    });
  }, 180_000);

  it('nesting 20, 80 and 100 levels: 15 levels of columns, the rest one Extended JSON text', async () => {
    // The local MongoDB-compatible server stores 100 levels (MongoDB's own limit is 100 too).
    await h.mongo.collection('deep').insertMany([nested(20, 20), nested(80, 80), nested(100, 100)]);
    let path = 'l1';
    for (let i = 2; i <= 16; i++) path = `tupleElement(${path}, 'l${i}')`;
    // l16 is the capture's Extended JSON branch (a one-entry map `json`).
    const rows = await values('deep', `${path}['json']`, 3);
    for (const levels of [20, 80, 100]) {
      let rest: unknown = 'leaf';
      for (let i = levels; i >= 17; i--) rest = { [`l${i}`]: rest };
      expect(rows[String(levels)], `${levels} levels`).toBe(JSON.stringify(rest));
    }
    const [t] = await h.query<{ type: string }>(
      `SELECT type FROM system.columns WHERE database = '${h.database}' AND table = '${h.id}_docs_${h.id}_deep' AND name = 'l1'`,
    );
    expect((t?.type ?? '').split('Tuple(').length - 1).toBe(15);
  }, 180_000);

  it('_id of every BSON type: one text form per type, whatever came before', async () => {
    await h.mongo.collection('ids').insertMany(IDS.map(([id], i) => ({ _id: id as never, n: i })));
    await h.mongo
      .collection('ids_reversed')
      .insertMany([...IDS].reverse().map(([id], i) => ({ _id: id as never, n: i })));
    const expected = IDS.map(([, text]) => text).sort();
    for (const c of ['ids', 'ids_reversed']) {
      const rows = await h.waitRows<{ _id: string }>(
        `SELECT _id FROM ${table(c)} FINAL`,
        (r) => r.length === IDS.length,
      );
      expect(rows.map((r) => r._id).sort(), c).toEqual(expected);
      expect(await columnType(c, '_id')).toBe('String');
    }
  }, 180_000);

  it('cdc rebuild of a widened table rewrites it in one form, and the pipeline flows on', async () => {
    h.down();
    const r = h.cdc('rebuild', `${h.id}_docs_${h.id}_object_array`);
    expect(r.status, r.out).toBe(0);
    h.up();
    expect(await values('object_array', 'v', 2)).toEqual({
      '1': '{"x":{"$numberInt":"1"}}',
      '2': '[{"$numberInt":"1"}]',
    });
    await h.assertFlowing(180_000);
    expect(h.log('sink-clickhouse')).not.toMatch(/table stopped/);
  }, 400_000);
  it('cdc verify passes for every collection (after the rebuild)', async () => {
    await h.assertFlowing();
    const v = h.cdc('verify', '--timeout', '90', '--source', `${h.id}_docs`);
    for (const c of [
      'int_string',
      'string_object',
      'scalar_array',
      'null_any',
      'numbers',
      'deep',
      'ids',
      'ids_reversed',
    ])
      expect(v.out, v.out.slice(-4000)).toMatch(new RegExp(`ok +${h.id}\\.${c} `));
  }, 240_000);
});
