import { type AttemptFailure, ManualClock, supervise } from '@cdc/core';
import { describe, expect, it } from 'vitest';
import {
  isCrashLoop,
  DEFAULT_RESTART_POLICY as P,
  recentExits,
  recordExit,
  restartSchedule,
} from './restart-policy.ts';
import type { ServiceExit } from './state-dir.ts';

const exitAt = (ms: number, code: number | null = 1): ServiceExit => ({
  at: new Date(ms).toISOString(),
  code,
  signal: null,
  lastError: '',
});

/** The delays core's restart loop waits with the supervisor's schedule, for processes that live `uptimesMs` each. */
async function delaysFor(uptimesMs: number[], random: () => number): Promise<number[]> {
  const clock = new ManualClock();
  const stop = new AbortController();
  const failures: AttemptFailure[] = [];
  let run = 0;
  const done = supervise(
    async () => {
      const uptime = uptimesMs[run++];
      if (uptime === undefined) {
        stop.abort();
        return;
      }
      await clock.sleep(uptime);
      throw new Error(`exit ${run}`);
    },
    stop.signal,
    { ...restartSchedule(P), clock, random, onFailure: (f) => failures.push(f) },
  );
  for (let i = 0; i < 200 && !stop.signal.aborted; i++) {
    await new Promise((r) => setImmediate(r));
    await clock.advance(1_000);
  }
  await done;
  return failures.map((f) => f.delayMs);
}

describe('the restart schedule', () => {
  it('doubles the ceiling from 1 s up to 30 s, every exit restarted, the delay drawn below it (full jitter)', async () => {
    expect(await delaysFor(Array(8).fill(1_000), () => 1)).toEqual([
      1_000, 2_000, 4_000, 8_000, 16_000, 30_000, 30_000, 30_000,
    ]);
    expect(await delaysFor([1_000, 1_000, 1_000], () => 0.5)).toEqual([500, 1_000, 2_000]);
  });

  it('starts over with the shortest delay once the service stayed up 60 s', async () => {
    expect(await delaysFor([1_000, 1_000, 1_000, 60_000, 1_000], () => 1)).toEqual([
      1_000, 2_000, 4_000, 1_000, 2_000,
    ]);
  });
});

describe('crash-loop detection', () => {
  const now = Date.parse('2025-01-01T12:00:00Z');

  it('is 5 or more unrequested exits within the last 5 minutes', () => {
    const four = [1, 2, 3, 4].map((m) => exitAt(now - m * 60_000));
    expect(isCrashLoop(four, now, P)).toBe(false);
    const five = [...four, exitAt(now - 5_000, 2)];
    expect(isCrashLoop(five, now, P)).toBe(true);
    expect(recentExits(five, now, P)).toBe(5);
  });

  it('forgets exits older than the window', () => {
    const old = [10, 9, 8, 7].map((m) => exitAt(now - m * 60_000));
    const exits = [...old, exitAt(now - 1_000)];
    expect(recentExits(exits, now, P)).toBe(1);
    expect(isCrashLoop(exits, now, P)).toBe(false);
  });

  it('keeps only the newest exits, newest last', () => {
    let exits: ServiceExit[] = [];
    for (let i = 0; i < 25; i++) exits = recordExit(exits, exitAt(now + i * 1_000, i), P.keepExits);
    expect(exits).toHaveLength(20);
    expect(exits[0]?.code).toBe(5);
    expect(exits.at(-1)?.code).toBe(24);
  });
});
