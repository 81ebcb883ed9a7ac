import { mkdirSync } from 'node:fs';
import { CdcError, quoteString } from '@cdc/core';
import { Session } from 'chdb';
import { toSinkError } from './errors.ts';
import type { ClickHouseTransport } from './transport.ts';

/** What the engine's own insert accepts as a target. */
const PLAIN_TARGET = /^[A-Za-z0-9_]+(\.[A-Za-z0-9_]+)*$/;

/**
 * The embedded engine (chdb) on a data directory. The engine allows one data directory per
 * process and one process per directory: the sink owns it while it runs, and serves reads for
 * it over HTTP (`read-server.ts`).
 */
export class EmbeddedTransport implements ClickHouseTransport {
  readonly kind = 'embedded' as const;
  readonly path: string;
  private readonly session: Session;

  constructor(path: string) {
    mkdirSync(path, { recursive: true });
    this.path = path;
    try {
      this.session = new Session(path);
    } catch (err) {
      throw toSinkError(
        err,
        `opening the embedded ClickHouse directory ${path} (one process at a time may open it: is another sink or tool using it?)`,
      );
    }
  }

  async command(sql: string): Promise<void> {
    try {
      await this.session.queryAsync(sql, { format: 'TabSeparated' });
    } catch (err) {
      throw toSinkError(err, `running ${sql.slice(0, 80)}`);
    }
  }

  async query<T>(sql: string): Promise<T[]> {
    const text = (await this.queryRaw(sql, 'JSONEachRow')).toString('utf8');
    return text
      .split('\n')
      .filter((l) => l !== '')
      .map((l) => JSON.parse(l) as T);
  }

  async queryRaw(sql: string, format: string): Promise<Buffer> {
    try {
      const res = await this.session.queryAsync(sql, { format });
      return Buffer.from(res.bytes());
    } catch (err) {
      throw toSinkError(err, `running ${sql.slice(0, 80)}`);
    }
  }

  /**
   * The engine's insert accepts only plain `db.table` names and plain column names, so the
   * column list is left out: JSONEachRow matches keys to columns by name (any name), columns a
   * row lacks take their defaults, and an unknown key is an error (not skipped, which is the
   * engine's default). A target that needs quoting goes as one statement with the rows inline,
   * which must then be UTF-8 text.
   */
  async insert(
    table: string,
    _columns: readonly string[],
    payload: Buffer,
    settings: Record<string, string | number>,
  ): Promise<void> {
    const all = { ...settings, input_format_skip_unknown_fields: 0 };
    try {
      if (PLAIN_TARGET.test(table)) {
        await this.session.insert({ table, values: payload, format: 'JSONEachRow', settings: all });
        return;
      }
      let rows: string;
      try {
        rows = new TextDecoder('utf-8', { fatal: true }).decode(payload);
      } catch {
        throw new CdcError(
          'SINK_REJECTED',
          `inserting into ${table}: the rows hold bytes that are not UTF-8, which the embedded engine takes only into a table with a plain name ([A-Za-z_][A-Za-z0-9_]*); set clickhouse.sink.tables.<topic>.table to one`,
          { context: { table, dataError: true } },
        );
      }
      const set = Object.entries(all)
        .map(([k, v]) => `${k} = ${typeof v === 'number' ? v : quoteString(v)}`)
        .join(', ');
      await this.session.queryAsync(`INSERT INTO ${table} SETTINGS ${set} FORMAT JSONEachRow\n${rows}`, {
        format: 'TabSeparated',
      });
    } catch (err) {
      throw toSinkError(err, `inserting into ${table}`, { table });
    }
  }

  async close(): Promise<void> {
    this.session.close();
  }
}
