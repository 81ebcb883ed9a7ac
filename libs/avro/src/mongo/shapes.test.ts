import { Binary, Decimal128, Double, Int32, Long, ObjectId, UUID } from 'mongodb';
import { describe, expect, it } from 'vitest';
import type { AvroSchema } from '../schema-types.ts';
import { mongoAvroType } from './avro-type.ts';
import { avroToDocument, mongoUnionText } from './from-avro.ts';
import { InferredSchema } from './inferred-schema.ts';
import { doubleText, mongoIdText, mongoKey } from './key.ts';
import { MAX_NESTING } from './shape.ts';

const NS = 'cdc.h.deep';

/** `{ l1: { l2: … { l<n>: 'leaf' } } }` */
function nested(levels: number): Record<string, unknown> {
  let doc: unknown = 'leaf';
  for (let i = levels; i >= 1; i--) doc = { [`l${i}`]: doc };
  return { _id: 1, ...(doc as object) };
}

/** How many records deep the schema goes. */
function schemaDepth(schema: unknown): number {
  if (Array.isArray(schema)) return Math.max(0, ...schema.map(schemaDepth));
  if (typeof schema !== 'object' || schema === null) return 0;
  const s = schema as { type: string; fields?: { type: unknown }[]; items?: unknown };
  if (s.type === 'record') return 1 + Math.max(0, ...(s.fields ?? []).map((f) => schemaDepth(f.type)));
  if (s.type === 'array') return 1 + schemaDepth(s.items);
  return 0;
}

describe('nesting depth', () => {
  for (const levels of [MAX_NESTING - 1, MAX_NESTING, 20, 80, 100]) {
    it(`keeps a ${levels}-level document exactly, with at most ${MAX_NESTING} levels of records`, () => {
      const doc = nested(levels);
      const inferred = InferredSchema.create({ namespace: NS });
      inferred.observe(doc);
      expect(schemaDepth(inferred.schema())).toBeLessThanOrEqual(MAX_NESTING);
      const type = mongoAvroType(inferred.schema());
      const back = avroToDocument(inferred.schema(), type.fromBuffer(type.toBuffer(inferred.toAvro(doc))));
      expect(back).toEqual({ ...doc, _id: new Int32(1) });
    });
  }

  it('keeps the part from level 16 on as one Extended JSON value', () => {
    const inferred = InferredSchema.create({ namespace: NS });
    inferred.observe(nested(20));
    expect(JSON.stringify(inferred.schema())).toContain('"cdc.type":"extendedJson"');
    let v = inferred.toAvro(nested(20)) as Record<string, unknown>;
    for (let i = 1; i < MAX_NESTING; i++)
      v = Object.values(v[`l${i}`] as object)[0] as Record<string, unknown>;
    expect(v[`l${MAX_NESTING}`]).toEqual({
      map: { json: JSON.stringify({ l17: { l18: { l19: { l20: 'leaf' } } } }) },
    });
  });

  it('bounds arrays too: an array 16 levels deep is Extended JSON', () => {
    let value: unknown = [1];
    for (let i = 0; i < 30; i++) value = [value];
    const inferred = InferredSchema.create({ namespace: NS });
    inferred.observe({ _id: 1, a: value });
    expect(schemaDepth(inferred.schema())).toBeLessThanOrEqual(MAX_NESTING);
    const type = mongoAvroType(inferred.schema());
    const back = avroToDocument(
      inferred.schema(),
      type.fromBuffer(type.toBuffer(inferred.toAvro({ _id: 1, a: value }))),
    );
    expect(JSON.stringify(back.a)).toEqual(JSON.stringify(value));
  });
});

