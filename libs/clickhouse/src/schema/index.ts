/**
 * `@cdc/clickhouse/schema`: the Avro-to-column mapping and table shapes alone, without the
 * transports. What a decode worker thread imports: loading the root entry would load the embedded
 * engine's native addon (chdb) into the thread, and ending the thread would then tear down the
 * engine the main thread still uses.
 */
export {
  type ColumnMapping,
  collectNamedTypes,
  type FieldColumn,
  MAX_COLUMN_NESTING,
  mapField,
  mapSchema,
  namedTypes,
  nullableOf,
  RawBytes,
} from './column-type.ts';
export {
  deriveTableShape,
  envelopeFormat,
  isEnvelope,
  type KeyColumn,
  META_COLUMNS,
  OUT_OF_RANGE_COLUMN,
  orderBy,
  type ShapeInput,
  type TableShape,
  tableColumns,
  type VersionSource,
} from './table-shape.ts';
export {
  date32Value,
  dateTime64Text,
  dateTime64Value,
  exactTimestampText,
  MAX_DAYS,
  MIN_DAYS,
  type OutOfRangeNote,
  type TimestampLogical,
} from './temporal-range.ts';
export { widens } from './widening.ts';
