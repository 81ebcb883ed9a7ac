/**
 * A JSONEachRow line written in place, value by value, straight from Avro bytes (`transcoder.ts`):
 * each writer here gives the bytes `LineWriter.write` gives for the value `RecordDecoder` would
 * have built from the same bytes (a string as `JSON.stringify` escapes what avsc decodes, bytes as
 * `rawJsonString`, a long quoted, a date as `date32Value` writes it, …). `row-encoder.ts` stays the
 * reference: the tests run both on the same records and compare the lines.
 */
import { isUtf8 } from 'node:buffer';
import { civilNumberFromDays } from '@cdc/avro';
import { utf8 } from './avro-cursor.ts';
import type { LineWriter } from './row-encoder.ts';

/** Slots of `JsonOut`'s day and minute caches (a power of two). */
const CACHE_SLOTS = 64;
/** No day or minute of 1900–2299 (the range the callers check). */
const NO_SLOT = -(2 ** 31);
/** `"YYYY-MM-DD HH:MM`. */
const MINUTE_TEXT = 17;

/** The line being written: `buf` (the writer's, growing as needed) and the position in it. */
export class JsonOut {
  buf: Buffer;
  pos = 0;
  private writer: LineWriter | undefined;

  constructor() {
    this.buf = Buffer.alloc(0);
  }

  /** Starts a line at the end of `writer`. */
  begin(writer: LineWriter): void {
    this.writer = writer;
    this.pos = writer.length;
    this.buf = writer.roomAt(this.pos, 256);
  }

  /** Room for `bytes` more. */
  ensure(bytes: number): void {
    if (this.pos + bytes > this.buf.length) this.buf = this.writer!.roomAt(this.pos, bytes);
  }

  /** Ends the line (the `\n` included) in the writer. */
  end(): void {
    this.writer!.endLine(this.pos);
    this.writer = undefined;
  }

  /** Bytes known in advance (a column's `,"name":`, a constant): `ensure` is the caller's. */
  bytes(b: Uint8Array): void {
    const n = b.length;
    if (n > 32) this.buf.set(b, this.pos);
    else {
      // A loop beats `set`'s call for the few bytes of a column's name.
      const buf = this.buf;
      const p = this.pos;
      for (let i = 0; i < n; i++) buf[p + i] = b[i]!;
    }
    this.pos += n;
  }

  /**
   * Days written lately and their year·10000 + month·100 + day, by `days & 63` (a batch's rows
   * mostly share a few days; `NO_SLOT`: none).
   */
  private readonly civilDays = new Int32Array(CACHE_SLOTS).fill(NO_SLOT);
  private readonly civilYmd = new Int32Array(CACHE_SLOTS);

  /** `civilNumberFromDays` of `days` (year·10000 + month·100 + day) for 1900–2299, kept for the next ones. */
  civil(days: number): number {
    const slot = days & (CACHE_SLOTS - 1);
    if (this.civilDays[slot] !== days) {
      this.civilYmd[slot] = civilNumberFromDays(days);
      this.civilDays[slot] = days;
    }
    return this.civilYmd[slot]!;
  }

  /**
   * Minutes (since 1970) `writeDateTime` wrote lately and their `"YYYY-MM-DD HH:MM`, by
   * `minute & 63`: a batch's timestamps mostly fall in a few minutes, a column or two each.
   */
  readonly minutes = new Int32Array(CACHE_SLOTS).fill(NO_SLOT);
  readonly minuteTexts = Buffer.alloc(CACHE_SLOTS * MINUTE_TEXT);

  /** ASCII text (digits, a date): `ensure` is the caller's. */
  ascii(s: string): void {
    const buf = this.buf;
    let p = this.pos;
    for (let i = 0; i < s.length; i++) buf[p++] = s.charCodeAt(i);
    this.pos = p;
  }
}

const QUOTE = 0x22;
const BACKSLASH = 0x5c;
const HEX = '0123456789abcdef';