describe('mongoIdText: one text per BSON type of _id', () => {
  const text = (id: unknown) => mongoIdText(mongoKey({ _id: id }).id);
  it.each([
    ['ObjectId', new ObjectId('65a1b2c3d4e5f60718293a4b'), '65a1b2c3d4e5f60718293a4b'],
    ['string', 'x', 'x'],
    ['string that looks like JSON', '"x"', '"x"'],
    ['Int32', new Int32(42), '42'],
    ['JS int', -7, '-7'],
    ['Int64', Long.fromString('9223372036854775807'), '9223372036854775807'],
    ['Double', new Double(1.5), '1.5'],
    ['integral Double', new Double(3), '3'],
    ['Double -0', new Double(-0), '-0'],
    ['Decimal128', Decimal128.fromString('1.50'), '1.50'],
    ['Date', new Date('2024-01-02T03:04:05.678Z'), '2024-01-02T03:04:05.678Z'],
    ['UUID', new UUID('0123456789abcdef0123456789abcdef'), '01234567-89ab-cdef-0123-456789abcdef'],
    ['Binary', new Binary(Buffer.from([1, 2, 3]), 0), '{"$binary":{"base64":"AQID","subType":"00"}}'],
    ['document', { a: 1, b: 'x' }, '{"a":{"$numberInt":"1"},"b":"x"}'],
  ])('%s', (_kind, id, expected) => {
    expect(text(id)).toBe(expected);
  });

  it('formats doubles as ClickHouse does', () => {
    expect([1e21, 1e-7, Number.NaN, Number.POSITIVE_INFINITY, -0].map(doubleText)).toEqual([
      '1e21',
      '1e-7',
      'nan',
      'inf',
      '-0',
    ]);
  });
});

describe('mongoUnionText: a field of several types as text', () => {
  const inferred = InferredSchema.create({ namespace: NS });
  const docs = [
    { _id: 1, v: 5 },
    { _id: 2, v: 'five' },
    { _id: 3, v: { a: 1 } },
    { _id: 4, v: [1, 'x'] },
    { _id: 5, v: new Date('1999-12-31T23:59:59.999Z') },
    { _id: 6, v: true },
    { _id: 7, v: Long.fromString('9007199254740993') },
  ];
  for (const d of docs) inferred.observe(d);
  const schema = inferred.schema();
  const union = schema.fields.find((f) => f.name === 'v')!.type as AvroSchema[];
  const text = mongoUnionText(schema as unknown as AvroSchema);
  const type = mongoAvroType(schema);
  const of = (d: Record<string, unknown>) =>
    text(union, (type.fromBuffer(type.toBuffer(inferred.toAvro(d))) as Record<string, unknown>).v);
  it('keeps each value, scalars as their text and structures as canonical Extended JSON', () => {
    expect(docs.map(of)).toEqual([
      '5',
      'five',
      '{"a":{"$numberInt":"1"}}',
      '[{"$numberInt":"1"},"x"]',
      '1999-12-31 23:59:59.999',
      'true',
      // A scalar after sub-documents or arrays goes to the capture's Extended JSON branch.
      '{"$numberLong":"9007199254740993"}',
    ]);
  });
});

describe('mongoUnionText on a schema as a registry may store it', () => {
  it('finds a record branch whose namespace was left out (inherited)', () => {
    const inferred = InferredSchema.create({ namespace: NS });
    inferred.observe({ _id: 1, v: 'a' });
    inferred.observe({ _id: 2, v: { x: 1 } });
    const schema = inferred.schema();
    const type = mongoAvroType(schema);
    const value = type.fromBuffer(type.toBuffer(inferred.toAvro({ _id: 2, v: { x: 1 } }))) as Record<
      string,
      unknown
    >;
    const stripped = JSON.parse(JSON.stringify(schema), (k, v) =>
      k === 'namespace' && v === NS ? undefined : v,
    );
    stripped.namespace = NS;
    const union = stripped.fields.find((f: { name: string }) => f.name === 'v').type as AvroSchema[];
    expect(mongoUnionText(stripped)(union, value.v)).toBe('{"x":{"$numberInt":"1"}}');
  });
});
