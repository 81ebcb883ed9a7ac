/**
 * Read-only SQL over HTTP for the embedded engine, shaped like ClickHouse's HTTP interface so
 * that curl and `@clickhouse/client` read the analytics while the sink owns the data
 * directory (the engine allows one process per directory):
 *
 *   curl 'http://127.0.0.1:18124/?query=SELECT+count()+FROM+orders_current'
 *   curl 'http://127.0.0.1:18124/?default_format=JSONEachRow' --data-binary 'SELECT * FROM orders_current LIMIT 3'
 *   createClient({ url: 'http://127.0.0.1:18124' }).query({ query: 'SELECT 1', format: 'JSONEachRow' })
 *
 * What it speaks: `GET|POST /?query=…` (the POST body is appended to `query`), `default_format`
 * (or the `X-ClickHouse-Format` header; TabSeparated otherwise; a `FORMAT` clause wins),
 * `database` (default: the sink's database, as a server's user `default_database` would),
 * `query_id`, `param_<name>` for `{name:Type}` placeholders, `enable_http_compression=1` with
 * `Accept-Encoding` gzip/deflate/br, `GET /ping`. Responses carry `X-ClickHouse-Query-Id`,
 * `-Format`, `-Timezone`, `-Summary` and `-Server-Display-Name`; errors are `Code: N.
 * DB::Exception: … (TYPE) (version …)` with the HTTP status a server gives for that code and
 * `X-ClickHouse-Exception-Code`.
 *
 * Read-only as a `readonly = 1` user: the statement is checked (`read-only-sql.ts`) and runs
 * with `SETTINGS readonly = 1`; settings in the URL are refused like a `readonly = 1` server
 * refuses them (code 164), except output-shaping ones (`output_format_*`, `max_result_rows`, …).
 * No authentication: it listens on 127.0.0.1 only, like the rest of the local stack; user and
 * password are ignored.
 */
import { randomUUID } from 'node:crypto';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { promisify } from 'node:util';
import { brotliCompress, deflate, gunzip, gzip, inflate } from 'node:zlib';
import { CdcError, type Logger, quoteIdent } from '@cdc/core';
import { Session } from 'chdb';
import { checkReadOnly, isRefusal } from './read-only-sql.ts';

export interface ReadServerOptions {
  /** The embedded data directory (opened by the sink in this process). */
  path: string;
  /** The current database when a request names none. */
  database: string;
  /** 0 picks a free port. */
  port: number;
  /** Default 127.0.0.1. */
  host?: string;
  logger: Logger;
  /** Largest query text accepted, bytes (default 1 MiB). */
  maxQueryBytes?: number;
}

export interface ReadServer {
  readonly url: string;
  readonly port: number;
  close(): Promise<void>;
}

/** URL parameters that belong to the HTTP layer, not settings. */
const HTTP_PARAMS = new Set([
  'query',
  'database',
  'default_format',
  'query_id',
  'session_id',
  'session_timeout',
  'session_check',
  'user',
  'password',
  'quota_key',
  'role',
  'enable_http_compression',
  'http_zlib_compression_level',
  'send_progress_in_http_headers',
  'wait_end_of_query',
  'buffer_size',
  'compress',
  'decompress',
  'stacktrace',
  'add_http_cors_header',
]);
/** Settings a reader may pass: they shape the output or bound the query, never what it can touch. */
const READER_SETTINGS =
  /^(output_format_\w+|format_\w+|date_time_output_format|max_result_rows|max_result_bytes|result_overflow_mode|max_execution_time|max_threads|max_block_size|extremes|join_use_nulls|session_timezone)$/;

interface Failure {
  code: number;
  type: string;
  message: string;
}

function httpStatus(code: number): number {
  if ([192, 193, 194, 516].includes(code)) return 401;
  if ([164, 497].includes(code)) return 403;
  if ([60, 81, 46, 73].includes(code)) return 404;
  if (code === 159) return 504;
  if (
    [
      1, 6, 26, 27, 36, 38, 41, 42, 43, 47, 53, 62, 69, 70, 72, 115, 131, 184, 190, 215, 352, 386, 456, 457,
    ].includes(code)
  )
    return 400;
  return 500;
}

function contentType(format: string): string {
  if (/^JSON(?!EachRow|Lines|CompactEachRow|StringsEachRow|ObjectEachRow)/i.test(format))
    return 'application/json; charset=UTF-8';
  if (/EachRow|^JSONLines$|^NDJSON$/i.test(format)) return 'application/x-ndjson; charset=UTF-8';
  if (/^(TabSeparated|TSV)/i.test(format)) return 'text/tab-separated-values; charset=UTF-8';
  if (/^CSV/i.test(format)) return 'text/csv; charset=UTF-8';
  if (/^(Parquet|Arrow|ArrowStream|Native|RowBinary\w*|ORC|Avro)$/i.test(format))
    return 'application/octet-stream';
  return 'text/plain; charset=UTF-8';
}