/** `\u00XX` of a control byte (lowercase hex, as `JSON.stringify` and `rawJsonString` write it); the next position. */
function unicodeEscape(buf: Buffer, p: number, b: number): number {
  buf[p] = BACKSLASH;
  buf[p + 1] = 0x75;
  buf[p + 2] = 0x30;
  buf[p + 3] = 0x30;
  buf[p + 4] = HEX.charCodeAt(b >> 4);
  buf[p + 5] = HEX.charCodeAt(b & 15);
  return p + 6;
}

/** `JSON.stringify`'s escape of a byte below 0x20, `"` or `\`; the next position. */
function jsonEscape(buf: Buffer, p: number, b: number): number {
  let c = 0;
  switch (b) {
    case QUOTE:
    case BACKSLASH:
      c = b;
      break;
    case 0x08:
      c = 0x62; // b
      break;
    case 0x09:
      c = 0x74; // t
      break;
    case 0x0a:
      c = 0x6e; // n
      break;
    case 0x0c:
      c = 0x66; // f
      break;
    case 0x0d:
      c = 0x72; // r
      break;
    default:
      return unicodeEscape(buf, p, b);
  }
  buf[p] = BACKSLASH;
  buf[p + 1] = c;
  return p + 2;
}

/**
 * The JSON string of the UTF-8 bytes `src[start, end)` as `JSON.stringify` writes the string avsc
 * decodes from them (`utf8Slice`): valid UTF-8 is copied as it is (JSON.stringify escapes no
 * character at or above U+0020 but lone surrogates, which valid UTF-8 cannot hold), with `"`, `\`
 * and control characters escaped; anything else goes through the decoder and JSON.stringify.
 */
export function writeString(o: JsonOut, src: Buffer, start: number, end: number): void {
  o.ensure((end - start) * 6 + 2);
  const buf = o.buf;
  const from = o.pos;
  let p = from;
  buf[p++] = QUOTE;
  let checked = false;
  for (let i = start; i < end; i++) {
    const b = src[i]!;
    if (b >= 0x20 && b !== QUOTE && b !== BACKSLASH) {
      if (b >= 0x80 && !checked) {
        if (!isUtf8(src.subarray(start, end))) {
          o.pos = from;
          const text = JSON.stringify(utf8(src, start, end));
          o.ensure(text.length * 3);
          o.pos += o.buf.write(text, o.pos, 'utf8');
          return;
        }
        checked = true;
      }
      buf[p++] = b;
    } else p = jsonEscape(buf, p, b);
  }
  buf[p++] = QUOTE;
  o.pos = p;
}

/** Bytes for a String column as `rawJsonString` writes them: raw, with `"`, `\` and control bytes escaped. */
export function writeRawBytes(o: JsonOut, src: Buffer, start: number, end: number): void {
  o.ensure((end - start) * 6 + 2);
  const buf = o.buf;
  let p = o.pos;
  buf[p++] = QUOTE;
  for (let i = start; i < end; i++) {
    const b = src[i]!;
    if (b === QUOTE || b === BACKSLASH) {
      buf[p++] = BACKSLASH;
      buf[p++] = b;
    } else if (b < 0x20) p = unicodeEscape(buf, p, b);
    else buf[p++] = b;
  }
  buf[p++] = QUOTE;
  o.pos = p;
}

/** A float as the row encoder writes it: JSON's number, or `"nan"`, `"inf"`, `"-inf"`, `"-0"`. */
export function writeFloat(o: JsonOut, n: number): void {
  o.ensure(32);
  if (Number.isFinite(n)) {
    if (n === 0 && 1 / n < 0) o.ascii('"-0"');
    else o.ascii(String(n));
  } else o.ascii(Number.isNaN(n) ? '"nan"' : n > 0 ? '"inf"' : '"-inf"');
}

/** An integer (a JS number, exact) as a JSON number. */
export function writeInt(o: JsonOut, n: number): void {
  o.ensure(24);
  o.pos = writeInteger(o.buf, o.pos, n);
}

