import { describe, expect, it } from 'vitest';
import { envelopeSchema, keySchema } from './envelope.ts';
import { parseSchema } from './parse-schema.ts';
import { projectSchema } from './projection.ts';
import type { AvroRecordSchema } from './schema-types.ts';

const row: AvroRecordSchema = {
  type: 'record',
  name: 'Row',
  fields: [
    { name: 'id', type: 'long' },
    { name: 'customer_id', type: ['null', 'long'], default: null },
    { name: 'status', type: { type: 'enum', name: 'Status', symbols: ['placed', 'paid'] } },
    { name: 'total', type: { type: 'bytes', logicalType: 'decimal', precision: 12, scale: 2 } },
    { name: 'tags', type: { type: 'array', items: 'string' } },
    { name: 'created_at', type: { type: 'long', logicalType: 'timestamp-micros' } },
  ],
};
const writer = envelopeSchema('shop.public.orders', row, 'postgresql');
const after = {
  id: 7n,
  customer_id: 42n,
  status: 'paid',
  total: Buffer.from([0x04, 0xd2]),
  tags: ['a', 'b'],
  created_at: 1_700_000_000_000_000n,
};
const change = {
  before: { ...after, status: 'placed' },
  after,
  source: {
    connector: 'postgresql',
    name: 'shop',
    db: 'shop',
    schema: 'public',
    table: 'orders',
    lsn: '0/1',
    commitLsn: '0/1',
    txId: null,
    tsMs: 1_700_000_000_123n,
    snapshot: 'false',
  },
  op: 'u',
  tsMs: 1_700_000_000_456n,
  changeId: 'x',
};

/** Encodes with the writer's schema, decodes with the projection of it. */
function roundTrip(keep: Parameters<typeof projectSchema>[1], value: unknown = change): unknown {
  const w = parseSchema(writer);
  const r = parseSchema(projectSchema(writer, keep));
  return r.decode(w.toBuffer(value), 0, r.createResolver(w)).value;
}

describe('projectSchema', () => {
  it('decodes only the kept fields of a CDC envelope, skipping the rest of every record', () => {
    expect(
      roundTrip({ op: true, source: { tsMs: true }, after: { total: true, customer_id: true } }),
    ).toEqual({
      op: 'u',
      source: { tsMs: 1_700_000_000_123n },
      after: { customer_id: 42n, total: Buffer.from([0x04, 0xd2]) },
    });
  });

  it('moves a named type defined in a dropped field (`before`) to the first kept use (`after`)', () => {
    const projected = projectSchema(writer, { after: { status: true } }) as AvroRecordSchema;
    expect(projected.fields.map((f) => f.name)).toEqual(['after']);
    expect(roundTrip({ after: { status: true } })).toEqual({ after: { status: 'paid' } });
    // a delete: `after` is null
    expect(roundTrip({ op: true, after: { status: true } }, { ...change, after: null, op: 'd' })).toEqual({
      op: 'd',
      after: null,
    });
  });

  it('keeps a field whole with `true`, arrays and logical types included', () => {
    expect(roundTrip({ after: true })).toEqual({ after });
    expect(roundTrip(true)).toEqual(change);
  });

  it('leaves out a field that this writer schema lacks (an older version)', () => {
    expect(roundTrip({ op: true, after: { total: true, coupon: true } })).toEqual({
      op: 'u',
      after: { total: Buffer.from([0x04, 0xd2]) },
    });
  });

  it('reads wrapped unions (MongoDB topics) the same way', () => {
    const mongoRow: AvroRecordSchema = {
      type: 'record',
      name: 'Doc',
      fields: [
        { name: '_id', type: 'string' },
        { name: 'qty', type: ['null', 'long', 'double'], default: null },
        { name: 'note', type: ['null', 'string'], default: null },
      ],
    };
    const mongo = envelopeSchema('shop.inventory', mongoRow, 'mongodb');
    const w = parseSchema(mongo, { wrapUnions: true });
    const r = parseSchema(projectSchema(mongo, { op: true, after: { qty: true } }), { wrapUnions: true });
    const doc = { _id: 'a', qty: { double: 2.5 }, note: { string: 'x' } };
    const bytes = w.toBuffer({
      before: null,
      after: { 'shop.inventory.Value': doc },
      source: {
        connector: 'mongodb',
        name: 'shop',
        db: 'shop',
        collection: 'inventory',
        resumeToken: 't',
        txId: null,
        tsMs: 1n,
        snapshot: 'false',
      },
      op: 'c',
      tsMs: 2n,
      changeId: 'y',
    });
    expect(r.decode(bytes, 0, r.createResolver(w)).value).toEqual({
      op: 'c',
      after: { 'shop.inventory.Value': { qty: { double: 2.5 } } },
    });
  });

  it('keeps the full names that schema resolution matches records by', () => {
    const key = keySchema('shop.public.orders', [{ name: 'id', type: 'long' }]);
    expect(projectSchema(key, true)).toMatchObject({ name: 'shop.public.orders.Key' });
  });
});
