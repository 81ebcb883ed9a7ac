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
