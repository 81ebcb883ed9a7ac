/**
 * @cdc/clickhouse: ClickHouse for the CDC services, shaped after clickhouse-js: one connection
 * interface (`ClickHouseTransport`) with two transports, the embedded engine (chdb) and a server
 * over HTTP; how an Avro schema maps to ClickHouse columns and to a replica table's shape; and the
 * read-only reader `cdc query`, `verify` and the demo use.
 *
 *   const transport = new HttpTransport({ url: 'http://127.0.0.1:8123', username: 'default' });
 *   const shape = deriveTableShape({ value: envelopeSchema, key: keySchema });
 *   const reader = await openReader(pipeline.clickhouse);
 *   await reader.query<{ n: string }>('SELECT toString(count()) AS n FROM orders_current');
 */
export { type ClickHouseReader, LOSSLESS_JSON, openReader, splitSettings } from './reader.ts';
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
} from './schema/column-type.ts';
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
} from './schema/table-shape.ts';
export {
  date32Value,
  dateTime64Text,
  dateTime64Value,
  exactTimestampText,
  MAX_DAYS,
  MIN_DAYS,
  type OutOfRangeNote,
  type TimestampLogical,
} from './schema/temporal-range.ts';
export { widens } from './schema/widening.ts';
export { EmbeddedTransport, usableDataDirectory } from './transport/embedded-transport.ts';
export { clickhouseCode, isDataError, toSinkError } from './transport/errors.ts';
export { HttpTransport, type HttpTransportOptions } from './transport/http-transport.ts';
export type { ClickHouseTransport } from './transport/transport.ts';
