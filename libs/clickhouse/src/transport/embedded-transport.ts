import { accessSync, constants, mkdirSync, statSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import { CdcError, type Clock, type Logger, quoteIdent, quoteString, retry } from '@cdc/core';
import { Session } from 'chdb';
import { toSinkError } from './errors.ts';
import type { ClickHouseTransport, InsertFormat } from './transport.ts';

/** What the engine's own insert accepts as a target. */
const PLAIN_TARGET = /^[A-Za-z0-9_]+(\.[A-Za-z0-9_]+)*$/;

/**
 * The embedded engine (chdb) on a data directory. The engine allows one data directory per
 * process and one process per directory: the sink owns it while it runs, and serves reads for
 * it over HTTP (`read-server.ts`).
 *
 * A directory still locked by another process (a predecessor that is stopping or was just
 * killed: the engine prints `Cannot lock file …/status`) is `SINK_UNAVAILABLE`, retriable:
 * `EmbeddedTransport.open` waits for it with a bounded backoff, logging each attempt.
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
      // The engine's reason (`Cannot lock file …/status`) goes to stderr; the error says only
      // that no connection was made. Nothing else fails here once the directory exists.
      throw new CdcError(
        'SINK_UNAVAILABLE',
        `cannot open the embedded ClickHouse directory ${path}: another process holds its lock (a sink that is stopping or was just killed, or another tool using it); retrying with backoff until it is free (${String((err as Error)?.message ?? err).slice(0, 200)})`,
        { retriable: true, context: { path }, cause: err },
      );
    }
  }

  /**
   * Opens `path`, waiting while another process holds its lock: retried without limit (every
   * 0.2 s, backing off to `maxDelayMs`), each failure logged, until it opens or `signal` aborts.
   */
  static async open(
    path: string,
    options: { logger: Logger; clock?: Clock; signal?: AbortSignal; maxDelayMs?: number },
  ): Promise<EmbeddedTransport> {
    return retry(async () => new EmbeddedTransport(path), {
      retries: Number.POSITIVE_INFINITY,
      initialDelayMs: 200,
      maxDelayMs: options.maxDelayMs ?? 3_000,
      ...(options.clock ? { clock: options.clock } : {}),
      ...(options.signal ? { signal: options.signal } : {}),
      onRetry: (err, attempt, delayMs) =>
        options.logger.warn('the embedded ClickHouse directory is locked; retrying', {
          path,
          attempt,
          delayMs,
          err,
        }),
    });
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
   * The engine's insert accepts only plain `db.table` names and plain column names, so a
   * JSONEachRow insert leaves the column list out: it matches keys to columns by name (any name),
   * columns a row lacks take their defaults, and an unknown key is an error (not skipped, which is
   * the engine's default). A JSONCompactEachRow insert names its columns (plain names only:
   * `compactInsertable`). A target that needs quoting goes as one statement with the rows inline,
   * which must then be UTF-8 text.
   */
  async insert(
    table: string,
    columns: readonly string[],
    payload: Buffer,
    settings: Record<string, string | number>,
    format: InsertFormat = 'JSONEachRow',
  ): Promise<void> {
    const all = { ...settings, input_format_skip_unknown_fields: 0 };
    const compact = format === 'JSONCompactEachRow';
    try {
      if (PLAIN_TARGET.test(table)) {
        await this.session.insert({
          table,
          values: payload,
          format,
          ...(compact ? { columns: [...columns] } : {}),
          settings: all,
        });
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
      const list = compact ? ` (${columns.map(quoteIdent).join(', ')})` : '';
      await this.session.queryAsync(`INSERT INTO ${table}${list} SETTINGS ${set} FORMAT ${format}\n${rows}`, {
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
