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
// The column mapping and table shapes: also `@cdc/clickhouse/schema`, without the transports.
export * from './schema/index.ts';
export { EmbeddedTransport, usableDataDirectory } from './transport/embedded-transport.ts';
export { clickhouseCode, isDataError, toSinkError } from './transport/errors.ts';
export { HttpTransport, type HttpTransportOptions } from './transport/http-transport.ts';
export {
  type ClickHouseTransport,
  compactInsertable,
  type InsertFormat,
} from './transport/transport.ts';
