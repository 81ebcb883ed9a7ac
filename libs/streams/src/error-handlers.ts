import type { RecordMetadata } from './record.ts';

/** What to do with a record that failed: skip it, stop the application, or park it in a topic. */
export type ErrorResponse =
  | { readonly action: 'continue' }
  | { readonly action: 'fail' }
  | { readonly action: 'dead-letter'; readonly topic: string };

export interface RecordFailure extends RecordMetadata {
  /** The raw input record, as read. */
  readonly key: Buffer | null;
  readonly value: Buffer | null;
  readonly error: unknown;
  /** Where it failed: the processor node, or the sink topic for production failures. */
  readonly node?: string;
}

/** Deserialization (a source), processing (a processor threw) or production (a sink's serde). */
export type ErrorHandler = (failure: RecordFailure) => ErrorResponse;

export interface ErrorHandlers {
  deserialization: ErrorHandler;
  processing: ErrorHandler;
  production: ErrorHandler;
}

/**
 * Ready-made policies. `continue` logs and skips, `fail` stops the application at that record
 * (nothing after it is committed), `deadLetter(topic)` writes the raw input record to `topic`
 * with `cdc.error.*` headers, in the same transaction as the rest of the work, and goes on.
 *
 * A processing failure after a processor already forwarded or stored something for that record
 * keeps what was done (as in Kafka Streams); `fail` is the only policy that undoes it.
 */
export const ErrorPolicies = {
  continue: (): ErrorHandler => () => ({ action: 'continue' }),
  fail: (): ErrorHandler => () => ({ action: 'fail' }),
  deadLetter:
    (topic: string): ErrorHandler =>
    () => ({ action: 'dead-letter', topic }),
} as const;

export const defaultErrorHandlers: ErrorHandlers = {
  deserialization: ErrorPolicies.fail(),
  processing: ErrorPolicies.fail(),
  production: ErrorPolicies.fail(),
};
