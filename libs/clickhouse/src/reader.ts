/**
 * Read-only SQL against the pipeline's ClickHouse target. A server: `@clickhouse/client` over
 * HTTP(S). The embedded engine: through the sink's read-only HTTP endpoint while the sink runs
 * (the engine allows one process per data directory, and the sink owns it), else by opening
 * the directory directly with chdb.
 */
import { resolve } from 'node:path';
import { CdcError, quoteIdent } from '@cdc/core';
import type { ClickHouseSection } from '@cdc/pipeline';

export interface ClickHouseReader {
  /** How the queries travel (`server http://…`, `sink endpoint 127.0.0.1:18124`, `chdb <dir>`). */
  readonly via: string;
  /**
   * Rows as JSON objects (ClickHouse's JSONEachRow: 64-bit integers quoted). `settings` apply to
   * this query (a SETTINGS clause of `sql` wins over them).
   */
  query<T = Record<string, unknown>>(sql: string, settings?: Record<string, string>): Promise<T[]>;
  close(): Promise<void>;
}

/**
 * `openDirectory: false`: never open the embedded directory here (a long-running reader would
 * lock the sink out of it when the sink starts); only the sink's endpoint, else SINK_UNAVAILABLE.
 */
export async function openReader(
  section: ClickHouseSection,
  options: { openDirectory?: boolean } = {},
): Promise<ClickHouseReader> {
  if ('url' in section) return serverReader(section);
  const port = section.embedded.http.enabled ? section.embedded.http.port : 0;
  if (port > 0) {
    const url = `http://127.0.0.1:${port}`;
    if (await answers(url)) return httpReader(url, `sink endpoint 127.0.0.1:${port}`, section.database);
  }
  if (options.openDirectory === false)
    throw new CdcError(
      'SINK_UNAVAILABLE',
      port > 0
        ? `the sink's query endpoint 127.0.0.1:${port} does not answer (is the sink running?); this reader does not open the embedded directory itself, which would lock the sink out of it`
        : 'the embedded ClickHouse has no query endpoint: set clickhouse.embedded.http so that the sink serves queries while it runs',
      { retriable: true },
    );
  return chdbReader(resolve(section.embedded.path), section.database);
}

async function answers(url: string): Promise<boolean> {
  try {
    const r = await fetch(`${url}/?query=${encodeURIComponent('SELECT 1')}`, {
      signal: AbortSignal.timeout(1_500),
    });
    return r.ok;
  } catch {
    return false;
  }
}

function parseEachRow<T>(text: string): T[] {
  return text
    .split('\n')
    .filter((l) => l !== '')
    .map((l) => JSON.parse(l) as T);
}

/**
 * The settings under which `cdc query` prints every value losslessly in JSON: 64-bit and wider
 * integers and decimals as strings (a JSON number is a double: Int64 max would print as
 * 9223372036854776000, Decimal(38,10) as 1e+28), NaN and ±Infinity as the strings `"nan"`,
 * `"inf"`, `"-inf"` (JSON has no literal for them; ClickHouse would print null).
 */
export const LOSSLESS_JSON: Readonly<Record<string, string>> = {
  output_format_json_quote_64bit_integers: '1',
  output_format_json_quote_decimals: '1',
  output_format_json_quote_denormals: '1',
};

