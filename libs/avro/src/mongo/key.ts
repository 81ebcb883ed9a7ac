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
