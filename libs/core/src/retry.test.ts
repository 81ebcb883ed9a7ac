import { describe, expect, it } from 'vitest';
import { ManualClock } from './clock.ts';
import { CdcError } from './errors.ts';
import { backoffDelay, retry } from './retry.ts';

const unavailable = () => new CdcError('KAFKA_UNAVAILABLE', 'broker down', { retriable: true });

describe('retry', () => {
  it('retries retriable failures with growing, jittered delays until the call succeeds', async () => {
    const clock = new ManualClock();
    const delays: number[] = [];
    let calls = 0;
    const done = retry(
      async () => {
        calls++;
        if (calls < 4) throw unavailable();
        return 'ok';
      },
      {
        clock,
        random: () => 1,
        initialDelayMs: 100,
        maxDelayMs: 1000,
        onRetry: (_e, _a, d) => delays.push(d),
      },
    );
    for (let i = 0; i < 3; i++) {
      while (clock.pending === 0) await new Promise((r) => setImmediate(r));
      await clock.advance(1000);
    }
    await expect(done).resolves.toBe('ok');
    expect(calls).toBe(4);
    expect(delays).toEqual([100, 200, 400]);
  });

  it('never retries programming errors or errors that are not retriable', async () => {
    for (const err of [
      new TypeError('x is undefined'),
      new CdcError('SCHEMA_INCOMPATIBLE', 'no'),
      new Error('plain'),
    ]) {
      let calls = 0;
      await expect(
        retry(async () => {
          calls++;
          throw err;
        }),
      ).rejects.toBe(err);
      expect(calls).toBe(1);
    }
  });

  it('gives up after the configured number of retries with the last error', async () => {
    let calls = 0;
    await expect(
      retry(
        async () => {
          calls++;
          throw unavailable();
        },
        { retries: 2, initialDelayMs: 0 },
      ),
    ).rejects.toMatchObject({ code: 'KAFKA_UNAVAILABLE' });
    expect(calls).toBe(3);
  });

  it('keeps jittered delays within [0, min(max, initial * 2^attempt)]', () => {
    for (let attempt = 0; attempt < 40; attempt++) {
      const cap = Math.min(5000, 50 * 2 ** attempt);
      expect(backoffDelay(attempt, 50, 5000, () => 0)).toBe(0);
      expect(backoffDelay(attempt, 50, 5000, () => 0.999999)).toBeLessThanOrEqual(cap);
    }
  });
});