/** A long as the row encoder writes a bigint: its decimal digits in quotes. */
export function writeQuotedInteger(o: JsonOut, n: number | bigint): void {
  o.ensure(48);
  const buf = o.buf;
  buf[o.pos++] = QUOTE;
  if (typeof n === 'number') o.pos = writeInteger(buf, o.pos, n);
  else o.ascii(String(n));
  buf[o.pos++] = QUOTE;
}

/** Text known to be ASCII (a date, a version) in quotes. */
export function writeQuotedAscii(o: JsonOut, s: string): void {
  o.ensure(s.length + 2);
  o.buf[o.pos++] = QUOTE;
  o.ascii(s);
  o.buf[o.pos++] = QUOTE;
}

/** Two digits of 0–99. */
function digits2(buf: Buffer, p: number, n: number): void {
  // In int32 (`| 0`): `%` of a double is a call to fmod, ten times the cost.
  const i = n | 0;
  const tens = (i / 10) | 0;
  buf[p] = 0x30 + tens;
  buf[p + 1] = 0x30 + i - tens * 10;
}

/** `count` decimal digits of `n` (an int32, 0 ≤ n < 10^count), zero-padded, at `buf[p]`. */
function writeDigits(buf: Buffer, p: number, n: number, count: number): void {
  for (let d = p + count - 1; d >= p; d--) {
    const q = (n / 10) | 0;
    buf[d] = 0x30 + n - q * 10;
    n = q;
  }
}

const E8 = 100_000_000;
/** 10^0 … 10^8. */
const POWERS_OF_TEN = [1, 10, 100, 1000, 10_000, 100_000, 1_000_000, 10_000_000, E8];

/** How many digits 0 ≤ n < 10^8 has. */
function digitCount(n: number): number {
  if (n < 10_000) return n < 10 ? 1 : n < 100 ? 2 : n < 1000 ? 3 : 4;
  return n < 100_000 ? 5 : n < 1_000_000 ? 6 : n < 10_000_000 ? 7 : 8;
}

/**
 * The decimal digits of an integer 0 ≤ n < 2^53, at least `minDigits` of them (zeros in front),
 * at `buf[p]`; the position past them. As `String(n).padStart(minDigits, '0')`, without the string:
 * in int32 arithmetic, in base-10^8 parts (n < 2^53 has at most two).
 */
function writeUnsigned(buf: Buffer, p: number, n: number, minDigits: number): number {
  if (n < E8) {
    const count = Math.max(digitCount(n), minDigits);
    writeDigits(buf, p, n, count);
    return p + count;
  }
  let high = Math.floor(n / E8);
  let low = n - high * E8;
  // Near 2^53 the quotient can round up to the next integer (its ulp is above 10^-8).
  if (low < 0) {
    high -= 1;
    low += E8;
  }
  const count = Math.max(digitCount(high), minDigits - 8);
  writeDigits(buf, p, high, count);
  writeDigits(buf, p + count, low, 8);
  return p + count + 8;
}

/** An exact integer |n| ≤ 2^53 as `String(n)` writes it, at `buf[p]`; the position past it. */
function writeInteger(buf: Buffer, p: number, n: number): number {
  if (n < 0) {
    buf[p++] = 0x2d;
    n = -n;
  }
  return writeUnsigned(buf, p, n, 1);
}

/** `YYYY-MM-DD` of days since 1970 inside 1900–2299 (a four-digit year), without quotes, at `buf[p]`. */
function writeDay(o: JsonOut, buf: Buffer, p: number, days: number): void {
  // Years 1900–2299: every figure here fits int32 and is positive (`| 0` truncates as floor).
  const ymd = o.civil(days) | 0;
  const y = (ymd / 10000) | 0;
  const century = (y / 100) | 0;
  const md = ymd - y * 10000;
  const month = (md / 100) | 0;
  digits2(buf, p, century);
  digits2(buf, p + 2, y - century * 100);
  buf[p + 4] = 0x2d;
  digits2(buf, p + 5, month);
  buf[p + 7] = 0x2d;
  digits2(buf, p + 8, md - month * 100);
}

