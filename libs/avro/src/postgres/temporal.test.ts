import { describe, expect, it } from 'vitest';
import { timeFromText, timestampFromText, timestamptzFromText } from './temporal.ts';

// Times and instants are computed in plain numbers where that is exact and in BigInt beyond:
// both must give what the calendar says, at the edges of the fast range too.
const pad = (n: number, w: number) => String(n).padStart(w, '0');

describe('temporal text → microseconds', () => {
  it('matches the calendar (Date.UTC) for instants across years 1000–9999, any offset and fraction', () => {
    for (let i = 0; i < 5_000; i++) {
      const year = 1000 + ((i * 7919) % 9000);
      const month = 1 + (i % 12);
      const day = 1 + ((i * 13) % 28);
      const [h, mi, s] = [(i * 5) % 24, (i * 11) % 60, (i * 17) % 60];
      const frac = i % 3 === 0 ? '' : `.${pad((i * 104_729) % 1_000_000, 6).slice(0, 1 + (i % 6))}`;
      const offH = (i * 3) % 15;
      const offM = i % 4 === 0 ? 30 : 0;
      const sign = i % 2 === 0 ? '+' : '-';
      const offset = `${sign}${pad(offH, 2)}${offM ? `:${pad(offM, 2)}` : ''}`;
      const text = `${pad(year, 4)}-${pad(month, 2)}-${pad(day, 2)} ${pad(h, 2)}:${pad(mi, 2)}:${pad(s, 2)}${frac}`;
      const fracMicros = BigInt(frac ? frac.slice(1).padEnd(6, '0') : '0');
      const local = BigInt(Date.UTC(year, month - 1, day, h, mi, s)) * 1000n + fracMicros;
      const offsetMicros = BigInt((offH * 60 + offM) * 60) * 1_000_000n * (sign === '-' ? -1n : 1n);
      expect(timestampFromText(text), text).toBe(local);
      expect(timestamptzFromText(`${text}${offset}`), `${text}${offset}`).toBe(local - offsetMicros);
    }
  });

  it('is exact far from 1970 (BigInt range) and at the edge of the number range', () => {
    // 100,000 days after 1970-01-01 is 2243-10-17; one day either side of the switch.
    for (const day of ['2243-10-16', '2243-10-17', '2243-10-18', '1696-03-16', '1696-03-17', '1696-03-18']) {
      const [y, m, d] = day.split('-').map(Number) as [number, number, number];
      const expected = BigInt(Date.UTC(y, m - 1, d, 23, 59, 59)) * 1000n + 999_999n;
      expect(timestamptzFromText(`${day} 23:59:59.999999+00`)).toBe(expected);
    }
    // Far beyond the number range either way (Date.UTC reaches ±275,760 years).
    expect(timestamptzFromText('275000-01-01 12:00:00.000001+02')).toBe(
      BigInt(Date.UTC(275000, 0, 1, 10)) * 1000n + 1n,
    );
    expect(timestampFromText('10000-03-01 00:00:00 BC')).toBe(BigInt(Date.UTC(-9999, 2, 1)) * 1000n);
    expect(timestampFromText('0001-01-01 00:00:00 BC')).toBe(-62_167_219_200_000_000n);
    expect(timeFromText('24:00:00')).toBe(86_400_000_000n);
    expect(timeFromText('12:34:56.5')).toBe(45_296_500_000n);
    expect(() => timeFromText('24:00:01')).toThrow(/not a valid time/);
  });
});
