/**
 * What a value in a MongoDB document is, as the driver hands it over. The driver gives plain
 * JS values for some BSON types (number, string, boolean, Date, RegExp, bigint with
 * `useBigInt64`) and `bson` classes for the rest (`Int32`, `Double`, `Long` with
 * `promoteValues: false`, `ObjectId`, `Decimal128`, `Binary`, `Timestamp`, …). Read change
 * streams with `promoteValues: false` (or at least `promoteLongs: false` / `useBigInt64: true`)
 * to keep Int32, Int64 and Double apart; with the defaults a double `1.0` arrives as the JS
 * number `1` and is inferred as an int.
 */
import { CdcError } from '@cdc/core';
import { type Binary, BSONRegExp, type Timestamp } from 'bson';

/** The kinds that inference tells apart. `extendedJson` covers the BSON types kept as Extended JSON. */
export type BsonKind =
  | 'null'
  | 'boolean'
  | 'int'
  | 'long'
  | 'double'
  | 'string'
  | 'objectId'
  | 'decimal128'
  | 'uuid'
  | 'binary'
  | 'date'
  | 'timestamp'
  | 'document'
  | 'array'
  | 'extendedJson';

export type ClassifiedValue =
  | { kind: 'null' }
  | { kind: 'boolean'; value: boolean }
  | { kind: 'int' | 'double'; value: number }
  | { kind: 'long'; value: bigint }
  | { kind: 'string' | 'objectId' | 'decimal128' | 'uuid'; value: string }
  | { kind: 'binary'; subtype: number; value: Uint8Array }
  | { kind: 'date'; value: bigint }
  | { kind: 'timestamp'; t: number; i: number }
  | { kind: 'document'; value: Record<string, unknown> }
  | { kind: 'array'; value: unknown[] }
  | { kind: 'extendedJson'; value: unknown; bsonType: string };

/** BSON types with no Avro counterpart of their own: kept exactly, as canonical Extended JSON. */
const EXTENDED_JSON_TYPES = new Set([
  'MinKey',
  'MaxKey',
  'BSONRegExp',
  'Code',
  'BSONSymbol',
  'DBRef',
  'DBPointer',
]);

/**
 * A JS RegExp as the BSON serializer writes it: only `i`, `m` and `g` carry over, `g` as BSON's
 * `s` (the deserializer maps `s` back to `g`). Read with `bsonRegExp: true` to get the exact
 * BSON options (`x`, `u`, `l` included) as a `BSONRegExp` instead.
 */
export function bsonRegExpOf(re: RegExp): BSONRegExp {
  return new BSONRegExp(
    re.source,
    `${re.ignoreCase ? 'i' : ''}${re.multiline ? 'm' : ''}${re.global ? 's' : ''}`,
  );
}

const INT32_MIN = -(2 ** 31);
const INT32_MAX = 2 ** 31 - 1;

/** `a.b[2].c`: how error messages and contexts name a place in a document. */
export function childPath(parent: string, key: string | number): string {
  if (typeof key === 'number') return `${parent}[${key}]`;
  return parent === '' ? key : `${parent}.${key}`;
}

function unsupported(path: string, what: string, reason: string): CdcError {
  return new CdcError(
    'SCHEMA_UNSUPPORTED_TYPE',
    `Field '${path}' holds ${what}, which is not a BSON value (${reason}); ` +
      'read documents with the MongoDB driver, or dead-letter this document.',
    { context: { fieldPath: path, valueType: what } },
  );
}

function poison(path: string, reason: string): CdcError {
  return new CdcError(
    'POISON_RECORD',
    `Field '${path}' cannot be captured: ${reason}; the document is dead-lettered.`,
    {
      context: { fieldPath: path, reason },
    },
  );
}

/**
 * A plain JS number as the BSON type the driver decoded it from: int32-range integers are ints;
 * -0 is a double (no integer type holds its sign).
 */
function classifyNumber(n: number): ClassifiedValue {
  if (Object.is(n, -0)) return { kind: 'double', value: n };
  if (Number.isInteger(n) && n >= INT32_MIN && n <= INT32_MAX) return { kind: 'int', value: n };
  if (Number.isSafeInteger(n)) return { kind: 'long', value: BigInt(n) };
  return { kind: 'double', value: n };
}

function checkString(s: string, path: string): string {
  if (!s.isWellFormed())
    throw poison(path, 'the string holds a lone UTF-16 surrogate, which is not valid UTF-8');
  return s;
}

/**
 * Classifies one value. Throws `SCHEMA_UNSUPPORTED_TYPE` for JS values that are not BSON
 * (functions, symbols, Maps, unknown classes) and `POISON_RECORD` for BSON-shaped values that
 * cannot be represented (an invalid Date, a malformed string), both naming the field path.
 * `undefined` is never passed here: in a document it means "missing", in an array `null`
 * (what the BSON serializer writes).
 */
