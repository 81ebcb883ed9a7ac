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
 * | Timestamp          | `long` `t × 2^32 + i` as a signed 64-bit (so ≥ 2^63 from 2038 on is negative; reverse with `BigInt.asUintN(64, v)`), `cdc.type: timestamp` |
 * | Binary             | `bytes`, `cdc.type: binary`, `cdc.binarySubtype`                  |
 * | Binary subtype 4 (16 bytes) | `string` `uuid` (`xxxxxxxx-xxxx-…`), `cdc.type: uuid`    |
 * | sub-document       | a record named `<Root>_<field path>` (unique: `_2`, … if taken)   |
 * | array              | `array` of the widened item type                                  |
 * | anything else / conflicts | `map<string>` holding one entry `json` (canonical Extended JSON), `cdc.type: extendedJson` |
 *
 * Why a map for Extended JSON and a long for Timestamp, not records: a union then never holds two
 * records. avsc 5.7.9 caches a failed record-to-record resolution and later reuses it as if it
 * had worked, so a reader union `[…, A, B]` reading a writer's `B` twice breaks (and the map
 * is a branch of its own, where a `string` would clash with a string field's branch).
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

/**
 * Union members are ordered int, long, double: Avro lets a reader take the *first* branch of its
 * union that can read the writer's value (avsc does), and int → long → double are promotions,
 * so a narrower branch must come first or a long would be read into the double branch (and
 * rounded beyond 2^53). The order depends only on the types, not on when each was seen.
 */
const UNION_ORDER: Record<BranchShape['type'], number> = {
  boolean: 0,
  int: 1,
  long: 2,
  double: 3,
  string: 4,
  bytes: 5,
  record: 6,
  array: 7,
  extendedJson: 8,
};

function inUnionOrder(branches: BranchShape[]): BranchShape[] {
  return [...branches].sort((a, b) => UNION_ORDER[a.type] - UNION_ORDER[b.type]);
}

export class SchemaEmitter {
  readonly #namespace: string;

  constructor(namespace: string) {
    this.#namespace = namespace;
  }

  record(record: RecordShape): AvroRecordSchema {
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
        : ['null', ...inUnionOrder(field.type.branches).map((b) => this.#branch(b))];
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
      ...inUnionOrder(shape.branches).map((b) => this.#branch(b)),
    ];
    if (members.length === 0) return 'null';
    return members.length === 1 ? (members[0] as AvroSchema) : members;
  }

  #branch(branch: BranchShape): AvroSchema {
    switch (branch.type) {
      case 'boolean':
      case 'int':
      case 'double':
        return branch.type;
      case 'long':
        if (branch.kind === 'long') return 'long';
        return branch.kind === 'date'
          ? { type: 'long', logicalType: 'timestamp-millis', 'cdc.type': 'date' }
          : { type: 'long', 'cdc.type': 'timestamp' };
      case 'string':
        if (branch.kind === 'string') return 'string';
        return branch.kind === 'uuid'
          ? { type: 'string', logicalType: 'uuid', 'cdc.type': 'uuid' }
          : { type: 'string', 'cdc.type': branch.kind };
      case 'bytes':
        return { type: 'bytes', 'cdc.type': 'binary', 'cdc.binarySubtype': branch.subtype };
      case 'extendedJson':
        return { type: 'map', values: 'string', 'cdc.type': 'extendedJson' };
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
    case 'extendedJson':
      return 'map';
    case 'record':
      return `${namespace}.${branch.record.name}`;
    default:
      return branch.type;
  }
}