/** `… SETTINGS a = 1, b = 'x'` → the query without the clause and the settings by name. */
export function splitSettings(sql: string): { text: string; settings: Record<string, string> } {
  const m = /\sSETTINGS\s+((?:[A-Za-z_][A-Za-z0-9_]*\s*=\s*(?:'[^']*'|[\w.]+)\s*,?\s*)+)$/i.exec(sql);
  if (!m) return { text: sql, settings: {} };
  const settings: Record<string, string> = {};
  for (const part of (m[1] as string).matchAll(/([A-Za-z_][A-Za-z0-9_]*)\s*=\s*('[^']*'|[\w.]+)/g))
    settings[part[1] as string] = (part[2] as string).replace(/^'|'$/g, '');
  return { text: sql.slice(0, m.index), settings };
}

function httpReader(url: string, via: string, database: string): ClickHouseReader {
  return {
    via,
    async query<T>(sql: string, settings?: Record<string, string>): Promise<T[]> {
      // The endpoint runs queries as a readonly user: a SETTINGS clause is refused there, but
      // output-shaping settings are accepted as URL parameters, as on a server.
      const split = splitSettings(sql.trim().replace(/;$/, ''));
      // The query in the body: a long one (a page of keys) would not fit in a URL.
      const q = new URLSearchParams({ database, ...settings, ...split.settings });
      let r: Response;
      try {
        r = await fetch(`${url}/?${q}`, {
          method: 'POST',
          body: `${split.text} FORMAT JSONEachRow`,
          signal: AbortSignal.timeout(120_000),
        });
      } catch (err) {
        throw new CdcError(
          'SINK_UNAVAILABLE',
          `the sink's query endpoint ${url} did not answer: ${(err as Error).message}`,
          {
            retriable: true,
            cause: err,
          },
        );
      }
      const text = await r.text();
      if (!r.ok)
        throw new CdcError(
          'SINK_REJECTED',
          `ClickHouse refused the query: ${text.trim() || `HTTP ${r.status}`}`,
          {
            context: { sql },
          },
        );
      return parseEachRow<T>(text);
    },
    async close() {},
  };
}

async function serverReader(section: Extract<ClickHouseSection, { url: string }>): Promise<ClickHouseReader> {
  const { createClient } = await import('@clickhouse/client');
  const client = createClient({
    url: section.url,
    username: section.username,
    ...(section.password === undefined ? {} : { password: section.password }),
    database: section.database,
    request_timeout: section.requestTimeoutMs,
  });
  return {
    via: `server ${section.url}`,
    async query<T>(sql: string, settings?: Record<string, string>): Promise<T[]> {
      try {
        const rs = await client.query({
          query: sql.trim().replace(/;$/, ''),
          format: 'JSONEachRow',
          ...(settings ? { clickhouse_settings: settings } : {}),
        });
        return (await rs.json()) as T[];
      } catch (err) {
        throw new CdcError('SINK_REJECTED', `ClickHouse at ${section.url}: ${(err as Error).message}`, {
          context: { sql },
          cause: err,
        });
      }
    },
    close: () => client.close(),
  };
}

async function chdbReader(dir: string, database: string): Promise<ClickHouseReader> {
  const { Session } = await import('chdb');
  let session: InstanceType<typeof Session>;
  try {
    session = new Session(dir);
  } catch (err) {
    throw new CdcError(
      'SINK_UNAVAILABLE',
      `cannot open the embedded ClickHouse directory ${dir} (${(err as Error).message}); the sink owns it while it runs: enable clickhouse.embedded.http so that it serves queries, or stop it`,
      { cause: err },
    );
  }
  // The session keeps its current database; before the sink wrote anything it may not exist.
  await session.queryAsync(`USE ${quoteIdent(database)}`, { format: 'TabSeparated' }).catch(() => undefined);
  return {
    via: `chdb ${dir}`,
    async query<T>(sql: string, settings?: Record<string, string>): Promise<T[]> {
      try {
        // Settings for this session (it serves one command): a SETTINGS clause does not fit every statement.
        for (const [name, value] of Object.entries(settings ?? {}))
          if (/^\w+$/.test(name) && /^\w+$/.test(value))
            await session.queryAsync(`SET ${name} = ${value}`, { format: 'TabSeparated' });
        const res = await session.queryAsync(sql.trim().replace(/;$/, ''), { format: 'JSONEachRow' });
        return parseEachRow<T>(Buffer.from(res.bytes()).toString('utf8'));
      } catch (err) {
        throw new CdcError('SINK_REJECTED', `ClickHouse (embedded, ${dir}): ${(err as Error).message}`, {
          context: { sql },
          cause: err,
        });
      }
    },
    async close() {
      session.close();
    },
  };
}
