import { ManualClock } from '@cdc/core';
import { describe, expect, it } from 'vitest';
import { ReplayProgress } from './rebuild.ts';

describe('when a rebuild has read its topics to the end', () => {
  it('allows a partition to stop one short of its end (a commit marker) only once the replay went quiet for 2 s', async () => {
    const clock = new ManualClock(1_000);
    const progress = new ReplayProgress(clock);
    progress.observe(0, 0);
    expect(progress.slack).toBe(0n);
    await clock.advance(2_001);
    expect(progress.slack).toBe(1n);
    // Records moving again restart the quiet time.
    progress.observe(10, 0);
    expect(progress.slack).toBe(0n);
    await clock.advance(1_500);
    progress.observe(10, 0);
    expect(progress.slack).toBe(0n);
    await clock.advance(600);
    expect(progress.slack).toBe(1n);
  });

  it('does not count a replay as quiet while records are buffered', async () => {
    const clock = new ManualClock(0);
    const progress = new ReplayProgress(clock);
    progress.observe(5, 0);
    await clock.advance(1_900);
    progress.observe(5, 3);
    await clock.advance(1_900);
    expect(progress.slack).toBe(0n);
    await clock.advance(200);
    expect(progress.slack).toBe(1n);
  });
});
