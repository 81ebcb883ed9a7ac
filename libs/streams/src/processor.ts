import type { Logger } from '@cdc/core';
import type { RecordMetadata, StreamRecord } from './record.ts';

export type PunctuationType = 'stream-time' | 'wall-clock';

export interface Cancellable {
  cancel(): void;
}

/**
 * What a processor may do besides receiving records. One context per processor node and task.
 */
export interface ProcessorContext<KOut, VOut> {
  /** `<subtopology>_<partition>`, e.g. `0_3`. */
  readonly taskId: string;
  readonly partition: number;
  readonly logger: Logger;
  /**
   * Passes a record to the children (or to the child named `child`). Returns undefined when they
   * all finished synchronously, else a promise of their end: `await` it, or return it from
   * `process`, so that a processor whose children need no promise makes none either.
   */
  forward(record: StreamRecord<KOut, VOut>, child?: string): void | Promise<void>;
  /** A store this processor declared (or a global store); see `Stores`. */
  getStateStore<S>(name: string): S;
  /**
   * Calls `callback` every `intervalMs` of stream time (the largest event time the task has seen;
   * it moves only when records arrive, and fires once per advance even if several intervals
   * passed) or of wall-clock time.
   */
  schedule(
    intervalMs: number,
    type: PunctuationType,
    callback: (timestamp: number) => void | Promise<void>,
  ): Cancellable;
  /** The largest event time this task has processed (−∞ before the first record). */
  streamTime(): number;
  wallClockTime(): number;
  /** The input record being processed (undefined inside a wall-clock punctuation). */
  recordMetadata(): RecordMetadata | undefined;
  /**
   * Reports the current input record as late (beyond the grace period of `window`): it is
   * counted and, when `lateRecordsTopic` is given, written there unchanged with headers that say
   * why. Late records are never dropped silently.
   */
  reportLate(details: { window: { start: number; end: number }; lateRecordsTopic?: string }): void;
}

/**
 * The processor contract: `init` once per task before records flow, `process` per record,
 * `close` when the task is closed. Only `process` is required.
 *
 * `flush`, when present, runs before every commit of the task (and, in the test driver, after
 * every input record): a processor that holds records back to combine them forwards what it
 * holds there, so that it goes into the same transaction as the input offsets that produced it.
 * What it held and did not flush is lost with an uncommitted transaction, and reprocessed.
 */
export interface Processor<KIn, VIn, KOut = never, VOut = never> {
  init?(context: ProcessorContext<KOut, VOut>): void | Promise<void>;
  /** Return nothing when done synchronously: the runtime then makes no promise for the record. */
  process(record: StreamRecord<KIn, VIn>): void | Promise<void>;
  flush?(): void | Promise<void>;
  close?(): void | Promise<void>;
}

/**
 * Whether a processor's (or a punctuation's) result is a promise to wait for. A synchronous
 * `process` may return anything (`(r) => list.push(r)` returns a number): only a thenable counts.
 */
export function isPromiseLike(value: unknown): value is Promise<void> {
  return typeof (value as { then?: unknown } | null | undefined)?.then === 'function';
}

/** Runs `next` after `step`: at once when `step` finished synchronously, else when its promise does. */
export function andThen(step: void | Promise<void>, next: () => void | Promise<void>): void | Promise<void> {
  return isPromiseLike(step) ? step.then(next) : next();
}

/** Makes a fresh processor per task. */
export type ProcessorSupplier<KIn, VIn, KOut = never, VOut = never> = () => Processor<KIn, VIn, KOut, VOut>;
