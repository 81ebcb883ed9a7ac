import { date32Value, dateTime64Text, MAX_DAYS, MIN_DAYS, mapSchema, RawBytes } from '@cdc/clickhouse/schema';
import { describe, expect, it } from 'vitest';
import {
  JsonOut,
  writeDate,
  writeDateTime,
  writeDecimal,
  writeFloat,
  writeInt,
  writeQuotedInteger,
  writeQuotedMillis,
  writeQuotedVersion,
  writeRawBytes,
  writeString,
} from './json-out.ts';
import { encodeRows, LineWriter } from './row-encoder.ts';

/** What a writer writes, as a string of bytes. */
function written(write: (o: JsonOut) => void): string {
  const w = new LineWriter(4);
  const o = new JsonOut();
  o.begin(w);
  write(o);
  o.end();
  return w.bytes().toString('latin1');
}

/** The value as the row encoder writes it (the line `{"v":…}` without its frame). */
const encoded = (v: unknown) => encodeRows([{ v }]).toString('latin1').slice(5, -2);

/** A deterministic generator (mulberry32). */
function random(seed: number): () => number {
  let a = seed;
  return () => {
    a = (a + 0x6d2b79f5) | 0;
    let t = Math.imul(a ^ (a >>> 15), 1 | a);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

describe('json-out writes what the row encoder writes', () => {
  it('for every day Date32 holds', () => {
    for (let d = MIN_DAYS; d <= MAX_DAYS; d++) {
      const got = written((o) => writeDate(o, d));
      if (got !== `"${date32Value(d)}"`) expect(got).toBe(`"${date32Value(d)}"`);
    }
  });

  it('for timestamps in ms and µs: day boundaries on both sides of 1970, the range ends, random ones', () => {
    const next = random(1);
    const cases: number[] = [0, -1, 1, 86_399_999, 86_400_000, -86_400_000, -86_400_001];
    for (const unit of [1, 1000])
      for (const days of [MIN_DAYS, -1, 0, 1, 20_000, MAX_DAYS])
        for (const delta of [0, 1, -1]) cases.push((days * 86_400_000 + delta) * unit);
    for (let i = 0; i < 20_000; i++) cases.push(Math.round((next() - 0.5) * 2 * 4_000_000_000_000));
    for (const digits of [3, 6] as const) {
      const unit = digits === 3 ? 1 : 1000;
      const min = MIN_DAYS * 86_400_000 * unit;
      const max = (MAX_DAYS + 1) * 86_400_000 * unit - 1;
      for (const c of cases) {
        const ticks = digits === 6 ? c * (c % 7 === 0 ? 1 : 1000) + (c % 1000) : c;
        if (ticks < min || ticks > max || !Number.isSafeInteger(ticks)) continue;
        const want = `"${dateTime64Text(BigInt(ticks), digits)}"`;
        const got = written((o) => writeDateTime(o, ticks, digits));
        if (got !== want) expect(got).toBe(want);
      }
    }
  });

  it('for timestamps one after another: the same minute, the next, back again, ms and µs mixed', () => {
    // One JsonOut for all: what it kept of the last minute must never leak into the next value.
    const w = new LineWriter(4);
    const o = new JsonOut();
    const next = random(5);
    let ticks = 1_796_000_000_000; // late 2026, in ms
    o.begin(w);
    for (let i = 0; i < 20_000; i++) {
      const digits = next() < 0.3 ? 6 : 3;
      // Mostly within seconds of the last; sometimes either side of a minute, or a jump (1900–2100).
      const r = next();
      ticks =
        r < 0.8
          ? ticks + Math.round((next() - 0.4) * 20_000)
          : r < 0.9
            ? Math.floor(ticks / 60_000) * 60_000 + (next() < 0.5 ? -1 : 60_000)
            : Math.round((next() - 0.5) * 4_000_000_000_000);
      const t = digits === 6 ? ticks * 1000 + Math.floor(next() * 1000) : ticks;
      const at = o.pos;
      writeDateTime(o, t, digits);
      const got = o.buf.toString('latin1', at, o.pos);
      const want = `"${dateTime64Text(BigInt(t), digits)}"`;
      if (got !== want) expect(`${got} after ${i} values`).toBe(want);
    }
  });

  it("for a streamed change's version: LSNs up to 2^53 as numbers, beyond as bigints, every index", () => {
    const next = random(6);
    const cases: [number | bigint, number][] = [
      [2n ** 53n, 1],
      [2n ** 64n - 1n, 2 ** 33 - 1],
      [0, 1],
      [1, 1],
      [0, 2 ** 33 - 1],
      [2 ** 53 - 1, 2 ** 33 - 1],
      [2 ** 32, 1],
      [99_999_999, 2 ** 33 - 1], // every part carries
      [100_000_000, 1],
    ];
    for (let i = 0; i < 20_000; i++)
      cases.push([Math.floor(next() * 2 ** Math.floor(next() * 54)), Math.floor(next() * 2 ** 32) * 2 + 1]);
    for (const [lsn, low] of cases) {
      const want = `"${(BigInt(lsn) << 33n) + BigInt(low)}"`;
      const got = written((o) => writeQuotedVersion(o, lsn, low));
      if (got !== want) expect(got).toBe(want);
    }
  });

  it('for source times in ms as seconds with three decimals, on either side of 2^31 seconds', () => {
    const next = random(7);
    const cases = [
      1000,
      1001,
      9999,
      10_000,
      1_735_689_600_000,
      2 ** 31 * 1000 - 1,
      2 ** 31 * 1000,
      2 ** 53 - 1,
    ];
    for (let i = 0; i < 20_000; i++)
      cases.push(1000 + Math.floor(next() * 2 ** Math.floor(10 + next() * 43)));
    for (const ms of cases) {
      const digits = String(ms);
      const want = `"${digits.slice(0, -3)}.${digits.slice(-3)}"`;
      const got = written((o) => writeQuotedMillis(o, ms));
      if (got !== want) expect(got).toBe(want);
    }
  });

  it('for decimals of any length and sign, at every scale', () => {
    const next = random(2);
    for (let n = 0; n < 20_000; n++) {
      // Half of them six bytes or fewer (written as numbers), the rest up to 19 (as bigints).
      const len = Math.floor(next() * (n % 2 === 0 ? 7 : 20));
      const bytes = Buffer.from(Array.from({ length: len }, () => Math.floor(next() * 256)));
      if (n % 3 === 0 && len > 0) bytes[0] = 0xff;
      const scale = Math.floor(next() * 12);
      const mapping = mapSchema({ type: 'bytes', logicalType: 'decimal', precision: 38, scale } as never, {
        types: new Map(),
        wrapped: false,
      });
      const want = encoded(mapping.convert(bytes));
      const got = written((o) => writeDecimal(o, bytes, 0, len, scale));
      if (got !== want) expect(got).toBe(want);
    }
  });

  it('for integers: int32, longs up to 2^53 and past it (bigints), the edges of each base-10^8 part', () => {
    const next = random(3);
    const cases: number[] = [0, 1, -1, 9, 10, 99_999_999, 100_000_000, 2 ** 31 - 1, -(2 ** 31)];
    for (const edge of [1e8, 1e9, 1e15, 1e16, 2 ** 53])
      for (const d of [-1, 0, 1]) cases.push(edge + d, -(edge + d));
    for (let k = 1; k < 90_071_992; k += 9_999_991) cases.push(k * 1e8 - 1, k * 1e8, -(k * 1e8 - 1));
    for (let i = 0; i < 20_000; i++) {
      const magnitude = 10 ** Math.floor(next() * 16);
      cases.push(Math.round((next() - 0.5) * 2 * magnitude) || 0); // never -0: Avro ints have none
    }
    for (const n of cases) {
      if (!Number.isSafeInteger(n) && Math.abs(n) !== 2 ** 53) continue;
      const quoted = written((o) => writeQuotedInteger(o, n));
      if (quoted !== encoded(BigInt(n))) expect(quoted).toBe(encoded(BigInt(n)));
      if (n >= -(2 ** 31) && n < 2 ** 31) {
        const plain = written((o) => writeInt(o, n));
        if (plain !== encoded(n)) expect(plain).toBe(encoded(n));
      }
    }
    expect(written((o) => writeQuotedInteger(o, 2n ** 63n - 1n))).toBe('"9223372036854775807"');
  });

  it('for strings of any bytes, UTF-8 or not, and raw bytes', () => {
    const next = random(3);
    const pick = [
      0x00, 0x08, 0x09, 0x0a, 0x1f, 0x22, 0x5c, 0x41, 0x7f, 0x80, 0xc3, 0xa9, 0xed, 0xa0, 0xf0, 0x9f, 0xff,
    ];
    for (let n = 0; n < 5_000; n++) {
      const len = Math.floor(next() * 12);
      const bytes = Buffer.from(
        Array.from({ length: len }, () =>
          next() < 0.5 ? pick[Math.floor(next() * pick.length)]! : Math.floor(next() * 256),
        ),
      );
      const text = written((o) => writeString(o, bytes, 0, len));
      const want = encoded(bytes.toString('utf8'));
      if (text !== want) expect(text).toBe(want);
      const raw = written((o) => writeRawBytes(o, bytes, 0, len));
      const rawWant = encoded(new RawBytes(bytes));
      if (raw !== rawWant) expect(raw).toBe(rawWant);
    }
    const emoji = Buffer.from('é ✓ 😀 \u2028 "q" \\ \n');
    expect(written((o) => writeString(o, emoji, 0, emoji.length))).toBe(encoded(emoji.toString()));
  });

  it('for floats, the ones JSON cannot hold included', () => {
    const next = random(4);
    const cases = [Number.NaN, Infinity, -Infinity, -0, 0, 1e21, 1e-7, 5e-324, -1.7976931348623157e308, 0.1];
    for (let i = 0; i < 2_000; i++) cases.push((next() - 0.5) * 10 ** Math.floor(next() * 40 - 20));
    for (const f of cases) {
      const f32 = Math.fround(f);
      expect(written((o) => writeFloat(o, f))).toBe(encoded(f));
      expect(written((o) => writeFloat(o, f32))).toBe(encoded(f32));
    }
  });
});
