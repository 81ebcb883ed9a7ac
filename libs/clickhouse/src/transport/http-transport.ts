import { Readable } from 'node:stream';
import { finished } from 'node:stream/promises';
import { quoteIdent } from '@cdc/core';
import { type ClickHouseClient, ClickHouseLogLevel, createClient } from '@clickhouse/client';
import { toSinkError } from './errors.ts';
import type { ClickHouseTransport, InsertFormat } from './transport.ts';

export interface HttpTransportOptions {
  url: string;
  username?: string;
  password?: string;
  requestTimeoutMs?: number;
}

/** A ClickHouse server over HTTP(S) through `@clickhouse/client`. */
export class HttpTransport implements ClickHouseTransport {
  readonly kind = 'http' as const;
  private readonly client: ClickHouseClient;

  constructor(options: HttpTransportOptions) {
    this.client = createClient({
      url: options.url,
      username: options.username ?? 'default',
      password: options.password ?? '',
      request_timeout: options.requestTimeoutMs ?? 30_000,
      // Failures are thrown, classified and logged by the sink; the client's own log would repeat them.
      log: { level: ClickHouseLogLevel.OFF },
    });
  }

  async command(sql: string): Promise<void> {
    try {
      await this.client.command({ query: sql });
    } catch (err) {
      throw toSinkError(err, `running ${sql.slice(0, 80)}`);
    }
  }

  async query<T>(sql: string): Promise<T[]> {
    try {
      const rs = await this.client.query({ query: sql, format: 'JSONEachRow' });
      return await rs.json<T>();
    } catch (err) {
      throw toSinkError(err, `running ${sql.slice(0, 80)}`);
    }
  }

  async queryRaw(sql: string, format: string): Promise<Buffer> {
    try {
      const rs = await this.client.query({ query: sql, format: format as 'JSONEachRow' });
      return Buffer.from(await rs.text());
    } catch (err) {
      throw toSinkError(err, `running ${sql.slice(0, 80)}`);
    }
  }

  async insert(
    table: string,
    columns: readonly string[],
    payload: Buffer,
    settings: Record<string, string | number>,
    format: InsertFormat = 'JSONEachRow',
  ): Promise<void> {
    try {
      // exec sends the payload as it is (raw bytes included); insert() would re-encode objects.
      const res = await this.client.exec({
        query: `INSERT INTO ${table} (${columns.map(quoteIdent).join(', ')}) FORMAT ${format}`,
        values: Readable.from([payload]),
        clickhouse_settings: settings as Record<string, string>,
      });
      res.stream.resume();
      await finished(res.stream);
    } catch (err) {
      throw toSinkError(err, `inserting into ${table}`, { table });
    }
  }

  async close(): Promise<void> {
    await this.client.close();
  }
}
