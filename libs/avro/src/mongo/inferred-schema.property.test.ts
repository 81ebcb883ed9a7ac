/**
 * Property tests: random collections of documents (every BSON type, boundary values, deep
 * nesting, shapes that vary and conflict from one document to the next) → infer → convert →
 * avsc binary → decode → rebuild, equal to the original up to the documented representation
 * choices (`comparable`); and every schema version reads the data written with the previous one.
 */

import type { Type as AvroType } from 'avsc';
import fc from 'fast-check';
import {
  Binary,
  BSON,
  BSONRegExp,
  BSONSymbol,
  Code,
  DBRef,
  Decimal128,
  Double,
  Int32,
  Long,
  MaxKey,
  MinKey,
  ObjectId,
  Timestamp,
} from 'mongodb';
import { describe, expect, it } from 'vitest';
import type { AvroRecordSchema } from '../schema-types.ts';
import { mongoAvroType } from './avro-type.ts';
import { comparableDocument as comparable } from './comparable.ts';
import { setField } from './extended-json.ts';
import { avroToDocument } from './from-avro.ts';
import { InferredSchema } from './inferred-schema.ts';
import { mongoKey, mongoKeySchema, mongoKeyToId } from './key.ts';

/** Keys that Extended JSON reads as type wrappers (the documented limitation of the fallback). */
const EJSON_KEYWORDS = new Set([
  '$oid',
  '$date',
  '$numberInt',
  '$numberLong',
  '$numberDouble',
  '$numberDecimal',
  '$binary',
  '$uuid',
  '$code',
  '$scope',
  '$symbol',
  '$regularExpression',
  '$regex',
  '$options',
  '$timestamp',
  '$minKey',
  '$maxKey',
  '$ref',
  '$id',
  '$db',
  '$dbPointer',
  '$undefined',
]);

// A small pool makes the same field recur with different types across documents.
const fieldName = fc
  .oneof(
    { weight: 6, arbitrary: fc.constantFrom('a', 'b', 'c', 'n', 'x') },
    {
      weight: 1,
      arbitrary: fc.constantFrom(
        'a.b',
        'a_b',
        '$price',
        '1st',
        'with space',
        'é',
        '日本',
        '',
        '__proto__',
        '__cdc_nulls',
        'Document_a',
      ),
    },
    { weight: 1, arbitrary: fc.string({ unit: 'grapheme', maxLength: 6 }) },
  )
  .filter((k) => !k.includes('\0') && !EJSON_KEYWORDS.has(k));

const INT64_MIN = -(2n ** 63n);
const INT64_MAX = 2n ** 63n - 1n;
const MAX_DATE_MS = 8.64e15;

const int32 = fc
  .oneof(fc.integer({ min: -(2 ** 31), max: 2 ** 31 - 1 }), fc.constantFrom(-(2 ** 31), 2 ** 31 - 1, 0))
  .map((n) => new Int32(n));
const int64 = fc
  .oneof(
    fc.bigInt({ min: INT64_MIN, max: INT64_MAX }),
    fc.constantFrom(INT64_MIN, INT64_MAX, 2n ** 53n + 1n, -(2n ** 53n) - 1n),
  )
  .map((n) => Long.fromBigInt(n));
const double = fc.double().map((n) => new Double(n));
const plainNumber = fc.oneof(fc.integer(), fc.double({ noNaN: true }), fc.maxSafeInteger());
const string = fc.oneof(
  { weight: 8, arbitrary: fc.string({ unit: 'grapheme', maxLength: 20 }) },
  { weight: 1, arbitrary: fc.constantFrom('', 'é'.repeat(200_000)) },
);
const decimal = fc
  .oneof(
    fc.constantFrom(
      'NaN',
      'Infinity',
      '-Infinity',
      '-0',
      '0E-6176',
      '1E-6176',
      '9.999999999999999999999999999999999E+6144',
      '1.10',
    ),
    fc
      .tuple(
        fc.bigInt({ min: -(10n ** 34n) + 1n, max: 10n ** 34n - 1n }),
        fc.integer({ min: -6176, max: 6111 }),
      )
      .map(([c, e]) => `${c}E${e}`),
  )
  .map((s) => Decimal128.fromString(s));
const date = fc
  .oneof(
    fc.integer({ min: -MAX_DATE_MS, max: MAX_DATE_MS }),
    fc.constantFrom(-MAX_DATE_MS, MAX_DATE_MS, -1, 0, 2 ** 31 * 1000 + 1, -(2 ** 31) * 1000 - 1),
  )
  .map((ms) => new Date(ms));
const timestamp = fc
  .tuple(fc.integer({ min: 0, max: 2 ** 32 - 1 }), fc.integer({ min: 0, max: 2 ** 32 - 1 }))
  .map(([t, i]) => new Timestamp({ t, i }));
const binary = fc.oneof(
  fc
    .tuple(fc.uint8Array({ maxLength: 40 }), fc.constantFrom(0, 3, 4, 5, 128))
    .map(([b, s]) => new Binary(b, s)),
  fc.uint8Array({ minLength: 16, maxLength: 16 }).map((b) => new Binary(b, 4)), // a UUID
);
const objectId = fc.uint8Array({ minLength: 12, maxLength: 12 }).map((b) => new ObjectId(b));
const cstring = fc.string({ maxLength: 10 }).filter((s) => !s.includes('\0'));
const exotic = fc.oneof(
  fc.constant(new MinKey()),
  fc.constant(new MaxKey()),
  fc.tuple(cstring, fc.subarray(['i', 'm', 's', 'u', 'x'])).map(([p, o]) => new BSONRegExp(p, o.join(''))),
  fc.string({ maxLength: 10 }).map((c) => new Code(c)),
  fc.string({ maxLength: 10 }).map((s) => new BSONSymbol(s)),
  objectId.map((id) => new DBRef('other', id)),
);
const scalar = fc.oneof(
  fc.constant(null),
  fc.boolean(),
  int32,
  int64,
  double,
  plainNumber,
  string,
  objectId,
  decimal,
  date,
  timestamp,
  binary,
  exotic,
);

