import { isCdcError } from '@cdc/core';
import {
  Binary,
  BSONRegExp,
  Code,
  Decimal128,
  Double,
  Int32,
  Long,
  MaxKey,
  MinKey,
  ObjectId,
  Timestamp,
  UUID,
} from 'mongodb';
import { describe, expect, it } from 'vitest';
import type { AvroField, AvroRecordSchema } from '../schema-types.ts';
import { mongoAvroType } from './avro-type.ts';
import { avroToDocument } from './from-avro.ts';
import { InferredSchema } from './inferred-schema.ts';

const NS = 'cdc.shop.orders';

function infer(...docs: unknown[]): InferredSchema {
  const inferred = InferredSchema.create({ namespace: NS });
  for (const d of docs) inferred.observe(d);
  return inferred;
}

function field(schema: AvroRecordSchema, name: string): AvroField {
  const f = schema.fields.find((x) => x.name === name);
  if (!f) throw new Error(`no field ${name} in ${JSON.stringify(schema)}`);
  return f;
}

/** Encodes with the current schema, decodes, and rebuilds the document. */
function roundTrip(inferred: InferredSchema, doc: unknown): Record<string, unknown> {
  const type = mongoAvroType(inferred.schema());
  const decoded = type.fromBuffer(type.toBuffer(inferred.toAvro(doc)));
  return avroToDocument(inferred.schema(), decoded);
}

function expectReadableBy(older: AvroRecordSchema, newer: AvroRecordSchema, value: unknown): unknown {
  const writer = mongoAvroType(older);
  const reader = mongoAvroType(newer);
  return reader.fromBuffer(writer.toBuffer(value), reader.createResolver(writer));
}

