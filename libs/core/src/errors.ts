/**
 * Every failure the product reports is a `CdcError` with a code from this closed list, a
 * `retriable` flag (retry helpers retry only those), typed context and the original `cause`.
 */
export const ERROR_CODES = [
  'CONFIG_INVALID',
  'CONFIG_FILE_UNREADABLE',
  'KAFKA_UNAVAILABLE',
  'KAFKA_FENCED',
  'KAFKA_TRANSACTION_FAILED',
  'KAFKA_TOPIC_INVALID',
  'KAFKA_REQUEST_FAILED',
  'SCHEMA_REGISTRY_UNAVAILABLE',
  'SCHEMA_INCOMPATIBLE',
  'SCHEMA_UNSUPPORTED_TYPE',
  'SERDE_FAILED',
  'SOURCE_UNAVAILABLE',
  'SOURCE_POSITION_LOST',
  'SOURCE_PERMISSION_DENIED',
  'SOURCE_UNSUPPORTED',
  'SINK_UNAVAILABLE',
  'SINK_REJECTED',
  'STATE_STORE_FAILED',
  'POISON_RECORD',
  'DATA_QUALITY',
  'INVARIANT_VIOLATED',
  'SHUTTING_DOWN',
] as const;

export type ErrorCode = (typeof ERROR_CODES)[number];

export type ErrorContext = Readonly<
  Record<string, string | number | boolean | null | undefined | readonly string[]>
>;

export interface CdcErrorOptions<C extends ErrorContext = ErrorContext> {
  retriable?: boolean;
  context?: C;
  cause?: unknown;
}

export class CdcError<C extends ErrorContext = ErrorContext> extends Error {
  override readonly name = 'CdcError';
  readonly code: ErrorCode;
  readonly retriable: boolean;
  readonly context: C;

  constructor(code: ErrorCode, message: string, options: CdcErrorOptions<C> = {}) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.code = code;
    this.retriable = options.retriable ?? false;
    this.context = options.context ?? ({} as C);
  }

  /** A JSON-safe view for structured logs and dead-letter headers. */
  toJSON(): { code: ErrorCode; message: string; retriable: boolean; context: C; cause?: string } {
    const cause =
      this.cause instanceof Error
        ? this.cause.message
        : this.cause === undefined
          ? undefined
          : String(this.cause);
    return {
      code: this.code,
      message: this.message,
      retriable: this.retriable,
      context: this.context,
      ...(cause === undefined ? {} : { cause }),
    };
  }
}

export function isCdcError(err: unknown, code?: ErrorCode): err is CdcError {
  return err instanceof CdcError && (code === undefined || err.code === code);
}

/**
 * Whether retrying may help. Only errors that say so are retried: a `CdcError` with
 * `retriable`, or an error from a client library that marks itself retriable (kafkajs sets
 * `retriable: true`). Programming errors such as `TypeError` never are.
 */
export function isRetriable(err: unknown): boolean {
  if (err instanceof CdcError) return err.retriable;
  if (
    err instanceof TypeError ||
    err instanceof RangeError ||
    err instanceof SyntaxError ||
    err instanceof ReferenceError
  ) {
    return false;
  }
  return typeof err === 'object' && err !== null && (err as { retriable?: unknown }).retriable === true;
}

/**
 * The exit code of a service that stopped on a failure only a person can fix (a refused login,
 * a setting to correct): its supervisor (`cdc up`) does not start it again until asked (as
 * systemd's `RestartPreventExitStatus`, with sysexits' EX_CONFIG).
 */
export const EXIT_NEEDS_FIX = 78;

/** Whether restarting cannot help: a refused login, or an error naming the config key to fix. */
export function needsFix(err: unknown): boolean {
  if (!isCdcError(err) || err.retriable) return false;
  return err.code === 'SOURCE_PERMISSION_DENIED' || typeof err.context.configKey === 'string';
}
