/**
 * @cdc/sink-clickhouse: CDC and aggregate topics into ClickHouse tables it creates and evolves.
 *
 *   const transport = new EmbeddedTransport('.stack/data/clickhouse-embedded');
 *   const tables = new TableManager(transport, 'cdc', logger);
 *   const sink = new ClickHouseSink({ kafka, registry, transport, tables, options: pipeline.clickhouse.sink, logger });
 *   await sink.start();
 *   // SELECT * FROM cdc.shop_shop_public_orders_current   -- the current state
 *   await sink.stop();
 */

export { type Decoded, type KafkaRecord, RecordDecoder } from './decode.ts';
export {
  checkReadOnly,
  isRefusal,
  type ReadStatement,
  type SqlRefusal,
} from './read-server/read-only-sql.ts';
export { type ReadServer, type ReadServerOptions, startReadServer } from './read-server/read-server.ts';
export { type RebuildDeps, type RebuildResult, rebuildTable } from './rebuild.ts';
export { encodeRows } from './row-encoder.ts';
export { TableManager, TRUNCATIONS_TABLE } from './schema/tables.ts';
export { ClickHouseSink, type SinkDeps, tableNameFor } from './sink.ts';
export { dedupToken, insertIsolating, insertToken } from './table-writer.ts';
export { offsetVersion, postgresVersion } from './version.ts';
