import { describe, expect, it } from 'vitest';
import { ManualClock } from './clock.ts';
import { CdcError } from './errors.ts';
import { type AttemptFailure, supervise } from './retry.ts';

const unavailable = () => new CdcError('KAFKA_UNAVAILABLE', 'broker down', { retriable: true });
const tick = () => new Promise((r) => setImmediate(r));

/** Advances the clock through every sleep until `done` settles. */
async function drive<T>(clock: ManualClock, done: Promise<T>, stepMs = 1_000): Promise<void> {
  let settled = false;
  void done.then(
    () => (settled = true),
    () => (settled = true),
  );
  for (let i = 0; i < 200 && !settled; i++) {
    await tick();
    if (clock.pending > 0) await clock.advance(stepMs);
  }
}

describe('supervise', () => {
  it('runs the attempt again after each retriable failure, with growing delays, until it succeeds', async () => {
    const clock = new ManualClock();
    const failures: AttemptFailure[] = [];
    let calls = 0;
    const done = supervise(
      async () => {
        calls++;
        if (calls < 5) throw unavailable();
        return 'running';
      },
      new AbortController().signal,
      { clock, random: () => 1, initialDelayMs: 100, maxDelayMs: 500, onFailure: (f) => failures.push(f) },
    );
    await drive(clock, done);
    await expect(done).resolves.toBe('running');
    expect(calls).toBe(5);
    expect(failures.map((f) => [f.attempt, f.delayMs, f.retrying])).toEqual([
      [1, 100, true],
      [2, 200, true],
      [3, 400, true],
      [4, 500, true],
    ]);
  });

  it('has no limit by default: a broker down for 50 attempts is still waited for', async () => {
    const clock = new ManualClock();
    let calls = 0;
    const done = supervise(
      async () => {
        if (++calls <= 50) throw unavailable();
      },
      new AbortController().signal,
      { clock, random: () => 0.5 },
    );
    await drive(clock, done, 30_000);
    await expect(done).resolves.toBeUndefined();
    expect(calls).toBe(51);
  });

  it('throws a failure that is not retriable at once, reporting it as not retrying', async () => {
    const clock = new ManualClock();
    const failures: AttemptFailure[] = [];
    const fatal = new CdcError('SOURCE_POSITION_LOST', 'slot gone');
    const done = supervise(
      async () => {
        throw fatal;
      },
      new AbortController().signal,
      { clock, onFailure: (f) => failures.push(f) },
    );
    await expect(done).rejects.toBe(fatal);
    expect(failures).toEqual([{ err: fatal, attempt: 1, retrying: false, delayMs: 0 }]);
  });

  it('gives up after maxAttempts failures in a row when a limit is configured', async () => {
    const clock = new ManualClock();
    let calls = 0;
    const done = supervise(
      async () => {
        calls++;
        throw unavailable();
      },
      new AbortController().signal,
      { clock, maxAttempts: 3 },
    );
    await drive(clock, done);
    await expect(done).rejects.toMatchObject({ code: 'KAFKA_UNAVAILABLE' });
    expect(calls).toBe(3);
  });

  it('starts the backoff over after an attempt that ran long enough', async () => {
    const clock = new ManualClock();
    const failures: AttemptFailure[] = [];
    let calls = 0;
    const done = supervise(
      async () => {
        calls++;
        // The third attempt runs for two minutes before it fails.
        if (calls === 3) await clock.sleep(120_000);
        if (calls < 5) throw unavailable();
      },
      new AbortController().signal,
      {
        clock,
        random: () => 1,
        initialDelayMs: 100,
        resetAfterMs: 60_000,
        onFailure: (f) => failures.push(f),
      },
    );
    await drive(clock, done, 1_000);
    await expect(done).resolves.toBeUndefined();
    expect(failures.map((f) => f.attempt)).toEqual([1, 2, 1, 2]);
  });

  it('resolves when stopped, during an attempt or during the wait, without reporting the interrupted attempt', async () => {
    const clock = new ManualClock();
    const stop = new AbortController();
    const failures: AttemptFailure[] = [];
    const done = supervise(
      async (signal) => {
        await clock.sleep(10_000, signal);
      },
      stop.signal,
      { clock, onFailure: (f) => failures.push(f) },
    );
    await tick();
    stop.abort(new Error('SIGTERM'));
    await expect(done).resolves.toBeUndefined();
    expect(failures).toEqual([]);
  });
});
