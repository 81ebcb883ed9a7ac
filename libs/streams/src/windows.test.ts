import { describe, expect, it } from 'vitest';
import { SessionWindows, TimeWindows } from './windows.ts';

describe('TimeWindows', () => {
  it('puts a record into exactly one tumbling window, start inclusive and end exclusive', () => {
    const w = TimeWindows.tumbling(10, { graceMs: 0 });
    expect(w.windowsFor(0)).toEqual([{ start: 0, end: 10 }]);
    expect(w.windowsFor(9)).toEqual([{ start: 0, end: 10 }]);
    expect(w.windowsFor(10)).toEqual([{ start: 10, end: 20 }]);
  });

  it('puts a record into size/advance hopping windows, oldest first', () => {
    const w = TimeWindows.hopping(10, 5, { graceMs: 0 });
    expect(w.windowsFor(12)).toEqual([
      { start: 5, end: 15 },
      { start: 10, end: 20 },
    ]);
    expect(w.windowsFor(10)).toEqual([
      { start: 5, end: 15 },
      { start: 10, end: 20 },
    ]);
    expect(
      TimeWindows.hopping(10, 3, { graceMs: 0 })
        .windowsFor(9)
        .map((x) => x.start),
    ).toEqual([0, 3, 6, 9]);
  });

  it('handles timestamps before the epoch', () => {
    expect(TimeWindows.tumbling(10, { graceMs: 0 }).windowsFor(-1)).toEqual([{ start: -10, end: 0 }]);
  });

  it('rejects sizes, advances and grace periods that make no sense, naming the field', () => {
    expect(() => TimeWindows.tumbling(0, { graceMs: 0 })).toThrow(/sizeMs/);
    expect(() => TimeWindows.hopping(10, 11, { graceMs: 0 })).toThrow(/advanceMs/);
    expect(() => TimeWindows.tumbling(10, { graceMs: -1 })).toThrow(/graceMs/);
    expect(() => SessionWindows.inactivityGap(0, { graceMs: 0 })).toThrow(/gapMs/);
  });
});