/** `\t`, `\n`, `\\`, `\'`…: how the HTTP interface escapes `param_` values (the engine binds them as they are). */
function unescapeParam(v: string): string {
  const map: Record<string, string> = { t: '\t', n: '\n', r: '\r', b: '\b', f: '\f', '0': '\0' };
  return v.replace(/\\(.)/gs, (_, c: string) => map[c] ?? c);
}

function settingLiteral(v: string): string {
  return /^-?\d+(\.\d+)?$/.test(v) ? v : `'${v.replace(/\\/g, '\\\\').replace(/'/g, "\\'")}'`;
}

async function readBody(req: IncomingMessage, limit: number): Promise<Buffer | Failure> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const c of req) {
    size += (c as Buffer).length;
    if (size > limit)
      return { code: 36, type: 'BAD_ARGUMENTS', message: `The query is larger than ${limit} bytes` };
    chunks.push(c as Buffer);
  }
  const body = Buffer.concat(chunks);
  const enc = String(req.headers['content-encoding'] ?? '').toLowerCase();
  if (enc === 'gzip') return promisify(gunzip)(body);
  if (enc === 'deflate') return promisify(inflate)(body);
  if (enc && enc !== 'identity')
    return { code: 36, type: 'BAD_ARGUMENTS', message: `Unsupported Content-Encoding: ${enc}` };
  return body;
}

