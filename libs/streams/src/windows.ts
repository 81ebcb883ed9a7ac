import { CdcError } from '@cdc/core';
import type { Window } from './record.ts';

function check(name: string, value: number, min: number): void {
  if (!Number.isSafeInteger(value) || value < min) {
    throw new CdcError('CONFIG_INVALID', `${name} must be an integer ≥ ${min} (ms), got ${value}`, {
      context: { [name]: value },
    });
  }
}

/**
 * Fixed-size windows on event time, `[start, start + size)`: tumbling (advance = size) or
 * hopping (advance < size, a record falls into size/advance windows). A window accepts records
 * until the stream time reaches `end + grace`; later records are late.
 */
export class TimeWindows {
  readonly kind = 'time';
  readonly sizeMs: number;
  readonly advanceMs: number;
  readonly graceMs: number;

  private constructor(sizeMs: number, advanceMs: number, graceMs: number) {
    check('sizeMs', sizeMs, 1);
    check('advanceMs', advanceMs, 1);
    check('graceMs', graceMs, 0);
    if (advanceMs > sizeMs) {
      throw new CdcError('CONFIG_INVALID', `advanceMs (${advanceMs}) must not exceed sizeMs (${sizeMs})`, {
        context: { sizeMs, advanceMs },
      });
    }
    this.sizeMs = sizeMs;
    this.advanceMs = advanceMs;
    this.graceMs = graceMs;
  }

  static tumbling(sizeMs: number, options: { graceMs: number }): TimeWindows {
    return new TimeWindows(sizeMs, sizeMs, options.graceMs);
  }

  static hopping(sizeMs: number, advanceMs: number, options: { graceMs: number }): TimeWindows {
    return new TimeWindows(sizeMs, advanceMs, options.graceMs);
  }

  /** The windows that contain `timestamp`, oldest first (windows start at multiples of the advance). */
  /** Whether some window ends in `(after, upTo]` (ends lie on `k·advance + size`); true from −∞. */
  hasEndIn(after: number, upTo: number): boolean {
    if (!Number.isFinite(after)) return true;
    if (upTo <= after) return false;
    return (
      Math.floor((upTo - this.sizeMs) / this.advanceMs) > Math.floor((after - this.sizeMs) / this.advanceMs)
    );
  }

  windowsFor(timestamp: number): Window[] {
    const out: Window[] = [];
    const lastStart = timestamp - (((timestamp % this.advanceMs) + this.advanceMs) % this.advanceMs);
    for (let start = lastStart; start > timestamp - this.sizeMs; start -= this.advanceMs) {
      out.unshift({ start, end: start + this.sizeMs });
    }
    return out;
  }
}

/**
 * Sessions per key: records closer than `gapMs` to each other fall into one session
 * `[first, last]`. A session is final once the stream time reaches `end + gap + grace`; a record
 * that arrives after that starts a new session (it never reopens a closed one) or, when its own
 * session would already be closed, is late.
 */
export class SessionWindows {
  readonly kind = 'session';
  readonly gapMs: number;
  readonly graceMs: number;

  private constructor(gapMs: number, graceMs: number) {
    check('gapMs', gapMs, 1);
    check('graceMs', graceMs, 0);
    this.gapMs = gapMs;
    this.graceMs = graceMs;
  }

  static inactivityGap(gapMs: number, options: { graceMs: number }): SessionWindows {
    return new SessionWindows(gapMs, options.graceMs);
  }
}
