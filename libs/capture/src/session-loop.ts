import { type Clock, type Logger, supervise } from '@cdc/core';

export interface SessionLoopOptions {
  /** Which failures a new session may fix (the capture's verdict on its source's errors). */
  retriable: (err: unknown) => boolean;
  logger: Logger;
  clock: Clock;
}

/**
 * A capture's sessions until `signal` aborts (resolves) or a failure that a new session cannot
 * fix (rejects): `@cdc/core`'s `supervise`, logging each restart. The service runner drives the
 * same sessions itself; this is for callers that run a capture on their own (tests, embedding).
 */
export async function runSessions(
  session: (signal: AbortSignal) => Promise<void>,
  signal: AbortSignal,
  { retriable, logger, clock }: SessionLoopOptions,
): Promise<void> {
  await supervise(session, signal, {
    retriable,
    clock,
    onFailure: ({ err, attempt, retrying, delayMs }) =>
      retrying
        ? logger.warn('capture session failed; restarting from the committed position', {
            err,
            attempt,
            delayMs,
          })
        : logger.error('capture stopped', { err }),
  });
}
