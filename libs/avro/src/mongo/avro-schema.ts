/**
 * The inference state → an Avro schema, self-describing through `cdc.*` attributes so that a
 * consumer holding only the registered schema can rebuild the MongoDB document
 * ({@link avroToDocument}):
 *
 * | BSON               | Avro                                                              |
 * | ------------------ | ----------------------------------------------------------------- |
 * | Boolean, String    | `boolean`, `string`                                               |
 * | Int32, Int64, Double | `int`, `long` (all 64 bits, as `bigint`), `double`              |
 * | ObjectId           | `string` (24 hex digits), `cdc.type: objectId`                    |
 * | Decimal128         | `string` (its exact decimal text, also NaN/±Infinity/-0), `cdc.type: decimal128` — Avro `decimal` needs one fixed scale, Decimal128 has an exponent per value |
 * | Date               | `long` `timestamp-millis`, `cdc.type: date` (before 1970 negative) |
 * | Timestamp          | record `BsonTimestamp { t: long, i: long }`, `cdc.type: timestamp` |
 * | Binary             | `bytes`, `cdc.type: binary`, `cdc.binarySubtype`                  |
 * | Binary subtype 4 (16 bytes) | `string` `uuid` (`xxxxxxxx-xxxx-…`), `cdc.type: uuid`    |
 * | sub-document       | a record named `<Root>_<field path>` (unique: `_2`, … if taken)   |
 * | array              | `array` of the widened item type                                  |
 * | anything else / conflicts | record `ExtendedJson { json: string }` (canonical Extended JSON), `cdc.type: extendedJson` |
 *
 * Every field is `["null", …]` with default `null`. A place seeing several types is a union,
 * one branch per type (see `shape.ts`). Unions are written *wrapped* (`{ "long": 5n }`, as in
 * Avro's JSON encoding): a `["null","long","double"]` value must say which branch it is in, or
 * an integral double would read back as a long.
 *
 * Null versus missing: both are `null` in their field. A record in which an explicit `null` was
 * ever seen gets a last field `__cdc_nulls: ["null", array<string>]` (`cdc.type: nullFields`):
 * the Avro names of the fields that held `null` in this document (`null` when none did). A
 * field that is `null` and not listed was missing from the document.
 */
import type { AvroField, AvroRecordSchema, AvroSchema } from '../schema-types.ts';
import type { BranchShape, FieldShape, RecordShape, TypeShape } from './shape.ts';

export const NULL_FIELDS_FIELD = '__cdc_nulls';
export const TIMESTAMP_RECORD = 'BsonTimestamp';
export const EXTENDED_JSON_RECORD = 'ExtendedJson';

/** The `cdc.type` values this module writes. */
export type MongoCdcType =
  | 'objectId'
  | 'decimal128'
  | 'uuid'
  | 'binary'
  | 'date'
  | 'timestamp'
  | 'extendedJson'
  | 'nullFields';

export class SchemaEmitter {
  readonly #namespace: string;
  readonly #defined = new Set<string>();

  constructor(namespace: string) {
    this.#namespace = namespace;
  }

  fullName(name: string): string {
    return `${this.#namespace}.${name}`;
  }

  record(record: RecordShape): AvroRecordSchema {
    this.#defined.add(record.name);
    const fields: AvroField[] = record.fields.map((f) => this.#field(f));
    if (record.nullFields) {
      fields.push({
        name: NULL_FIELDS_FIELD,
        type: ['null', { type: 'array', items: 'string' }],
        default: null,
        doc: 'The fields of this document that held an explicit null (a null field not listed was missing).',
        'cdc.type': 'nullFields',
      });
    }
    return { type: 'record', name: record.name, namespace: this.#namespace, fields };
  }

  #field(field: FieldShape): AvroField {
    const type: AvroSchema =
      field.type.branches.length === 0
        ? 'null'
        : ['null', ...field.type.branches.map((b) => this.#branch(b))];
    return {
      name: field.avroName,
      type,
      default: null,
      ...(field.avroName === field.name ? {} : { 'cdc.originalName': field.name }),
    };
  }

  items(shape: TypeShape): AvroSchema {
    const members: AvroSchema[] = [
      ...(shape.nullable ? ['null' as const] : []),
      ...shape.branches.map((b) => this.#branch(b)),
    ];
    if (members.length === 0) return 'null';
    return members.length === 1 ? (members[0] as AvroSchema) : members;
  }

  #named(name: string, define: () => AvroRecordSchema): AvroSchema {
    if (this.#defined.has(name)) return this.fullName(name);
    this.#defined.add(name);
    return define();
  }

  #branch(branch: BranchShape): AvroSchema {
    switch (branch.type) {
      case 'boolean':
      case 'int':
      case 'double':
        return branch.type;
      case 'long':
        return branch.kind === 'long'
          ? 'long'
          : { type: 'long', logicalType: 'timestamp-millis', 'cdc.type': 'date' };
      case 'string':
        if (branch.kind === 'string') return 'string';
        return branch.kind === 'uuid'
          ? { type: 'string', logicalType: 'uuid', 'cdc.type': 'uuid' }
          : { type: 'string', 'cdc.type': branch.kind };
      case 'bytes':
        return { type: 'bytes', 'cdc.type': 'binary', 'cdc.binarySubtype': branch.subtype };
      case 'timestamp':
        return this.#named(TIMESTAMP_RECORD, () => ({
          type: 'record',
          name: TIMESTAMP_RECORD,
          namespace: this.#namespace,
          doc: 'A BSON Timestamp: seconds since 1970 (t) and an ordinal within the second (i), both unsigned 32-bit.',
          'cdc.type': 'timestamp',
          fields: [
            { name: 't', type: 'long' },
            { name: 'i', type: 'long' },
          ],
        }));
      case 'extendedJson':
        return this.#named(EXTENDED_JSON_RECORD, () => ({
          type: 'record',
          name: EXTENDED_JSON_RECORD,
          namespace: this.#namespace,
          doc: 'A value kept as canonical MongoDB Extended JSON: a BSON type with no Avro counterpart, or a type that conflicts with what this field held before.',
          'cdc.type': 'extendedJson',
          fields: [{ name: 'json', type: 'string' }],
        }));
      case 'record':
        return this.record(branch.record);
      case 'array':
        return { type: 'array', items: this.items(branch.items) };
    }
  }
}

/** The key under which a wrapped union holds a value of this branch (avsc's branch name). */
export function branchKey(branch: BranchShape, namespace: string): string {
  switch (branch.type) {
    case 'timestamp':
      return `${namespace}.${TIMESTAMP_RECORD}`;
    case 'extendedJson':
      return `${namespace}.${EXTENDED_JSON_RECORD}`;
    case 'record':
      return `${namespace}.${branch.record.name}`;
    default:
      return branch.type;
  }
}
