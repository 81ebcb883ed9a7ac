import { describe, expect, it } from 'vitest';
import {
  date32Value,
  dateTime64Text,
  dateTime64Value,
  exactTimestampText,
  MAX_DAYS,
  MIN_DAYS,
} from './temporal-range.ts';

const US_PER_DAY = 86_400_000_000n;
const notes = () => {
  const seen: [string, string][] = [];
  return { seen, note: (path: string, exact: string) => seen.push([path, exact]) };
};

describe('Date32 values', () => {
  it('writes every in-range day as text, on both sides of 1970 and at both bounds', () => {
    const n = notes();
    expect(date32Value(MIN_DAYS, n.note)).toBe('1900-01-01');
    expect(date32Value(-1, n.note)).toBe('1969-12-31');
    expect(date32Value(0, n.note)).toBe('1970-01-01');
    expect(date32Value(MAX_DAYS, n.note)).toBe('2299-12-31');
    expect(n.seen).toEqual([]);
  });

  it('clamps what Date32 cannot hold and notes PostgreSQL’s exact text', () => {
    const n = notes();
    expect(date32Value(MIN_DAYS - 1, n.note)).toBe('1900-01-01');
    expect(date32Value(MAX_DAYS + 1, n.note)).toBe('2299-12-31');
    expect(date32Value(2 ** 31 - 1, n.note)).toBe('2299-12-31');
    expect(date32Value(-(2 ** 31), n.note)).toBe('1900-01-01');
    expect(date32Value(-4_432_640 /* 10167-... BC? */, n.note)).toBe('1900-01-01');
    expect(n.seen.slice(0, 4)).toEqual([
      ['', '1899-12-31'],
      ['', '2300-01-01'],
      ['', 'infinity'],
      ['', '-infinity'],
    ]);
    expect(n.seen[4]?.[1]).toMatch(/ BC$/);
  });
});

describe('DateTime64 values', () => {
  it('formats ticks as UTC text, exact to the tick, before 1970 too', () => {
    expect(dateTime64Text(-1n, 6)).toBe('1969-12-31 23:59:59.999999');
    expect(dateTime64Text(500_000n, 6)).toBe('1970-01-01 00:00:00.500000');
    expect(dateTime64Text(-1n, 3)).toBe('1969-12-31 23:59:59.999');
    expect(dateTime64Text(1_700_000_000_123_456n, 6)).toBe('2023-11-14 22:13:20.123456');
    expect(dateTime64Text(-2_208_988_800_000_000n + 1n, 6)).toBe('1900-01-01 00:00:00.000001');
  });

  it('keeps the bounds exactly and clamps beyond them, noting the source text', () => {
    const n = notes();
    const min = BigInt(MIN_DAYS) * US_PER_DAY;
    const max = BigInt(MAX_DAYS + 1) * US_PER_DAY - 1n;
    expect(dateTime64Value(min, 'timestamp-micros', n.note)).toBe('1900-01-01 00:00:00.000000');
    expect(dateTime64Value(max, 'local-timestamp-micros', n.note)).toBe('2299-12-31 23:59:59.999999');
    expect(n.seen).toEqual([]);
    expect(dateTime64Value(min - 1n, 'local-timestamp-micros', n.note)).toBe('1900-01-01 00:00:00.000000');
    expect(dateTime64Value(max + 1n, 'timestamp-micros', n.note)).toBe('2299-12-31 23:59:59.999999');
    expect(dateTime64Value(2n ** 63n - 1n, 'timestamp-micros', n.note)).toBe('2299-12-31 23:59:59.999999');
    expect(dateTime64Value(-(2n ** 63n), 'local-timestamp-micros', n.note)).toBe(
      '1900-01-01 00:00:00.000000',
    );
    expect(n.seen).toEqual([
      ['', '1899-12-31 23:59:59.999999'],
      ['', '2300-01-01 00:00:00+00'],
      ['', 'infinity'],
      ['', '-infinity'],
    ]);
  });

  it('notes BSON dates in ISO 8601, with expanded years beyond 9999 and before year 0', () => {
    expect(exactTimestampText(-5_364_662_400_000n, 'timestamp-millis')).toBe('1800-01-01T00:00:00.000Z');
    expect(exactTimestampText(253_402_300_800_000n, 'timestamp-millis')).toBe('+010000-01-01T00:00:00.000Z');
    const early = -62_198_755_200_000n; // 1 BC (year 0) is -000000; one year before: -000001
    expect(exactTimestampText(early, 'timestamp-millis')).toBe(new Date(Number(early)).toISOString());
    for (const ms of [-1n, 0n, 4_102_444_800_001n, -62_300_000_000_000n, 8_000_000_000_000_000n])
      expect(exactTimestampText(ms, 'timestamp-millis')).toBe(new Date(Number(ms)).toISOString());
    const n = notes();
    expect(dateTime64Value(-5_364_662_400_000n, 'timestamp-millis', n.note)).toBe('1900-01-01 00:00:00.000');
    expect(n.seen).toEqual([['', '1800-01-01T00:00:00.000Z']]);
  });
});
