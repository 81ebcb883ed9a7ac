import { mkdirSync } from 'node:fs';
import { Session } from 'chdb';
import { toSinkError } from './errors.ts';
import type { ClickHouseTransport } from './transport.ts';

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

  async insert(
    table: string,
    columns: readonly string[],
    payload: Buffer,
    settings: Record<string, string | number>,
  ): Promise<void> {
    try {
      await this.session.insert({ table, values: payload, format: 'JSONEachRow', columns, settings });
    } catch (err) {
      throw toSinkError(err, `inserting into ${table}`, { table });
    }
  }

  async close(): Promise<void> {
    this.session.close();
  }
}
