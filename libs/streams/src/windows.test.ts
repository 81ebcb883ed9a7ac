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

  it('tells whether a window ends in a range, as a scan of every window end would', () => {
    for (const w of [TimeWindows.tumbling(10, { graceMs: 0 }), TimeWindows.hopping(10, 3, { graceMs: 0 })]) {
      const ends = new Set<number>();
      for (let t = -60; t < 60; t++) for (const x of w.windowsFor(t)) ends.add(x.end);
      for (let after = -40; after < 40; after++) {
        for (let upTo = after - 2; upTo < after + 15; upTo++) {
          const scan = [...ends].some((e) => e > after && e <= upTo);
          expect(w.hasEndIn(after, upTo), `${w.advanceMs}: (${after}, ${upTo}]`).toBe(scan);
        }
      }
      expect(w.hasEndIn(Number.NEGATIVE_INFINITY, 0)).toBe(true);
    }
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
