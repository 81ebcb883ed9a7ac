import { ManualClock } from '@cdc/core';
import { describe, expect, it } from 'vitest';
import { SnapshotRateMeter } from './snapshot-rate.ts';

describe('SnapshotRateMeter', () => {
  it('gives rows/s since the first report and the seconds left at that rate', () => {
    const clock = new ManualClock(0);
    const meter = new SnapshotRateMeter(clock);
    expect(meter.measure('t', 0, 100_000)).toBeUndefined();
    void clock.advance(500);
    expect(meter.measure('t', 5_000, 100_000)).toBeUndefined();
    void clock.advance(1_500);
    expect(meter.measure('t', 20_000, 100_000)).toEqual({ rowsPerSecond: 10_000, etaSeconds: 8 });
    void clock.advance(8_000);
    expect(meter.measure('t', 100_000, 100_000)).toEqual({ rowsPerSecond: 10_000, etaSeconds: 0 });
  });

  it('counts a resumed snapshot from its resume point, and starts over when the rows go back', () => {
    const clock = new ManualClock(0);
    const meter = new SnapshotRateMeter(clock);
    meter.measure('t', 60_000, 100_000);
    void clock.advance(2_000);
    expect(meter.measure('t', 70_000, 100_000)).toEqual({ rowsPerSecond: 5_000, etaSeconds: 6 });
    meter.measure('t', 0, 100_000);
    void clock.advance(1_000);
    expect(meter.measure('t', 1_000, 100_000)).toEqual({ rowsPerSecond: 1_000, etaSeconds: 99 });
  });

  it('keeps tables apart and never divides by a zero rate', () => {
    const clock = new ManualClock(0);
    const meter = new SnapshotRateMeter(clock);
    meter.measure('a', 0, 10);
    meter.measure('b', 0, 10);
    void clock.advance(1_000);
    expect(meter.measure('a', 0, 10)).toEqual({ rowsPerSecond: 0, etaSeconds: 10 });
    expect(meter.measure('b', 10, 10)).toEqual({ rowsPerSecond: 10, etaSeconds: 0 });
  });

  it('gives the rate of a table that finishes within a second of its first report (a resumed snapshot)', () => {
    const clock = new ManualClock(0);
    const meter = new SnapshotRateMeter(clock);
    meter.measure('t', 37_000, 40_000);
    void clock.advance(300);
    expect(meter.measure('t', 40_000, 40_000)).toEqual({ rowsPerSecond: 10_000, etaSeconds: 0 });
  });
});
