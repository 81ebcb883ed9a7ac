/**
 * Avro schemas as JSON values (what the registry stores and `avsc` parses), typed enough that
 * derivation code cannot build a malformed one by accident.
 */
export type AvroPrimitive = 'null' | 'boolean' | 'int' | 'long' | 'float' | 'double' | 'bytes' | 'string';

/** Extra attributes the product writes on schemas and fields (e.g. `cdc.type`: the source type name). */
export type AvroAttributes = { [attribute: `cdc.${string}` | `connect.${string}`]: unknown };

export interface AvroField extends AvroAttributes {
  name: string;
  type: AvroSchema;
  default?: unknown;
  doc?: string;
}

export interface AvroRecordSchema extends AvroAttributes {
  type: 'record';
  name: string;
  namespace?: string;
  doc?: string;
  fields: AvroField[];
}

export interface AvroEnumSchema extends AvroAttributes {
  type: 'enum';
  name: string;
  namespace?: string;
  symbols: string[];
  default?: string;
  doc?: string;
}

export interface AvroArraySchema extends AvroAttributes {
  type: 'array';
  items: AvroSchema;
}

export interface AvroMapSchema extends AvroAttributes {
  type: 'map';
  values: AvroSchema;
}

export interface AvroFixedSchema extends AvroAttributes {
  type: 'fixed';
  name: string;
  namespace?: string;
  size: number;
  logicalType?: string;
}

/** A primitive with a logical type or attributes, e.g. `{ type: 'long', logicalType: 'timestamp-micros' }`. */
export interface AvroAnnotatedPrimitive extends AvroAttributes {
  type: AvroPrimitive;
  logicalType?: string;
  precision?: number;
  scale?: number;
}

export type AvroSchema =
  | AvroPrimitive
  | string // a named type defined earlier in the same schema
  | AvroSchema[] // a union
  | AvroRecordSchema
  | AvroEnumSchema
  | AvroArraySchema
  | AvroMapSchema
  | AvroFixedSchema
  | AvroAnnotatedPrimitive;

/** `["null", t]`: the nullable form, with null first so that `null` can be the default. */
export function nullable(schema: AvroSchema): AvroSchema[] {
  return ['null', schema];
}