describe('InferredSchema', () => {
  it('maps each BSON type to its documented Avro type', () => {
    const schema = infer({
      _id: new ObjectId('65a1b2c3d4e5f60718293a4b'),
      flag: true,
      name: 'x',
      i: new Int32(1),
      l: Long.fromString('9223372036854775807'),
      d: new Double(1.5),
      dec: Decimal128.fromString('1.10'),
      at: new Date(-86_400_000),
      ts: new Timestamp({ t: 1, i: 2 }),
      bin: new Binary(Buffer.from([1, 2]), 5),
      uuid: new UUID('0f5b4a4e-1c2d-4e3f-8a9b-0c1d2e3f4a5b'),
      min: new MinKey(),
    }).schema();
    expect(field(schema, '_id').type).toEqual(['null', { type: 'string', 'cdc.type': 'objectId' }]);
    expect(field(schema, 'flag').type).toEqual(['null', 'boolean']);
    expect(field(schema, 'name').type).toEqual(['null', 'string']);
    expect(field(schema, 'i').type).toEqual(['null', 'int']);
    expect(field(schema, 'l').type).toEqual(['null', 'long']);
    expect(field(schema, 'd').type).toEqual(['null', 'double']);
    expect(field(schema, 'dec').type).toEqual(['null', { type: 'string', 'cdc.type': 'decimal128' }]);
    expect(field(schema, 'at').type).toEqual([
      'null',
      { type: 'long', logicalType: 'timestamp-millis', 'cdc.type': 'date' },
    ]);
    expect(field(schema, 'ts').type).toEqual(['null', { type: 'long', 'cdc.type': 'timestamp' }]);
    expect(field(schema, 'bin').type).toEqual([
      'null',
      { type: 'bytes', 'cdc.type': 'binary', 'cdc.binarySubtype': 5 },
    ]);
    expect(field(schema, 'uuid').type).toEqual([
      'null',
      { type: 'string', logicalType: 'uuid', 'cdc.type': 'uuid' },
    ]);
    expect(field(schema, 'min').type).toEqual([
      'null',
      { type: 'map', values: 'string', 'cdc.type': 'extendedJson' },
    ]);
    for (const f of schema.fields) expect(f.default).toBeNull();
  });

  it('keeps the sign of -0, alone, in an array and beside a document', () => {
    for (const doc of [
      { _id: 0, x: -0 },
      { _id: 0, a: [-0] },
      { _id: 0, a: [-0, { b: 0 }] },
    ]) {
      const back = roundTrip(infer(doc), doc) as { x?: unknown; a?: unknown[] };
      const v = back.x ?? back.a?.[0];
      expect(Object.is(Number((v as { valueOf(): number }).valueOf()), -0), JSON.stringify(doc)).toBe(true);
    }
  });

  it('says a new version is needed only when a document adds something', () => {
    const inferred = InferredSchema.create({ namespace: NS });
    expect(inferred.observe({ a: 1 })).toMatchObject({ changed: true, version: 1 });
    expect(inferred.observe({ a: 2 })).toMatchObject({ changed: false, version: 1 });
    expect(inferred.observe({})).toMatchObject({ changed: false, version: 1 });
    expect(inferred.observe({ a: 3, b: 'new' })).toMatchObject({ changed: true, version: 2 });
    expect(inferred.observe({ b: 4 })).toMatchObject({ changed: true, version: 3 });
    expect(field(inferred.schema(), 'b').type).toEqual(['null', 'int', 'string']);
  });

  it('widens int32 to long and to double, keeps long and double apart, and never narrows', () => {
    expect(field(infer({ n: 1 }, { n: Long.fromNumber(2) }).schema(), 'n').type).toEqual(['null', 'long']);
    expect(field(infer({ n: 1 }, { n: 2.5 }).schema(), 'n').type).toEqual(['null', 'double']);
    // Avro's long → double promotion rounds beyond 2^53: both branches are kept instead.
    const both = infer({ n: Long.fromString('9007199254740993') }, { n: 0.5 }, { n: 7 });
    expect(field(both.schema(), 'n').type).toEqual(['null', 'long', 'double']);
    expect(both.toAvro({ n: 7 }).n).toEqual({ long: 7n });
    expect(both.toAvro({ n: Long.fromString('9007199254740993') }).n).toEqual({ long: 9007199254740993n });
    expect(both.toAvro({ n: new Double(3) }).n).toEqual({ double: 3 });
  });

  it('keeps each BSON type exact when two share an Avro type: the newcomer goes to Extended JSON', () => {
    const inferred = infer(
      { s: 'plain' },
      { s: new ObjectId('65a1b2c3d4e5f60718293a4b') },
      { d: new Date(0) },
      { d: Long.fromNumber(5) },
    );
    expect(field(inferred.schema(), 's').type).toMatchObject(['null', 'string', { type: 'map' }]);
    expect(inferred.toAvro({ s: new ObjectId('65a1b2c3d4e5f60718293a4b') }).s).toEqual({
      map: { json: '{"$oid":"65a1b2c3d4e5f60718293a4b"}' },
    });
    expect(roundTrip(inferred, { d: Long.fromNumber(5) })).toEqual({ d: Long.fromNumber(5) });
  });

  it('keeps documents and scalars apart: whichever came second is Extended JSON', () => {
    const inferred = infer({ a: { x: 1 } }, { a: 5 }, { b: 5 }, { b: { x: 1 } }, { c: [1] }, { c: { x: 1 } });
    const schema = inferred.schema();
    expect(field(schema, 'a').type).toMatchObject([
      'null',
      { type: 'record', name: 'Document_a' },
      { type: 'map' },
    ]);
    expect(field(schema, 'b').type).toMatchObject(['null', 'int', { type: 'map' }]);
    expect(field(schema, 'c').type).toMatchObject(['null', { type: 'array', items: 'int' }, { type: 'map' }]);
    expect(roundTrip(inferred, { a: 5, b: { x: 1 } })).toEqual({ a: new Int32(5), b: { x: new Int32(1) } });
  });

  it('merges sub-documents of different shapes into one record and arrays of mixed items into one union', () => {
    const inferred = infer(
      { addr: { city: 'Oslo' }, tags: ['a', 1], matrix: [[1, 2]] },
      { addr: { zip: 123, geo: { lat: 1.5 } }, tags: [null, true], matrix: [['a', null], []] },
    );
    const schema = inferred.schema();
    const addr = (field(schema, 'addr').type as unknown[])[1] as AvroRecordSchema;
    expect(addr.fields.map((f) => f.name)).toEqual(['city', 'zip', 'geo']);
    expect(field(addr, 'geo').type).toMatchObject([
      'null',
      { type: 'record', name: 'Document_addr_geo', namespace: NS },
    ]);
    expect(field(schema, 'tags').type).toEqual([
      'null',
      { type: 'array', items: ['null', 'boolean', 'int', 'string'] },
    ]);
    expect(field(schema, 'matrix').type).toEqual([
      'null',
      { type: 'array', items: { type: 'array', items: ['null', 'int', 'string'] } },
    ]);
  });

  it('maps field names that Avro does not allow reversibly and without collisions', () => {
    const doc = { 'a.b': 1, a_b: 2, $price: 3, '1st': 4, 'with space': 5, é: 6, '': 7, __cdc_nulls: 8 };
    const inferred = infer(doc);
    const names = inferred.schema().fields.map((f) => [f.name, f['cdc.originalName']]);
    expect(names).toEqual([
      ['a_b', 'a.b'],
      ['a_b_2', 'a_b'],
      ['_price', '$price'],
      ['_1st', '1st'],
      ['with_space', 'with space'],
      ['_', 'é'],
      ['__2', ''],
      ['__cdc_nulls_2', '__cdc_nulls'],
    ]);
    expect(roundTrip(inferred, doc)).toEqual(
      Object.fromEntries(Object.entries(doc).map(([k, v]) => [k, new Int32(v)])),
    );
  });

  it('tells an explicit null from a missing field', () => {
    const inferred = infer({ a: 1, b: null }, { a: 2 });
    expect(inferred.toAvro({ a: 1, b: null })).toEqual({
      a: { int: 1 },
      b: null,
      __cdc_nulls: { array: ['b'] },
    });
    expect(inferred.toAvro({ a: 2 })).toEqual({ a: { int: 2 }, b: null, __cdc_nulls: null });
    expect(roundTrip(inferred, { b: null })).toEqual({ b: null });
    expect(roundTrip(inferred, {})).toEqual({});
  });

  it('keeps each version readable by the next (BACKWARD)', () => {
    const inferred = InferredSchema.create({ namespace: NS });
    const docs = [
      { n: 1, s: 'a' },
      { n: Long.fromNumber(2) },
      { n: 0.5, o: { x: 1 } },
      { s: new Date(0), o: { y: [1] } },
    ];
    let previous: { schema: AvroRecordSchema; value: unknown } | undefined;
    for (const doc of docs) {
      inferred.observe(doc);
      const current = { schema: inferred.schema(), value: inferred.toAvro(doc) };
      if (previous)
        expect(() => expectReadableBy(previous!.schema, current.schema, previous!.value)).not.toThrow();
      previous = current;
    }
    expect(inferred.version).toBe(4);
  });

  it('survives JSON persistence and keeps widening from where it was', () => {
    const first = infer({ a: 1, nested: { 'x.y': 'z' } });
    const restored = InferredSchema.fromJSON(JSON.parse(JSON.stringify(first)));
    expect(restored.schema()).toEqual(first.schema());
    expect(restored.observe({ nested: { x_y: 1 } })).toMatchObject({ changed: true, version: 2 });
    expect(
      field((field(restored.schema(), 'nested').type as AvroRecordSchema[])[1]!, 'x_y_2')['cdc.originalName'],
    ).toBe('x_y');
    expect(() => InferredSchema.fromJSON({ format: 2 })).toThrow(/not format 1/);
  });

  it('keeps a sub-document used as a map as Extended JSON once its record would pass maxFieldsPerRecord', () => {
    const inferred = InferredSchema.create({ namespace: NS, maxFieldsPerRecord: 3 });
    inferred.observe({ scores: { ann: 1, bob: 2 } });
    inferred.observe({ scores: { cid: 3, dan: 4 } });
    expect(field(inferred.schema(), 'scores').type).toMatchObject([
      'null',
      { type: 'record' },
      { type: 'map' },
    ]);
    expect(roundTrip(inferred, { scores: { cid: 3, dan: 4 } })).toEqual({
      scores: { cid: new Int32(3), dan: new Int32(4) },
    });
    expect(() => inferred.observe({ a: 1, b: 2, c: 3 })).toThrow(
      /4 top-level fields, more than maxFieldsPerRecord \(3\)/,
    );
  });

  it('rejects what cannot be captured with a CdcError naming the field, and leaves the schema as it was', () => {
    const inferred = infer({ a: 1 });
    const cases: Array<[unknown, string, RegExp]> = [
      [
        { a: 1, fresh: 1, deep: { list: [1, () => 1] } },
        'SCHEMA_UNSUPPORTED_TYPE',
        /'deep\.list\[1\]' holds a function/,
      ],
      [{ fresh: new Map() }, 'SCHEMA_UNSUPPORTED_TYPE', /'fresh' holds an instance of Map/],
      [
        { fresh: 1, when: new Date(Number.NaN) },
        'POISON_RECORD',
        /'when' cannot be captured: the Date is invalid/,
      ],
      [
        { fresh: 1, text: 'bad \ud800' },
        'POISON_RECORD',
        /'text' cannot be captured: .*lone UTF-16 surrogate/,
      ],
      [{ fresh: 2n ** 64n }, 'POISON_RECORD', /does not fit in 64 bits/],
      ['not a document', 'POISON_RECORD', /must be an object/],
    ];
    for (const [doc, code, message] of cases) {
      let error: unknown;
      try {
        inferred.observe(doc);
      } catch (err) {
        error = err;
      }
      expect(isCdcError(error, code as 'POISON_RECORD')).toBe(true);
      expect((error as Error).message).toMatch(message);
    }
    expect(inferred.version).toBe(1);
    expect(inferred.schema().fields.map((f) => f.name)).toEqual(['a']);
    expect(() => inferred.toAvro({ b: 1 })).toThrow(/observe the document before converting it/);
  });

  it('round-trips the BSON types without an Avro type of their own through Extended JSON', () => {
    const doc = {
      re: new BSONRegExp('^a.*', 'i'),
      code: new Code('x = 1'),
      min: new MinKey(),
      max: new MaxKey(),
    };
    const back = roundTrip(infer(doc), doc);
    expect(back).toEqual(doc);
  });
});
