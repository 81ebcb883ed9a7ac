/**
 * The Kafka key of a MongoDB change: `_id`, of any BSON type, as canonical Extended JSON in a
 * record `Key { id: string }` (Debezium's MongoDB key has the same shape).
 *
 * Why not a typed key: the key schema must never change. Its bytes (schema id included)
 * choose the partition and identify the row for compaction, so a collection whose `_id`s vary
 * in type (ObjectId here, string there) must keep one key schema. Canonical Extended JSON is
 * exact and deterministic: the same `_id` gives the same key on every replay (a document's
 * `_id` never changes type; MongoDB treats `NumberInt(1)` and `NumberLong(1)` as the same `_id`
 * but they give different keys, which only matters if a document is deleted and re-inserted
 * with the other numeric type — the delete then tombstones the old key).
 */
import { CdcError } from '@cdc/core';
import type { Binary } from 'bson';
import { keySchema } from '../envelope.ts';
import type { AvroField, AvroRecordSchema } from '../schema-types.ts';
import { classifyTree } from './bson-value.ts';
import { fromExtendedJson, toExtendedJson } from './extended-json.ts';

export const MONGO_KEY_FIELD: AvroField = {
  name: 'id',
  type: 'string',
  doc: 'The document _id as canonical MongoDB Extended JSON.',
  'cdc.type': 'extendedJson',
  'cdc.originalName': '_id',
};

/** The key schema of a MongoDB topic: `<namespace of topic>.Key { id: string }`. */
export function mongoKeySchema(topic: string): AvroRecordSchema {
  return keySchema(topic, [MONGO_KEY_FIELD]);
}

/** The key value of a document (or of a change's `documentKey`). */
export function mongoKey(document: { _id?: unknown }): { id: string } {
  if (document._id === undefined) {
    throw new CdcError(
      'POISON_RECORD',
      'The document has no _id, so it has no key; the record is dead-lettered.',
      {
        context: { fieldPath: '_id' },
      },
    );
  }
  return { id: toExtendedJson(classifyTree(document._id, '_id')) };
}

/** The `_id` a key was made from. */
export function mongoKeyToId(key: { id: string }): unknown {
  return fromExtendedJson(key.id);
}

/**
 * The `_id` as the sink's `_id` column holds it: one text form per BSON type, from the key alone
 * (so it never depends on what else the collection held):
 *
 * | BSON type of `_id` | text |
 * |---|---|
 * | ObjectId | 24 lower-case hex digits |
 * | String | the string itself |
 * | Int32, Int64 | decimal digits (`42`, `-7`) |
 * | Double | shortest round-trip decimal (`1.5`, `1e21`, `-0`, `nan`, `inf`, `-inf`) |
 * | Decimal128 | its decimal text (`1.50`, `NaN`, `-Infinity`) |
 * | Date | ISO 8601 in UTC with milliseconds (`2024-01-02T03:04:05.678Z`) |
 * | Boolean | `true` / `false` |
 * | Binary subtype 4 (16 bytes) | the UUID (`xxxxxxxx-xxxx-…`, lower case) |
 * | anything else (document, other Binary, Timestamp, MinKey, …) | canonical Extended JSON |
 *
 * Values of different types can share a text (the string `"1"` and the number `1`): the
 * `_key_id` column (canonical Extended JSON, the table's key) tells them apart.
 */
export function mongoIdText(keyId: string): string {
  const id = fromExtendedJson(keyId);
  switch (typeof id) {
    case 'string':
      return id;
    case 'number':
      return doubleText(id);
    case 'bigint':
      return id.toString();
    case 'boolean':
      return String(id);
    default:
      break;
  }
  if (id instanceof Date) {
    const ms = id.getTime();
    return Number.isNaN(ms) ? keyId : id.toISOString();
  }
  const tag = (id as { _bsontype?: unknown } | null)?._bsontype;
  switch (tag) {
    case 'ObjectId':
      return (id as { toHexString(): string }).toHexString();
    case 'Int32':
    case 'Long':
    case 'Decimal128':
      return String(id);
    case 'Double':
      return doubleText((id as { value: number }).value);
    case 'Binary': {
      const bin = id as Binary;
      if (bin.sub_type === 4 && bin.value().length === 16) return bin.toUUID().toHexString(true);
      return keyId;
    }
    default:
      return keyId;
  }
}

/** A double as ClickHouse writes a Float64 as text (`1e21`, `-0`, `nan`, `inf`). */
export function doubleText(n: number): string {
  if (Number.isNaN(n)) return 'nan';
  if (!Number.isFinite(n)) return n > 0 ? 'inf' : '-inf';
  if (Object.is(n, -0)) return '-0';
  return String(n).replace('e+', 'e');
}