function documentOf(entries: Array<[string, unknown]>): Record<string, unknown> {
  const doc: Record<string, unknown> = {};
  for (const [k, v] of entries) setField(doc, k, v);
  return doc;
}

const { value, doc } = fc.letrec<{ value: unknown; doc: Record<string, unknown>; array: unknown[] }>(
  (tie) => ({
    value: fc.oneof({ depthSize: 'small' }, scalar, tie('doc'), tie('array')),
    doc: fc
      .uniqueArray(fc.tuple(fieldName, tie('value')), { maxLength: 5, selector: ([k]) => k })
      .map(documentOf),
    array: fc.array(tie('value'), { maxLength: 4 }),
  }),
);

/** An array of documents nested `depth` levels deep: `{ a: [{ a: [ … ] }] }`. */
const deep = fc.tuple(fc.integer({ min: 1, max: 45 }), scalar).map(([depth, leaf]) => {
  let v: unknown = leaf;
  for (let i = 0; i < depth; i++) v = { a: [v, { b: i }] };
  return v as Record<string, unknown>;
});

const collection = fc.array(
  fc.oneof({ weight: 5, arbitrary: doc }, { weight: 1, arbitrary: deep }).map((d) => ({ _id: 0, ...d })),
  { minLength: 1, maxLength: 8 },
);

/** As the driver hands a document over with `promoteValues: false, bsonRegExp: true` (BSON types kept apart). */
function viaBson(d: Record<string, unknown>): Record<string, unknown> {
  return BSON.deserialize(BSON.serialize(d), { promoteValues: false, bsonRegExp: true });
}

const NS = 'cdc.test.things';

describe('inferred MongoDB schemas (property)', () => {
  it('round-trip every document through Avro binary to an equivalent document', () => {
    fc.assert(
      fc.property(collection, fc.boolean(), (docs, throughBson) => {
        const input = throughBson ? docs.map(viaBson) : docs;
        const inferred = InferredSchema.create({ namespace: NS });
        for (const d of input) inferred.observe(d);
        const schema = inferred.schema();
        const type = mongoAvroType(schema);
        for (const d of input) {
          const decoded = type.fromBuffer(type.toBuffer(inferred.toAvro(d)));
          expect(comparable(avroToDocument(schema, decoded))).toEqual(comparable(d));
        }
      }),
      { numRuns: 300 },
    );
  }, 120_000);

  it('produce versions that each read the data of the previous one (BACKWARD) as the same documents', () => {
    fc.assert(
      fc.property(collection, (docs) => {
        const inferred = InferredSchema.create({ namespace: NS });
        type Version = {
          schema: AvroRecordSchema;
          type: AvroType;
          written: Array<{ doc: unknown; bytes: Buffer }>;
        };
        const versions: Version[] = [];
        for (const d of docs) {
          const { changed, schema } = inferred.observe(d);
          if (changed) {
            const next: Version = { schema, type: mongoAvroType(schema), written: [] };
            const older = versions.at(-1);
            if (older) {
              const resolver = next.type.createResolver(older.type);
              for (const w of older.written) {
                const read = next.type.fromBuffer(w.bytes, resolver);
                expect(comparable(avroToDocument(schema, read))).toEqual(comparable(w.doc));
              }
            }
            versions.push(next);
          }
          const current = versions.at(-1) as Version;
          current.written.push({ doc: d, bytes: current.type.toBuffer(inferred.toAvro(d)) });
        }
        // And the latest version reads everything ever written (BACKWARD_TRANSITIVE).
        const latest = versions.at(-1) as Version;
        for (const v of versions.slice(0, -1)) {
          const resolver = latest.type.createResolver(v.type);
          for (const w of v.written) {
            const read = latest.type.fromBuffer(w.bytes, resolver);
            expect(comparable(avroToDocument(latest.schema, read))).toEqual(comparable(w.doc));
          }
        }
      }),
      { numRuns: 300 },
    );
  }, 120_000);

  it('survive persistence: a restored state infers and converts as the original would', () => {
    fc.assert(
      fc.property(collection, collection, (first, second) => {
        const a = InferredSchema.create({ namespace: NS });
        for (const d of first) a.observe(d);
        const b = InferredSchema.fromJSON(JSON.parse(JSON.stringify(a)));
        for (const d of second) expect(b.observe(d)).toEqual(a.observe(d));
        for (const d of [...first, ...second]) expect(b.toAvro(d)).toEqual(a.toAvro(d));
      }),
      { numRuns: 100 },
    );
  }, 120_000);

  it('key any _id to a fixed key schema and back', () => {
    const keyType = mongoAvroType(mongoKeySchema('cdc.test.things'));
    fc.assert(
      fc.property(value, (id) => {
        const key = keyType.fromBuffer(keyType.toBuffer(mongoKey({ _id: id }))) as { id: string };
        expect(comparable(mongoKeyToId(key))).toEqual(comparable(id));
        expect(mongoKey({ _id: id })).toEqual(key); // deterministic
      }),
      { numRuns: 300 },
    );
  });
});