export async function startReadServer(options: ReadServerOptions): Promise<ReadServer> {
  const { logger } = options;
  const host = options.host ?? '127.0.0.1';
  const maxQueryBytes = options.maxQueryBytes ?? 1024 * 1024;
  /** One Session per current database (`USE` is per Session; every Session shares the sink's engine). */
  const sessions = new Map<string, Session>();
  const base = new Session(options.path);
  const info = (
    await base.queryAsync('SELECT version() AS v, timezone() AS tz', { format: 'JSONEachRow' })
  ).json<{
    v: string;
    tz: string;
  }>();
  const version = info.v;
  const timezone = info.tz;

  async function sessionFor(database: string): Promise<Session> {
    const known = sessions.get(database);
    if (known) return known;
    const s = new Session(options.path);
    try {
      await s.queryAsync(`USE ${quoteIdent(database)}`, { format: 'TabSeparated' });
    } catch (err) {
      s.close();
      throw err;
    }
    sessions.set(database, s);
    return s;
  }

  function failureOf(err: unknown): Failure {
    const e = err as { clickhouseCode?: unknown; message?: unknown };
    const message = String(e?.message ?? err);
    if (typeof e?.clickhouseCode === 'number') {
      // The engine may wrap the exception in itself ("Code: 164. DB::Exception: Code: 164. …"): keep the innermost.
      let text = message.trim();
      let type = 'UNKNOWN';
      for (;;) {
        const m = /^Code: \d+\. DB::Exception: (.*?)(?: \(([A-Z0-9_]+)\))?(?: \(version [^)]*\))?\.?$/s.exec(
          text,
        );
        if (!m) break;
        text = m[1]!.trim();
        if (m[2]) type = m[2];
      }
      return { code: e.clickhouseCode, type, message: text };
    }
    return { code: 1001, type: 'STD_EXCEPTION', message };
  }

  function sendError(res: ServerResponse, queryId: string, f: Failure): void {
    const text = `Code: ${f.code}. DB::Exception: ${f.message.replace(/\.$/, '')}. (${f.type}) (version ${version})\n`;
    res.writeHead(httpStatus(f.code), {
      'Content-Type': 'text/plain; charset=UTF-8',
      'X-ClickHouse-Server-Display-Name': 'sink-clickhouse',
      'X-ClickHouse-Query-Id': queryId,
      'X-ClickHouse-Timezone': timezone,
      'X-ClickHouse-Exception-Code': String(f.code),
    });
    res.end(text);
  }

  async function handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const url = new URL(req.url ?? '/', 'http://127.0.0.1');
    const params = url.searchParams;
    const queryId = params.get('query_id') || randomUUID();
    if (req.method !== 'GET' && req.method !== 'POST' && req.method !== 'HEAD') {
      res.writeHead(405, { Allow: 'GET, POST, HEAD', 'Content-Type': 'text/plain; charset=UTF-8' });
      res.end('Only GET and POST are supported.\n');
      return;
    }
    if (url.pathname === '/ping' || url.pathname === '/replicas_status') {
      res.writeHead(200, { 'Content-Type': 'text/plain; charset=UTF-8' });
      res.end('Ok.\n');
      return;
    }
    if (url.pathname !== '/') {
      res.writeHead(404, { 'Content-Type': 'text/plain; charset=UTF-8' });
      res.end(
        `There is no handle ${url.pathname}\n\nUse / or /ping for health checks.\nSend queries with POST or GET /?query=...\n`,
      );
      return;
    }
    const body = req.method === 'POST' ? await readBody(req, maxQueryBytes) : Buffer.alloc(0);
    if (!Buffer.isBuffer(body)) return sendError(res, queryId, body);
    if (String(req.headers['content-type'] ?? '').startsWith('multipart/'))
      return sendError(res, queryId, {
        code: 48,
        type: 'NOT_IMPLEMENTED',
        message: 'multipart query parameters are not supported here: pass param_<name> in the URL',
      });
    const text = [params.get('query') ?? '', body.toString('utf8')].filter((s) => s !== '').join('\n');
    if (text.trim() === '' && req.method !== 'POST') {
      res.writeHead(200, { 'Content-Type': 'text/plain; charset=UTF-8' });
      res.end('Ok.\n');
      return;
    }
    if (Buffer.byteLength(text) > maxQueryBytes)
      return sendError(res, queryId, {
        code: 36,
        type: 'BAD_ARGUMENTS',
        message: `The query is larger than ${maxQueryBytes} bytes`,
      });
    const statement = checkReadOnly(text);
    if (isRefusal(statement)) return sendError(res, queryId, statement);

    const settings: string[] = ['readonly = 1'];
    const bind: Record<string, string> = {};
    for (const [k, v] of params) {
      if (k.startsWith('param_')) bind[k.slice(6)] = unescapeParam(v);
      else if (HTTP_PARAMS.has(k) || k.startsWith('http_')) continue;
      else if (k === 'readonly') {
        if (v !== '1')
          return sendError(res, queryId, {
            code: 164,
            type: 'READONLY',
            message: "Cannot modify 'readonly' setting in readonly mode",
          });
      } else if (READER_SETTINGS.test(k)) settings.push(`${k} = ${settingLiteral(v)}`);
      else
        return sendError(res, queryId, {
          code: 164,
          type: 'READONLY',
          message: `Cannot modify '${k}' setting in readonly mode`,
        });
    }
    const defaultFormat =
      params.get('default_format') || String(req.headers['x-clickhouse-format'] ?? '') || 'TabSeparated';
    const format = statement.format ?? defaultFormat;
    // On a line of its own: a `--` comment at the end of the statement cannot swallow it.
    const sql = `${statement.sql}\nSETTINGS ${settings.join(', ')}`;
    const database = params.get('database') || options.database;
    const started = process.hrtime.bigint();
    let result: Awaited<ReturnType<Session['queryAsync']>>;
    try {
      const session = await sessionFor(database);
      result =
        Object.keys(bind).length > 0
          ? await session.queryBindAsync(sql, bind, { format: defaultFormat })
          : await session.queryAsync(sql, { format: defaultFormat });
    } catch (err) {
      const f = failureOf(err);
      logger.debug('read query failed', { queryId, code: f.code, err: f.message });
      return sendError(res, queryId, f);
    }
    let bytes = Buffer.from(result.bytes());
    const resultBytes = bytes.length;
    const headers: Record<string, string> = {
      'Content-Type': contentType(format),
      'X-ClickHouse-Server-Display-Name': 'sink-clickhouse',
      'X-ClickHouse-Query-Id': queryId,
      'X-ClickHouse-Format': format,
      'X-ClickHouse-Timezone': timezone,
      'X-ClickHouse-Summary': JSON.stringify({
        read_rows: String(result.rowsRead),
        read_bytes: String(result.bytesRead),
        written_rows: '0',
        written_bytes: '0',
        total_rows_to_read: String(result.rowsRead),
        result_rows: '0',
        result_bytes: String(resultBytes),
        elapsed_ns: String(process.hrtime.bigint() - started),
      }),
      'Keep-Alive': 'timeout=10',
    };
    if (params.get('enable_http_compression') === '1') {
      const accept = String(req.headers['accept-encoding'] ?? '');
      const codec = /\bgzip\b/.test(accept)
        ? 'gzip'
        : /\bdeflate\b/.test(accept)
          ? 'deflate'
          : /\bbr\b/.test(accept)
            ? 'br'
            : undefined;
      if (codec) {
        bytes =
          codec === 'gzip'
            ? await promisify(gzip)(bytes)
            : codec === 'deflate'
              ? await promisify(deflate)(bytes)
              : await promisify(brotliCompress)(bytes);
        headers['Content-Encoding'] = codec;
      }
    }
    headers['Content-Length'] = String(bytes.length);
    res.writeHead(200, headers);
    res.end(req.method === 'HEAD' ? undefined : bytes);
  }

  const server: Server = createServer((req, res) => {
    handle(req, res).catch((err: unknown) => {
      logger.error('read endpoint failed on a request', { err });
      if (!res.headersSent)
        sendError(res, 'unknown', { code: 1001, type: 'STD_EXCEPTION', message: String(err) });
      else res.destroy();
    });
  });
  server.keepAliveTimeout = 10_000;
  try {
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen({ port: options.port, host }, () => {
        server.off('error', reject);
        resolve();
      });
    });
  } catch (err) {
    base.close();
    throw new CdcError(
      'CONFIG_INVALID',
      `the read-only SQL endpoint cannot listen on ${host}:${options.port} (${(err as Error).message}): set clickhouse.embedded.http.port to a free port, or 0 to pick one`,
      { context: { host, port: options.port }, cause: err },
    );
  }
  const port = (server.address() as AddressInfo).port;
  const url = `http://${host}:${port}`;
  logger.info('read-only SQL endpoint listening', { url, database: options.database });
  return {
    url,
    port,
    async close() {
      await new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      });
      for (const s of sessions.values()) s.close();
      sessions.clear();
      base.close();
    },
  };
}
