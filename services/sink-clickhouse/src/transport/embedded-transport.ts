import { accessSync, constants, mkdirSync, statSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import { CdcError } from '@cdc/core';
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
    usableDataDirectory(path);
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

/**
 * Makes sure `path` is a directory this process can write, before the engine opens it: the
 * engine itself hangs on a directory it cannot write and throws a bare `EEXIST` for a file.
 * Throws `CONFIG_INVALID` naming the path and the fix.
 */
export function usableDataDirectory(path: string): void {
  const fail = (problem: string, fix: string, cause?: unknown) =>
    new CdcError('CONFIG_INVALID', `clickhouse.embedded.path ${path} ${problem}; ${fix}`, {
      context: { key: 'clickhouse.embedded.path', path },
      cause,
    });
  const statOf = (p: string) => {
    try {
      return statSync(p, { throwIfNoEntry: false });
    } catch {
      return undefined; // ENOTDIR: a parent is a file (found below)
    }
  };
  const stat = statOf(path);
  if (stat && !stat.isDirectory())
    throw fail(
      'is a file, not a directory',
      'point clickhouse.embedded.path at a directory (or move the file away)',
    );
  if (!stat) {
    // Node's recursive mkdir spins forever where mkdir answers ENOENT for a parent that exists
    // (/proc, /sys): create level by level below the nearest existing directory instead.
    const missing: string[] = [];
    let at = resolve(path);
    let found = statOf(at);
    while (!found && dirname(at) !== at) {
      missing.unshift(at);
      at = dirname(at);
      found = statOf(at);
    }
    if (found && !found.isDirectory())
      throw fail(
        `cannot be created: ${at} is a file`,
        'point clickhouse.embedded.path at a directory whose parents are directories',
      );
    for (const dir of missing) {
      try {
        mkdirSync(dir);
      } catch (err) {
        const code = (err as NodeJS.ErrnoException).code;
        throw fail(
          `cannot be created (${code ?? (err as Error).message} creating ${dir})`,
          'create it and give the user running the sink write permission, or choose another clickhouse.embedded.path',
          err,
        );
      }
    }
  }
  try {
    accessSync(path, constants.R_OK | constants.W_OK | constants.X_OK);
  } catch (err) {
    throw fail(
      'is not writable by this user',
      `give the user running the sink write permission (chmod u+rwx ${path}) or choose another clickhouse.embedded.path`,
      err,
    );
  }
}
