/**
 * The shape of a ClickHouse table for one (value schema, key schema) pair of a topic: its data
 * columns, the key it is ordered by, and where `_version` comes from.
 *
 * - A value schema with the change envelope's fields (`before`, `after`, `source`, `op`, and
 *   `changeId` or Debezium's `ts_ms`) is a CDC topic: columns from the row record; PostgreSQL
 *   (source namespace `io.cdc.postgresql` or `io.debezium.connector.postgresql`) is versioned
 *   by LSN, MongoDB by Kafka offset (see `version.ts`).
 * - Any other record (the processor's aggregates) is upserted by its key: columns from the
 *   record, versioned by offset; a tombstone (null value) deletes the key.
 * - The key: each field of the Avro key record is a column. When the row has a non-nullable
 *   column of that name and type (PostgreSQL primary keys) it is that column; otherwise it gets
 *   its own column `_key_<field>` (MongoDB: `_key_id`, the `_id` as canonical Extended JSON; the
 *   `_id` column holds it as text, one form per BSON type, see `mongoIdText`).
 *   A topic without an Avro key record uses `keyColumns` from the config, or none: then every
 *   change is kept (ordered by `_change_id`).
 */
import type { AvroField, AvroRecordSchema, AvroSchema } from '@cdc/avro';
import { CdcError } from '@cdc/core';
import { type ColumnMapping, type FieldColumn, mapField, mapSchema, namedTypes } from './column-type.ts';

/** Where a row's `_version` comes from: a PostgreSQL position, Debezium's, or the Kafka offset. */
export type VersionSource = 'postgres-lsn' | 'debezium-lsn' | 'kafka-offset';

export interface KeyColumn {
  readonly column: string;
  readonly type: string;
  /** The field of the Avro key record that holds it (undefined: from the row only). */
  readonly keyField?: string;
  /** The row column it is (when the key is part of the row). */
  readonly rowField?: string;
  readonly mapping: ColumnMapping;
}

export interface TableShape {
  readonly kind: 'postgres' | 'mongo' | 'upsert';
  readonly versioning: VersionSource;
  readonly wrappedUnions: boolean;
  /** Data columns in schema order (key columns that are row columns included). */
  readonly columns: readonly FieldColumn[];
  readonly keyColumns: readonly KeyColumn[];
  /**
   * MongoDB: the column holding `_id` in its one text form per BSON type (`mongoIdText`),
   * computed from the key (so it never depends on the other values the collection held).
   */
  readonly mongoIdColumn?: string;
}

/**
 * Per row, the exact text of each value its column could not hold (a date before 1900 or after
 * 2299, PostgreSQL's infinities, BC dates), by column name (`d`; nested: `arr[2]`, `rec.field`);
 * the column holds the nearest value it can (see `temporal-range.ts`). Empty for most rows.
 */
export const OUT_OF_RANGE_COLUMN = '_out_of_range';

/** The columns the sink adds to every table. */
export const META_COLUMNS: readonly { name: string; type: string; default?: string }[] = [
  { name: '_version', type: 'UInt128' },
  { name: '_is_deleted', type: 'UInt8' },
  { name: '_change_id', type: 'String' },
  { name: '_op', type: 'LowCardinality(String)' },
  { name: '_source_ts', type: "DateTime64(3, 'UTC')" },
  { name: '_ingested_at', type: "DateTime64(3, 'UTC')", default: 'now64(3)' },
  { name: OUT_OF_RANGE_COLUMN, type: 'Map(String, String)' },
];
const META_NAMES = new Set(META_COLUMNS.map((c) => c.name));

const ENVELOPE_FIELDS = ['before', 'after', 'source', 'op'];

/**
 * A change envelope: ours (`changeId`) or Debezium's (`ts_ms`, no `changeId`: genuine Debezium
 * topics, and captures with `envelope: debezium`).
 */
export function isEnvelope(schema: AvroRecordSchema): boolean {
  return envelopeFormat(schema) !== undefined;
}

export function envelopeFormat(schema: AvroRecordSchema): 'cdc' | 'debezium' | undefined {
  const names = new Set(schema.fields.map((f) => f.name));
  if (!ENVELOPE_FIELDS.every((n) => names.has(n))) return undefined;
  if (names.has('changeId')) return 'cdc';
  return names.has('ts_ms') ? 'debezium' : undefined;
}

function sourceConnector(schema: AvroRecordSchema): 'postgresql' | 'mongodb' {
  const source = schema.fields.find((f) => f.name === 'source')!.type as unknown as {
    namespace?: string;
    name?: string;
  };
  const name = `${source.namespace ?? ''}.${source.name ?? ''}`;
  if (name.includes('mongodb')) return 'mongodb';
  return 'postgresql';
}

