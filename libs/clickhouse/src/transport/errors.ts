import { CdcError } from '@cdc/core';

/**
 * ClickHouse error codes that mean "this data cannot be parsed or stored": a batch that fails
 * with one is split until the records that cause it are found (and dead-lettered).
 */
const DATA_ERRORS = new Set([
  6, 26, 27, 38, 41, 53, 69, 70, 72, 117, 131, 190, 321, 376, 407, 441, 691,
  1001 /* std::exception while parsing */,
]);
/** Codes where retrying cannot help and the data is not to blame: the statement or the table is wrong. */
const STATEMENT_ERRORS = new Set([
  16, 36, 43, 44, 47, 48, 50 /* UNKNOWN_TYPE: a server too old for the tables */, 57, 60, 62, 81,
  115 /* UNKNOWN_SETTING: a server too old for insert_deduplication_token */, 386, 452, 497,
]);

const STORAGE =
  /filesystem error|Operation not permitted|Permission denied|No space left|Read-only file system|Input\/output error|Too many open files/i;

const NETWORK =
  /ECONNREFUSED|ECONNRESET|ETIMEDOUT|EPIPE|EHOSTUNREACH|socket hang up|Timeout error|timed? ?out/i;

/** The numeric ClickHouse code of an error: `clickhouseCode` (embedded), `code` (HTTP client), or `Code: N` in the text. */
export function clickhouseCode(err: unknown): number | undefined {
  const e = err as { clickhouseCode?: unknown; code?: unknown; message?: unknown };
  if (typeof e?.clickhouseCode === 'number') return e.clickhouseCode;
  if (typeof e?.code === 'string' && /^\d+$/.test(e.code)) return Number(e.code);
  const m = /Code: (\d+)/.exec(String(e?.message ?? ''));
  return m ? Number(m[1]) : undefined;
}

export function toSinkError(
  err: unknown,
  what: string,
  context: Record<string, string | number> = {},
): CdcError {
  if (err instanceof CdcError) return err;
  const message = String((err as Error)?.message ?? err)
    .split('\n')[0]!
    .slice(0, 500);
  const code = clickhouseCode(err);
  const sysCode = (err as { code?: unknown })?.code;
  // 1001 wraps any std::exception: a parse failure is the data's fault, but a filesystem error
  // (an unwritable or full data directory) is the storage's, and retrying after it is fixed loses nothing.
  const storage = code === 1001 && STORAGE.test(message);
  if (code !== undefined && !storage && (DATA_ERRORS.has(code) || STATEMENT_ERRORS.has(code))) {
    return new CdcError('SINK_REJECTED', `${what}: ClickHouse rejected it: ${message}`, {
      context: { ...context, clickhouseCode: code, dataError: DATA_ERRORS.has(code) },
      cause: err,
    });
  }
  // The embedded client refuses a statement it cannot build (an identifier or setting it does not
  // accept) before the engine sees it: no retry can help, and the rows are not to blame.
  const name = (err as Error)?.name;
  if (
    code === undefined &&
    (name === 'ChdbBindError' || (name === 'ChdbInsertError' && /^Invalid /.test(message)))
  ) {
    return new CdcError(
      'SINK_REJECTED',
      `${what}: the embedded engine's client refused the statement: ${message}`,
      {
        context: { ...context, dataError: false },
        cause: err,
      },
    );
  }
  const network = typeof sysCode === 'string' && /^E[A-Z]+$/.test(sysCode);
  return new CdcError(
    'SINK_UNAVAILABLE',
    `${what}: ClickHouse is unavailable or failing (${message}); retrying with backoff${network || NETWORK.test(message) ? ': check that the server is up and reachable' : storage ? ': check that the data directory is writable and has free space' : ''}`,
    {
      retriable: true,
      context: { ...context, ...(code === undefined ? {} : { clickhouseCode: code }) },
      cause: err,
    },
  );
}

export function isDataError(err: unknown): boolean {
  return err instanceof CdcError && err.code === 'SINK_REJECTED' && err.context.dataError === true;
}
