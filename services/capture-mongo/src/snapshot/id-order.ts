/**
 * Reading a collection on after a given `_id`, in `_id` order, whatever the BSON types of its
 * `_id`s. A query's `$gt` only matches values of the same type class ("type bracketing"), while
 * a sort on `_id` orders values of different types by the server's comparison order (MinKey,
 * null, numbers, strings, objects, binary, ObjectId, booleans, dates, timestamps, regular
 * expressions, MaxKey). So "after x" is: `$gt x` within x's class, or any `_id` of a
 * class that sorts after it.
 */
import { BSON, type Document } from 'mongodb';

const { EJSON } = BSON;

/**
 * The `$type` aliases of each class, in the server's comparison order. The deprecated types
 * (symbol, DBPointer, code, code with scope) are left out: not every server knows their aliases, and
 * no `_id` of theirs is written by a current driver.
 */
const CLASSES: readonly (readonly string[])[] = [
  ['minKey'],
  ['null'],
  ['double', 'int', 'long', 'decimal'],
  ['string'],
  ['object'],
  ['binData'],
  ['objectId'],
  ['bool'],
  ['date'],
  ['timestamp'],
  ['regex'],
  ['maxKey'],
];

/** The comparison class of a decoded `_id` (an index into `CLASSES`). */
export function classOf(id: unknown): number {
  if (id === null || id === undefined) return 1;
  switch (typeof id) {
    case 'number':
    case 'bigint':
      return 2;
    case 'string':
      return 3;
    case 'boolean':
      return 7;
  }
  if (id instanceof Date) return 8;
  if (id instanceof RegExp) return 10;
  const tag = (id as { _bsontype?: string })._bsontype;
  switch (tag) {
    case 'MinKey':
      return 0;
    case 'Int32':
    case 'Double':
    case 'Long':
    case 'Decimal128':
      return 2;
    case 'BSONSymbol':
    case 'Symbol':
      return 3;
    case 'Binary':
      return 5;
    case 'ObjectId':
      return 6;
    case 'Timestamp':
      return 9;
    case 'BSONRegExp':
      return 10;
    case 'DBRef':
      return 4;
    case 'MaxKey':
      return 11;
  }
  return 4;
}

/** The filter matching every `_id` that sorts after `id`. */
export function idsAfter(id: unknown): Document {
  const later = CLASSES.slice(classOf(id) + 1).flat();
  const sameClass = { _id: { $gt: id } };
  return later.length === 0 ? sameClass : { $or: [sameClass, { _id: { $type: later } }] };
}

/** An `_id` as text that `parseId` turns back into the same BSON value (type included). */
export const idText = (id: unknown): string => EJSON.stringify({ _id: id }, { relaxed: false });

export const parseId = (text: string): unknown =>
  (EJSON.parse(text, { relaxed: false }) as { _id: unknown })._id;