/** A Date32 value as `date32Value` writes it, for days inside 1900–2299 (the caller checks). */
export function writeDate(o: JsonOut, days: number): void {
  o.ensure(12);
  const buf = o.buf;
  buf[o.pos] = QUOTE;
  writeDay(o, buf, o.pos + 1, days);
  buf[o.pos + 11] = QUOTE;
  o.pos += 12;
}

const MINUTES_PER_DAY = 1440;

/**
 * A DateTime64 value as `dateTime64Text` writes it (`"YYYY-MM-DD HH:MM:SS.fff[fff]"`), for ticks
 * that are safe integers inside 1900–2299 (the caller checks). The date, hour and minute come
 * from `JsonOut.minutes` when that minute was written lately.
 */
export function writeDateTime(o: JsonOut, ticks: number, digits: 3 | 6): void {
  const unit = digits === 3 ? 1000 : 1_000_000;
  const perMinute = 60 * unit;
  let minute = Math.floor(ticks / perMinute);
  let rest = ticks - minute * perMinute;
  // The division rounds: put the rest back inside the minute.
  if (rest < 0) {
    minute -= 1;
    rest += perMinute;
  } else if (rest >= perMinute) {
    minute += 1;
    rest -= perMinute;
  }
  // Under a minute: int32 from here (`%` of a double is a call to fmod).
  const secs = Math.floor(rest / unit) | 0;
  const frac = (rest - secs * unit) | 0;
  o.ensure(22 + digits);
  const buf = o.buf;
  let p = o.pos;
  // Minutes since 1970 of 1900–2299 fit int32.
  const slot = minute & (CACHE_SLOTS - 1);
  const text = o.minuteTexts;
  const at = slot * MINUTE_TEXT;
  if (o.minutes[slot] !== minute) {
    const days = Math.floor(minute / MINUTES_PER_DAY);
    const inDay = (minute - days * MINUTES_PER_DAY) | 0;
    const hour = (inDay / 60) | 0;
    text[at] = QUOTE;
    writeDay(o, text, at + 1, days);
    text[at + 11] = 0x20;
    digits2(text, at + 12, hour);
    text[at + 14] = 0x3a;
    digits2(text, at + 15, inDay - hour * 60);
    o.minutes[slot] = minute;
  }
  for (let i = 0; i < MINUTE_TEXT; i++) buf[p + i] = text[at + i]!;
  buf[p + 17] = 0x3a;
  digits2(buf, p + 18, secs);
  buf[p + 20] = 0x2e;
  p += 21;
  writeDigits(buf, p, frac, digits);
  p += digits;
  buf[p++] = QUOTE;
  o.pos = p;
}

/**
 * Milliseconds (a safe integer of 1000 or more) as seconds with three decimals in quotes
 * (`"1735689600.123"`: `millisText` of such a number), without a string.
 */
export function writeQuotedMillis(o: JsonOut, ms: number): void {
  const secs = Math.floor(ms / 1000);
  const frac = (ms - secs * 1000) | 0;
  o.ensure(24);
  const buf = o.buf;
  buf[o.pos++] = QUOTE;
  o.pos = writeUnsigned(buf, o.pos, secs, 1);
  buf[o.pos++] = 0x2e;
  writeDigits(buf, o.pos, frac, 3);
  o.pos += 3;
  buf[o.pos++] = QUOTE;
}

/** 2^33 in base 10^8: 85·10^8 + 89,934,592. */
const P33_HIGH = 85;
const P33_LOW = 89_934_592;

/**
 * lsn·2^33 + low (low < 2^33: a streamed change's `_version`) as the row encoder writes that
 * bigint, its decimal digits in quotes. An LSN below 2^53 (a number) goes in base-10^8 parts
 * without a BigInt: every product below stays under 2^53, so each is exact in a double; a larger
 * one (a bigint) through the bigint.
 */