/** The row record of an envelope (`before`'s non-null branch). */
function rowRecord(schema: AvroRecordSchema): AvroRecordSchema {
  const before = schema.fields.find((f) => f.name === 'before')!.type as AvroSchema[];
  const record = before.find((b) => typeof b === 'object' && !Array.isArray(b));
  if (!record) {
    throw new CdcError('SCHEMA_UNSUPPORTED_TYPE', 'the envelope has no row record in its before field', {
      context: { schema: schema.name },
    });
  }
  return record as AvroRecordSchema;
}

const strip = (type: string) => (type.startsWith('Nullable(') ? type.slice(9, -1) : type);

export interface ShapeInput {
  value: AvroRecordSchema;
  /** The key's record schema, when the key is Avro. */
  key?: AvroRecordSchema | undefined;
  /** From the config, for topics without an Avro key. */
  keyColumns?: readonly string[] | undefined;
}

export function deriveTableShape(input: ShapeInput): TableShape {
  const format = envelopeFormat(input.value);
  const envelope = format !== undefined;
  const connector = envelope ? sourceConnector(input.value) : undefined;
  if (format === 'debezium' && connector === 'mongodb') {
    throw new CdcError(
      'SCHEMA_UNSUPPORTED_TYPE',
      "Debezium's MongoDB envelope (documents as JSON text in after) is not read by the sink: add Debezium's ExtractNewDocumentState transform to the connector (its records are upserted by key), or capture the collection with capture-mongo",
      { context: { schema: input.value.name } },
    );
  }
  const wrapped = connector === 'mongodb';
  const named = namedTypes(input.value as unknown as AvroSchema, wrapped);
  const record = envelope ? rowRecord(input.value) : input.value;
  let columns = record.fields.map((f) => mapField(f, named));
  const mongoId = connector === 'mongodb' ? columns.find((c) => c.column === '_id') : undefined;
  if (mongoId) {
    // Written from the key (decode.ts); the value's own mapping would depend on the field's history.
    columns = columns.map((c) =>
      c === mongoId
        ? {
            ...c,
            mapping: { type: 'String', convert: (v: unknown) => (v == null ? '' : c.mapping.convert(v)) },
          }
        : c,
    );
  }
  for (const c of columns) {
    if (META_NAMES.has(c.column) || c.column.startsWith('_key_')) {
      throw new CdcError(
        'SCHEMA_INCOMPATIBLE',
        `column ${c.column} clashes with a column the sink adds (${[...META_NAMES].join(', ')}, _key_*); rename it at the source`,
        { context: { column: c.column } },
      );
    }
  }
  const keyColumns: KeyColumn[] = [];
  if (input.key) {
    const keyNamed = namedTypes(input.key as unknown as AvroSchema, false);
    for (const kf of input.key.fields as AvroField[]) {
      const keyMapping = mapSchema(kf.type as AvroSchema, keyNamed);
      const row = columns.find((c) => c.field === kf.name);
      if (row && row.mapping.type === keyMapping.type && !row.mapping.type.startsWith('Nullable(')) {
        keyColumns.push({
          column: row.column,
          type: row.mapping.type,
          keyField: kf.name,
          rowField: row.field,
          mapping: row.mapping,
        });
      } else {
        const type = strip(keyMapping.type);
        keyColumns.push({ column: `_key_${kf.name}`, type, keyField: kf.name, mapping: keyMapping });
      }
    }
  } else if (input.keyColumns?.length) {
    for (const name of input.keyColumns) {
      const row = columns.find((c) => c.column === name || c.field === name);
      if (!row || row.mapping.type.startsWith('Nullable(')) {
        throw new CdcError(
          'CONFIG_INVALID',
          `keyColumns names ${name}, which is not a non-nullable field of the topic's records`,
          { context: { column: name } },
        );
      }
      keyColumns.push({
        column: row.column,
        type: row.mapping.type,
        rowField: row.field,
        mapping: row.mapping,
      });
    }
  }
  return {
    kind: connector === 'postgresql' ? 'postgres' : connector === 'mongodb' ? 'mongo' : 'upsert',
    versioning:
      connector === 'postgresql' ? (format === 'debezium' ? 'debezium-lsn' : 'postgres-lsn') : 'kafka-offset',
    wrappedUnions: wrapped,
    columns,
    keyColumns,
    ...(mongoId ? { mongoIdColumn: mongoId.column } : {}),
  };
}

/** Every column of the table, in order: key-only columns, data columns, then the sink's own. */
export function tableColumns(shape: TableShape): { name: string; type: string; default?: string }[] {
  const extra = shape.keyColumns
    .filter((k) => k.rowField === undefined)
    .map((k) => ({ name: k.column, type: k.type }));
  return [
    ...extra,
    ...shape.columns.map((c) => ({
      name: c.column,
      type: c.mapping.type,
      ...(c.default ? { default: c.default } : {}),
    })),
    ...META_COLUMNS,
  ];
}

export function orderBy(shape: TableShape): string[] {
  return shape.keyColumns.length > 0 ? shape.keyColumns.map((k) => k.column) : ['_change_id'];
}
