/**
 * A PostgreSQL relation → the Avro record of its rows and the fields of its key.
 *
 * - A column that may be NULL is `["null", T]` with `default: null`, so adding a nullable
 *   column (the common `ALTER TABLE … ADD COLUMN`) or dropping one is a compatible change in
 *   both directions. A NOT NULL column is `T`; it has a default when it was added with a
 *   constant one (`ADD COLUMN … NOT NULL DEFAULT 'new'`, from `PgColumn.missing`), so adding it
 *   is compatible; added without one (a volatile default such as `now()`), it is a breaking
 *   change for readers of the old data, which the registry's compatibility check reports.
 * - A nullable column added with a constant default keeps `default: null` (Avro: a union's
 *   default is its first branch) and carries the value in `cdc.default` (the Avro JSON encoding
 *   of `T`), so the sink gives the ClickHouse column that default and rows written before the
 *   column was added read it, as they do in PostgreSQL.
 * - Every field records its source type in `cdc.type` (see `type-mapping.ts` for the others),
 *   so the sink can map types back.
 * - Every field records the column's `attnum` in `cdc.attnum`: a `RENAME COLUMN` keeps it, so
 *   the capture recognises the renamed column (`aliases`, `cdc.renamedFrom`, see
 *   `@cdc/capture` `renames.ts`) instead of seeing a column dropped and another added.
 * - Avro names allow `[A-Za-z_][A-Za-z0-9_]*`: other characters become `_`, a leading digit
 *   gets a `_` prefix, and a clash (or `__proto__`) gets `_2`, `_3`…; the column's own name is
 *   then in `cdc.column`, which the sink uses for the ClickHouse column.
 * - The key is the columns flagged `isKey`, in column order; a relation without one gives
 *   no key fields (the capture decides what that means).
 */
import { parseSchema } from '../parse-schema.ts';
import type { AvroField, AvroRecordSchema, AvroSchema } from '../schema-types.ts';
import type { PgColumn, PgRelation } from './relation.ts';
import { mapPgType, type TypeMapping } from './type-mapping.ts';

export interface PgColumnMapping {
  column: PgColumn;
  /** The Avro field name (the column name, made a valid Avro name). */
  field: string;
  mapping: TypeMapping;
}

export interface PgRowSchema {
  relation: PgRelation;
  /** The row record, `before`/`after` of the envelope (`envelopeSchema` renames it). */
  row: AvroRecordSchema;
  /** The key record's fields, for `keySchema(topic, keyFields)`. */
  keyFields: AvroField[];
  /** One per column, in the relation's (pgoutput's) column order. */
  columns: PgColumnMapping[];
}

export function avroName(name: string): string {
  const s = name.replace(/[^A-Za-z0-9_]/g, '_');
  return /^[A-Za-z_]/.test(s) ? s : `_${s}`;
}

/**
 * The Avro JSON encoding of a column's missing value (its constant default), or undefined when
 * it has none or its text does not convert (then the field simply has no default).
 */
export function missingValueDefault(column: PgColumn, mapping: TypeMapping): unknown {
  if (column.missing === undefined) return undefined;
  try {
    return JSON.parse(parseSchema(mapping.schema).toString(mapping.fromText(column.missing)));
  } catch {
    return undefined;
  }
}

function fieldFor({ column, field, mapping }: PgColumnMapping): AvroField {
  const attributes = {
    ...mapping.attributes,
    ...(field === column.name ? {} : { 'cdc.column': column.name }),
    ...(column.attnum === undefined ? {} : { 'cdc.attnum': column.attnum }),
  };
  const def = missingValueDefault(column, mapping);
  if (column.notNull)
    return {
      name: field,
      type: mapping.schema,
      ...(def === undefined ? {} : { default: def }),
      ...attributes,
    };
  return {
    name: field,
    type: ['null', mapping.schema],
    default: null,
    ...attributes,
    ...(def === undefined ? {} : { 'cdc.default': def }),
  };
}

/**
 * Avro defines a named type once per schema; later uses must name it. Walks the fields in
 * order and replaces every repeated named type (e.g. `io.cdc.postgresql.Interval`) by its name.
 */
export function defineNamedTypesOnce(fields: AvroField[]): AvroField[] {
  const defined = new Set<string>();
  const walk = (schema: AvroSchema): AvroSchema => {
    if (Array.isArray(schema)) return schema.map(walk);
    if (typeof schema === 'string') return schema;
    if (schema.type === 'record' || schema.type === 'enum' || schema.type === 'fixed') {
      const fullName = schema.namespace ? `${schema.namespace}.${schema.name}` : schema.name;
      if (defined.has(fullName)) return fullName;
      defined.add(fullName);
      if (schema.type === 'record')
        return { ...schema, fields: schema.fields.map((f) => ({ ...f, type: walk(f.type) })) };
      return schema;
    }
    if (schema.type === 'array') return { ...schema, items: walk(schema.items) };
    if (schema.type === 'map') return { ...schema, values: walk(schema.values) };
    return schema;
  };
  return fields.map((f) => ({ ...f, type: walk(f.type) }));
}

export function derivePgRowSchema(relation: PgRelation): PgRowSchema {
  // `__proto__` is never a field name: JS objects cannot hold it as a plain property (the column gets `__proto___2`).
  const used = new Set<string>(['__proto__']);
  const columns = relation.columns.map((column): PgColumnMapping => {
    const base = avroName(column.name);
    let field = base;
    for (let n = 2; used.has(field); n++) field = `${base}_${n}`;
    used.add(field);
    return { column, field, mapping: mapPgType(column.type, column.typmod, column.dimensions ?? 1) };
  });
  const row: AvroRecordSchema = {
    type: 'record',
    name: avroName(relation.name),
    namespace: `io.cdc.postgresql.${avroName(relation.schema)}`,
    fields: defineNamedTypesOnce(columns.map(fieldFor)),
    'cdc.table': `${relation.schema}.${relation.name}`,
  };
  const keyFields = defineNamedTypesOnce(columns.filter((c) => c.column.isKey).map(fieldFor));
  return { relation, row, keyFields, columns };
}
