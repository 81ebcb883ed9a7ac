/**
 * Libraries take a `Logger`; only a service's composition root makes one. Log lines are JSON
 * objects (one per line) with `level`, `time`, `msg` and fields; secrets are redacted before
 * anything is written.
 */
import { CdcError } from './errors.ts';
import { redactSecrets } from './redact.ts';

export type LogLevel = 'debug' | 'info' | 'warn' | 'error';
export type LogFields = Record<string, unknown>;

export interface Logger {
  debug(msg: string, fields?: LogFields): void;
  info(msg: string, fields?: LogFields): void;
  warn(msg: string, fields?: LogFields): void;
  error(msg: string, fields?: LogFields): void;
  /** A logger that adds `bindings` to every line. */
  child(bindings: LogFields): Logger;
}

const LEVELS: Record<LogLevel, number> = { debug: 10, info: 20, warn: 30, error: 40 };

export interface JsonLoggerOptions {
  level?: LogLevel;
  /** Where lines go (default: stderr). */
  write?: (line: string) => void;
  now?: () => number;
  /** Literal secret values to scrub wherever they appear (e.g. passwords read from config). */
  secrets?: readonly string[];
}

function serializeError(err: unknown): unknown {
  if (err instanceof CdcError) return { ...err.toJSON(), stack: err.stack };
  if (err instanceof Error) return { name: err.name, message: err.message, stack: err.stack };
  return err;
}

export function createJsonLogger(options: JsonLoggerOptions = {}, bindings: LogFields = {}): Logger {
  const min = LEVELS[options.level ?? 'info'];
  const write = options.write ?? ((line: string) => process.stderr.write(line));
  const now = options.now ?? Date.now;
  const secrets = options.secrets ?? [];
  const emit = (level: LogLevel, msg: string, fields?: LogFields) => {
    if (LEVELS[level] < min) return;
    const merged: LogFields = { ...bindings, ...fields };
    if ('err' in merged) merged.err = serializeError(merged.err);
    const line = redactSecrets({ level, time: new Date(now()).toISOString(), msg, ...merged }, secrets);
    write(`${JSON.stringify(line, (_k, v) => (typeof v === 'bigint' ? v.toString() : v))}\n`);
  };
  return {
    debug: (m, f) => emit('debug', m, f),
    info: (m, f) => emit('info', m, f),
    warn: (m, f) => emit('warn', m, f),
    error: (m, f) => emit('error', m, f),
    child: (b) => createJsonLogger(options, { ...bindings, ...b }),
  };
}

export const noopLogger: Logger = {
  debug: () => {},
  info: () => {},
  warn: () => {},
  error: () => {},
  child: () => noopLogger,
};
