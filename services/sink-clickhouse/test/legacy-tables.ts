/**
 * Tables an 18.16 server can hold, for tests of the HTTP transport through the sink: the
 * sink's own DDL needs a current ClickHouse (`ReplacingMergeTree(_version, _is_deleted)`,
 * UInt128, DateTime64, LowCardinality, `insert_deduplication_token`). Here each topic table is
 * a `ReplacingMergeTree` ordered by the key, integer and float columns as they are and every
 * other column as (Nullable) String: `SELECT … FINAL` keeps one row per key.
 */

import type { ClickHouseTransport } from '@cdc/clickhouse';
import { orderBy, type TableShape, tableColumns } from '@cdc/clickhouse';
import { noopLogger, quoteIdent } from '@cdc/core';
import { TableManager } from '../src/schema/tables.ts';

const NUMERIC = /^(U?Int(8|16|32|64)|Float(32|64))$/;

export function legacyType(type: string): string {
  const inner = /^Nullable\((.*)\)$/.exec(type)?.[1];
  if (inner !== undefined) return `Nullable(${NUMERIC.test(inner) ? inner : 'String'})`;
  return NUMERIC.test(type) ? type : 'String';
}

export class LegacyTables extends TableManager {
  private readonly http: ClickHouseTransport;
  private readonly created = new Set<string>();

  constructor(transport: ClickHouseTransport, database: string) {
    super(transport, database, noopLogger);
    this.http = transport;
  }

  override async init(): Promise<void> {
    await this.http.command(`CREATE DATABASE IF NOT EXISTS ${quoteIdent(this.database)}`);
  }

  override async ensure(table: string, shape: TableShape): Promise<void> {
    if (this.created.has(table)) return;
    await this.init();
    const cols = tableColumns(shape)
      .filter((c) => !c.default)
      .map((c) => `${quoteIdent(c.name)} ${legacyType(c.type)}`);
    await this.http.command(
      `CREATE TABLE IF NOT EXISTS ${this.qualified(table)} (${cols.join(', ')}) ENGINE = ReplacingMergeTree ORDER BY (${orderBy(shape).map(quoteIdent).join(', ')})`,
    );
    this.created.add(table);
  }
}
