import { type Clock, systemClock } from './clock.ts';
import { isRetriable } from './errors.ts';

export interface RetryOptions {
  /** Attempts after the first (default 8). `Infinity` retries until the signal aborts. */
  retries?: number;
  initialDelayMs?: number;
  maxDelayMs?: number;
  /** Which errors are worth another attempt (default: `isRetriable`). */
  retryIf?: (err: unknown) => boolean;
  onRetry?: (err: unknown, attempt: number, delayMs: number) => void;
  clock?: Clock;
  signal?: AbortSignal;
  random?: () => number;
}

/** Exponential backoff with full jitter: a random delay in [0, min(max, initial·2^attempt)]. */
export function backoffDelay(
  attempt: number,
  initialDelayMs: number,
  maxDelayMs: number,
  random: () => number,
): number {
  const ceiling = Math.min(maxDelayMs, initialDelayMs * 2 ** Math.min(attempt, 30));
  return Math.round(random() * ceiling);
}

/** Runs `fn` until it succeeds, retrying only errors that are retriable. */
export async function retry<T>(fn: (attempt: number) => Promise<T>, options: RetryOptions = {}): Promise<T> {
  const retries = options.retries ?? 8;
  const initial = options.initialDelayMs ?? 200;
  const max = options.maxDelayMs ?? 30_000;
  const retryIf = options.retryIf ?? isRetriable;
  const clock = options.clock ?? systemClock;
  const random = options.random ?? Math.random;
  for (let attempt = 0; ; attempt++) {
    try {
      return await fn(attempt);
    } catch (err) {
      if (attempt >= retries || !retryIf(err) || options.signal?.aborted) throw err;
      const delay = backoffDelay(attempt, initial, max, random);
      options.onRetry?.(err, attempt + 1, delay);
      await clock.sleep(delay, options.signal);
    }
  }
}

/** One failed attempt of `supervise`, as its `onFailure` sees it. */
export interface AttemptFailure {
  err: unknown;
  /** Failures in a row so far (1 for the first); reset by an attempt that ran `resetAfterMs`. */
  attempt: number;
  /** Whether another attempt follows. */
  retrying: boolean;
  /** The wait before the next attempt (0 when not retrying). */
  delayMs: number;
}

export interface SuperviseOptions {
  /** Failures in a row after which the last error is thrown (default: no limit). */
  maxAttempts?: number;
  initialDelayMs?: number;
  maxDelayMs?: number;
  /** An attempt that ran this long before it failed counts as a success: the backoff starts over (default 60 s). */
  resetAfterMs?: number;
  /** Which failures another attempt may fix (default: `isRetriable`). */
  retriable?: (err: unknown) => boolean;
  /** Called on every failure, before the wait (or before the error is thrown). */
  onFailure?: (failure: AttemptFailure) => void;
  /** Called when an attempt starts (1-based count of attempts since the process started). */
  onAttempt?: (started: number) => void;
  clock?: Clock;
  random?: () => number;
}

/**
 * The restart loop of a long-running unit of work (a capture session, a consumer, a streams
 * runtime): runs `attempt` until it resolves or `signal` aborts; after a retriable failure it
 * waits (exponential backoff with full jitter) and runs it again. Resolves with the attempt's
 * value, or `undefined` when stopped; rejects with the error of a failure that is not
 * retriable, or once `maxAttempts` failures in a row were reached. A failure while stopping
 * is not an error.
 */
export async function supervise<T>(
  attempt: (signal: AbortSignal) => Promise<T>,
  signal: AbortSignal,
  options: SuperviseOptions = {},
): Promise<T | undefined> {
  const clock = options.clock ?? systemClock;
  const random = options.random ?? Math.random;
  const retriable = options.retriable ?? isRetriable;
  const maxAttempts = options.maxAttempts ?? Number.POSITIVE_INFINITY;
  const resetAfterMs = options.resetAfterMs ?? 60_000;
  let failures = 0;
  let started = 0;
  while (!signal.aborted) {
    const at = clock.now();
    options.onAttempt?.(++started);
    try {
      return await attempt(signal);
    } catch (err) {
      if (signal.aborted) return undefined;
      if (clock.now() - at >= resetAfterMs) failures = 0;
      failures++;
      const retrying = retriable(err) && failures < maxAttempts;
      const delayMs = retrying
        ? backoffDelay(failures - 1, options.initialDelayMs ?? 500, options.maxDelayMs ?? 30_000, random)
        : 0;
      options.onFailure?.({ err, attempt: failures, retrying, delayMs });
      if (!retrying) throw err;
      await clock.sleep(delayMs, signal).catch(() => undefined);
    }
  }
  return undefined;
}
