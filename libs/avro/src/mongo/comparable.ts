/**
 * The form in which a captured document and the document rebuilt from its Avro value
 * ({@link avroToDocument}) are deeply equal: what "equivalent" means for the round trip.
 *
 * It forgets exactly the documented representation choices and nothing else:
 * - which BSON numeric type held a number (Int32 `5`, Int64 `5`, Double `5.0` and the JS number
 *   `5` are all `{ $number: "5" }`): numbers are compared by exact value, `-0`, `NaN` and
 *   `±Infinity` included, Int64 with all 64 bits;
 * - the order of a document's fields;
 * - JS `RegExp` vs `BSONRegExp`, and `Uint8Array` vs `Binary` subtype 0 (same BSON).
 * Every other type is kept apart (an ObjectId is not its hex string, a Date not its millis).
 */
import { BSON } from 'bson';
import { bsonRegExpOf } from './bson-value.ts';

function number(n: number): { $number: string } {
  if (Object.is(n, -0)) return { $number: '-0' };
  return { $number: Number.isInteger(n) ? BigInt(n).toString() : String(n) };
}

export function comparableDocument(value: unknown): unknown {
  if (value === null || value === undefined) return null;
  if (typeof value === 'number') return number(value);
  if (typeof value === 'bigint') return { $number: value.toString() };
  if (typeof value !== 'object') return value;
  if (Array.isArray(value)) return value.map(comparableDocument);
  if (value instanceof Uint8Array)
    return { $binary: { subType: 0, hex: Buffer.from(value).toString('hex') } };
  const tag = (value as { _bsontype?: string })._bsontype;
  switch (tag) {
    case 'Int32':
    case 'Double':
      return number((value as { value: number }).value);
    case 'Long':
      return { $number: String(value) };
    case 'Binary': {
      const bin = value as { sub_type: number; value(): Uint8Array };
      return { $binary: { subType: bin.sub_type, hex: Buffer.from(bin.value()).toString('hex') } };
    }
    case undefined:
      break;
    default:
      return BSON.EJSON.serialize(value, { relaxed: false });
  }
  if (value instanceof RegExp) return BSON.EJSON.serialize(bsonRegExpOf(value), { relaxed: false });
  if (value instanceof Date) return BSON.EJSON.serialize(value, { relaxed: false });
  return Object.fromEntries(
    Object.entries(value)
      .filter(([, v]) => v !== undefined)
      .map(([k, v]) => [k, comparableDocument(v)]),
  );
}