export function writeQuotedVersion(o: JsonOut, lsn: number | bigint, low: number): void {
  if (typeof lsn === 'bigint') {
    writeQuotedInteger(o, (lsn << 33n) | BigInt(low));
    return;
  }
  const a1 = Math.floor(lsn / E8);
  const a0 = lsn - a1 * E8;
  // (a1·10^8 + a0)(85·10^8 + 89,934,592) + low, carried in base 10^8.
  const t0 = a0 * P33_LOW + low;
  const c0 = Math.floor(t0 / E8);
  const d0 = t0 - c0 * E8;
  const t1 = a1 * P33_LOW + a0 * P33_HIGH + c0;
  const c1 = Math.floor(t1 / E8);
  const d1 = t1 - c1 * E8;
  const d2 = a1 * P33_HIGH + c1;
  o.ensure(40);
  const buf = o.buf;
  buf[o.pos++] = QUOTE;
  if (d2 > 0) {
    o.pos = writeUnsigned(buf, o.pos, d2, 1);
    writeDigits(buf, o.pos, d1 | 0, 8);
    writeDigits(buf, o.pos + 8, d0 | 0, 8);
    o.pos += 16;
  } else if (d1 > 0) {
    o.pos = writeUnsigned(buf, o.pos, d1, 1);
    writeDigits(buf, o.pos, d0 | 0, 8);
    o.pos += 8;
  } else o.pos = writeUnsigned(buf, o.pos, d0, 1);
  buf[o.pos++] = QUOTE;
}

/**
 * A decimal's unscaled big-endian two's complement bytes `src[start, end)` as the column mapping's
 * `unscaledToText` writes them (`"-12.30"`), in quotes. Up to 6 bytes in plain numbers.
 */
export function writeDecimal(o: JsonOut, src: Buffer, start: number, end: number, scale: number): void {
  const len = end - start;
  // Six bytes at most and scale 8 at most (the common case): the digits written as numbers.
  if (len <= 6 && scale <= 8) {
    let n = 0;
    for (let i = start; i < end; i++) n = n * 256 + src[i]!;
    if (len > 0 && (src[start]! & 0x80) !== 0) n -= 2 ** (len * 8);
    o.ensure(24);
    const buf = o.buf;
    let p = o.pos;
    buf[p++] = QUOTE;
    if (n < 0) {
      buf[p++] = 0x2d;
      n = -n;
    }
    if (scale === 0) p = writeUnsigned(buf, p, n, 1);
    else {
      const unit = POWERS_OF_TEN[scale]!;
      const whole = Math.floor(n / unit);
      // n < 2^47: the quotient is exact to well under 1/unit, so the remainder is never negative.
      p = writeUnsigned(buf, p, whole, 1);
      buf[p++] = 0x2e;
      p = writeUnsigned(buf, p, n - whole * unit, scale);
    }
    buf[p++] = QUOTE;
    o.pos = p;
    return;
  }
  let text: string;
  let neg: boolean;
  if (len <= 6) {
    let n = 0;
    for (let i = start; i < end; i++) n = n * 256 + src[i]!;
    if (len > 0 && (src[start]! & 0x80) !== 0) n -= 2 ** (len * 8);
    neg = n < 0;
    text = String(neg ? -n : n);
  } else {
    let n = 0n;
    for (let i = start; i < end; i++) n = (n << 8n) | BigInt(src[i]!);
    if ((src[start]! & 0x80) !== 0) n -= 1n << BigInt(len * 8);
    neg = n < 0n;
    text = (neg ? -n : n).toString();
  }
  const padded = text.padStart(scale + 1, '0');
  const body = scale === 0 ? padded : `${padded.slice(0, -scale)}.${padded.slice(-scale)}`;
  o.ensure(body.length + 3);
  const buf = o.buf;
  buf[o.pos++] = QUOTE;
  if (neg) buf[o.pos++] = 0x2d;
  o.ascii(body);
  buf[o.pos++] = QUOTE;
}