export function classify(value: unknown, path: string): ClassifiedValue {
  if (value === null || value === undefined) return { kind: 'null' };
  switch (typeof value) {
    case 'boolean':
      return { kind: 'boolean', value };
    case 'number':
      return classifyNumber(value);
    case 'bigint':
      if (value < -(2n ** 63n) || value >= 2n ** 63n)
        throw poison(path, `the integer ${value} does not fit in 64 bits`);
      return { kind: 'long', value };
    case 'string':
      return { kind: 'string', value: checkString(value, path) };
    case 'object':
      break;
    default:
      throw unsupported(path, `a ${typeof value}`, 'MongoDB documents hold no such values');
  }
  if (Array.isArray(value)) return { kind: 'array', value };
  if (value instanceof Date) {
    const ms = value.getTime();
    if (Number.isNaN(ms)) throw poison(path, 'the Date is invalid (outside what a JS Date can hold)');
    return { kind: 'date', value: BigInt(ms) };
  }
  if (value instanceof RegExp)
    return { kind: 'extendedJson', value: bsonRegExpOf(value), bsonType: 'BSONRegExp' };
  if (value instanceof Uint8Array) return { kind: 'binary', subtype: 0, value };
  const tag = (value as { _bsontype?: unknown })._bsontype;
  if (typeof tag === 'string') return classifyBson(tag, value, path);
  const proto = Object.getPrototypeOf(value);
  if (proto === Object.prototype || proto === null)
    return { kind: 'document', value: value as Record<string, unknown> };
  const name = (value as { constructor?: { name?: string } }).constructor?.name ?? 'an object';
  throw unsupported(
    path,
    `an instance of ${name}`,
    'only plain objects, arrays and bson classes are documents',
  );
}

function classifyBson(tag: string, value: object, path: string): ClassifiedValue {
  switch (tag) {
    case 'Int32':
      return { kind: 'int', value: (value as { value: number }).value };
    case 'Double':
      return { kind: 'double', value: (value as { value: number }).value };
    case 'Long':
      return { kind: 'long', value: (value as { toBigInt(): bigint }).toBigInt() };
    case 'ObjectId':
      return { kind: 'objectId', value: (value as { toHexString(): string }).toHexString() };
    case 'Decimal128':
      return { kind: 'decimal128', value: String(value) };
    case 'Timestamp': {
      const ts = value as Timestamp;
      return { kind: 'timestamp', t: ts.t, i: ts.i };
    }
    case 'Binary': {
      const bin = value as Binary;
      const bytes = bin.value(); // a view of the used part of the buffer
      if (bin.sub_type === 4 && bytes.length === 16)
        return { kind: 'uuid', value: bin.toUUID().toHexString(true) };
      return { kind: 'binary', subtype: bin.sub_type, value: bytes };
    }
    default:
      if (EXTENDED_JSON_TYPES.has(tag)) return { kind: 'extendedJson', value, bsonType: tag };
      throw unsupported(path, `a bson ${tag}`, 'this bson type is unknown to the capture');
  }
}

/** A document classified all the way down: what inference and conversion walk. */
export type ClassifiedTree =
  | Exclude<ClassifiedValue, { kind: 'document' } | { kind: 'array' }>
  | { kind: 'document'; fields: Array<[name: string, value: ClassifiedTree]> }
  | { kind: 'array'; items: ClassifiedTree[] };

/** BSON allows 100 levels of nesting; anything deeper is not a document the driver produced (or is cyclic). */
export const MAX_DEPTH = 200;

/**
 * Classifies a whole value, or throws the `CdcError` of the first value that cannot be captured,
 * before anything is inferred from it (so a bad document never changes the schema).
 * In a document an `undefined` value is a missing field; in an array it is `null`.
 */
export function classifyTree(value: unknown, path: string, depth = 0): ClassifiedTree {
  if (depth > MAX_DEPTH) throw poison(path, `the value is nested deeper than ${MAX_DEPTH} levels (cyclic?)`);
  const c = classify(value, path);
  if (c.kind === 'document') {
    const fields: Array<[string, ClassifiedTree]> = [];
    for (const [name, v] of Object.entries(c.value)) {
      if (v === undefined) continue;
      const p = childPath(path, name);
      checkString(name, p);
      fields.push([name, classifyTree(v, p, depth + 1)]);
    }
    return { kind: 'document', fields };
  }
  if (c.kind === 'array')
    return { kind: 'array', items: c.value.map((v, i) => classifyTree(v, childPath(path, i), depth + 1)) };
  return c;
}
