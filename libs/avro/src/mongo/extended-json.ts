/**
 * Canonical Extended JSON (MongoDB's JSON with type wrappers: `{"$numberLong": "…"}`,
 * `{"$oid": "…"}`, `{"$minKey": 1}`, …): the exact, reversible text form used where a value has
 * no Avro type of its own (MinKey, MaxKey, regular expressions, JavaScript code, symbols,
 * DBRef/DBPointer) or where its field already holds values of a conflicting type.
 *
 * Limitation (of Extended JSON itself): a sub-document whose keys are Extended JSON type keywords
 * (`{"$oid": "…"}`, `{"$date": …}`, …) reads back as that type.
 */
import { Binary, BSON, Code, DBRef, Decimal128, Double, Int32, Long, ObjectId, Timestamp, UUID } from 'bson';
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

const BAD_UUID = '$cdcBinary4';

/**
 * Parses canonical Extended JSON. `bson` turns every subtype-4 binary into a `UUID` and throws
 * when it is not 16 bytes long, though MongoDB stores such values: they are set aside before
 * and put back as `Binary` subtype 4 after.
 */
export function fromExtendedJson(text: string): unknown {
  let aside = false;
  const json: unknown = JSON.parse(text, (_key, value: unknown) => {
    const bin = (value as { $binary?: { base64?: unknown; subType?: unknown } } | null)?.$binary;
    if (
      typeof bin === 'object' &&
      bin !== null &&
      typeof bin.base64 === 'string' &&
      Number.parseInt(String(bin.subType), 16) === 4
    ) {
      const bytes = Buffer.from(bin.base64, 'base64');
      if (bytes.length !== 16) {
        aside = true;
        return { [BAD_UUID]: bin.base64 };
      }
    }
    return value;
  });
  const parsed = BSON.EJSON.deserialize(json as BSON.Document, { relaxed: false });
  return aside ? restoreBinary4(parsed) : parsed;
}

function restoreBinary4(value: unknown): unknown {
  if (typeof value !== 'object' || value === null) return value;
  if (Array.isArray(value)) return value.map(restoreBinary4);
  const proto = Object.getPrototypeOf(value);
  if (proto !== Object.prototype && proto !== null) {
    // Code scopes and DBRef fields hold documents too.
    if (value instanceof Code && value.scope) value.scope = restoreBinary4(value.scope) as BSON.Document;
    if (value instanceof DBRef) value.fields = restoreBinary4(value.fields) as BSON.Document;
    return value;
  }
  const base64 = (value as Record<string, unknown>)[BAD_UUID];
  if (typeof base64 === 'string' && Object.keys(value).length === 1)
    return new Binary(Buffer.from(base64, 'base64'), 4);
  const out: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(value)) setField(out, k, restoreBinary4(v));
  return out;
}
