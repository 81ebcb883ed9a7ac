import type { Clock } from '@cdc/core';
import type { CheckResult } from '@cdc/telemetry';
import { describe } from './describe.ts';

/**
 * What `/readyz` says of one unit: not ready while it waits to be tried again (with the
 * failures in a row, the last error and when the next attempt starts); ready while an attempt
 * runs, saying how many failed before it. The service's own checks (consumer running, source
 * streaming) say whether the attempt got far enough.
 */
export class UnitStatus {
  private readonly clock: Clock;
  private attempts = 0;
  private failures = 0;
  private lastError: string | undefined;
  private retryAt: number | undefined;

  constructor(clock: Clock) {
    this.clock = clock;
  }

  /** Attempt `n` (1-based, since the process started) is starting. */
  running(n: number): void {
    this.attempts = n;
    this.retryAt = undefined;
  }

  /** The attempt failed for the `failuresInARow`-th time in a row; the next starts in `delayMs`. */
  failed(err: unknown, failuresInARow: number, delayMs: number): void {
    this.failures = failuresInARow;
    this.lastError = oneLine(describe(err));
    this.retryAt = this.clock.now() + delayMs;
  }

  check(): CheckResult {
    if (this.attempts === 0) return { ready: false, detail: 'starting' };
    if (this.retryAt !== undefined) {
      const inS = Math.max(0, (this.retryAt - this.clock.now()) / 1000).toFixed(1);
      return {
        ready: false,
        detail: `failed ${this.failures}× in a row (last: ${this.lastError}); attempt ${this.attempts + 1} in ${inS} s`,
      };
    }
    if (this.attempts === 1) return { ready: true, detail: 'running' };
    return { ready: true, detail: `running (attempt ${this.attempts}; last failure: ${this.lastError})` };
  }
}

function oneLine(s: string): string {
  const line = s.replace(/\s+/g, ' ').trim();
  return line.length > 300 ? `${line.slice(0, 299)}…` : line;
}
