/**
 * Canonical Extended JSON (MongoDB's JSON with type wrappers: `{"$numberLong": "…"}`,
 * `{"$oid": "…"}`, `{"$minKey": 1}`, …): the exact, reversible text form used where a value has
 * no Avro type of its own (MinKey, MaxKey, regular expressions, JavaScript code, symbols,
 * DBRef/DBPointer) or where its field already holds values of a conflicting type.
 *
 * Limitation (of Extended JSON itself): a sub-document whose keys are Extended JSON type keywords
 * (`{"$oid": "…"}`, `{"$date": …}`, …) reads back as that type.
 */
import { Binary, BSON, Decimal128, Double, Int32, Long, ObjectId, Timestamp, UUID } from 'mongodb';
import type { ClassifiedTree } from './bson-value.ts';

/** `doc[name] = value`, also for a field named `__proto__` (which an assignment would not create). */
export function setField(doc: Record<string, unknown>, name: string, value: unknown): void {
  if (name === '__proto__')
    Object.defineProperty(doc, name, { value, enumerable: true, writable: true, configurable: true });
  else doc[name] = value;
}

/** The classified value as `bson` classes, with the numeric type inference decided on. */
export function toBsonValue(tree: ClassifiedTree): unknown {
  switch (tree.kind) {
    case 'null':
      return null;
    case 'boolean':
    case 'string':
      return tree.value;
    case 'int':
      return new Int32(tree.value);
    case 'double':
      return new Double(tree.value);
    case 'long':
      return Long.fromBigInt(tree.value);
    case 'objectId':
      return ObjectId.createFromHexString(tree.value);
    case 'decimal128':
      return Decimal128.fromString(tree.value);
    case 'uuid':
      return new UUID(tree.value);
    case 'binary':
      return new Binary(tree.value, tree.subtype);
    case 'date':
      return new Date(Number(tree.value));
    case 'timestamp':
      return new Timestamp({ t: tree.t, i: tree.i });
    case 'extendedJson':
      return tree.value;
    case 'array':
      return tree.items.map(toBsonValue);
    case 'document': {
      const doc: Record<string, unknown> = {};
      for (const [name, value] of tree.fields) setField(doc, name, toBsonValue(value));
      return doc;
    }
  }
}

export function toExtendedJson(tree: ClassifiedTree): string {
  return BSON.EJSON.stringify(toBsonValue(tree), { relaxed: false });
}

export function fromExtendedJson(text: string): unknown {
  return BSON.EJSON.parse(text, { relaxed: false });
}
