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

  /** The last day written and its year·10000 + month·100 + day (a batch's rows mostly share a few days). */
  private lastDays = Number.NaN;
  private lastYmd = 0;

  /** `civilNumberFromDays` of `days` (year·10000 + month·100 + day), the last one kept. */
  civil(days: number): number {
    if (days !== this.lastDays) {
      this.lastYmd = civilNumberFromDays(days);
      this.lastDays = days;
    }
    return this.lastYmd;
  }

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
  o.ascii(String(n));
}

/** A long as the row encoder writes a bigint: its decimal digits in quotes. */
export function writeQuotedInteger(o: JsonOut, n: number | bigint): void {
  o.ensure(48);
  const buf = o.buf;
  buf[o.pos++] = QUOTE;
  o.ascii(String(n));
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
  buf[p] = 0x30 + ((n / 10) | 0);
  buf[p + 1] = 0x30 + (n % 10);
}

/** `YYYY-MM-DD` of days since 1970 inside 1900–2299 (a four-digit year), without quotes. */
function writeDay(o: JsonOut, p: number, days: number): void {
  const buf = o.buf;
  const ymd = o.civil(days);
  const y = Math.floor(ymd / 10000);
  digits2(buf, p, Math.floor(y / 100));
  digits2(buf, p + 2, y % 100);
  buf[p + 4] = 0x2d;
  digits2(buf, p + 5, Math.floor(ymd / 100) % 100);
  buf[p + 7] = 0x2d;
  digits2(buf, p + 8, ymd % 100);
}

/** A Date32 value as `date32Value` writes it, for days inside 1900–2299 (the caller checks). */
export function writeDate(o: JsonOut, days: number): void {
  o.ensure(12);
  const buf = o.buf;
  buf[o.pos] = QUOTE;
  writeDay(o, o.pos + 1, days);
  buf[o.pos + 11] = QUOTE;
  o.pos += 12;
}

const MS_PER_DAY = 86_400_000;

/**
 * A DateTime64 value as `dateTime64Text` writes it (`"YYYY-MM-DD HH:MM:SS.fff[fff]"`), for ticks
 * that are safe integers inside 1900–2299 (the caller checks).
 */
export function writeDateTime(o: JsonOut, ticks: number, digits: 3 | 6): void {
  const unit = digits === 3 ? 1000 : 1_000_000;
  const perDay = MS_PER_DAY * (unit / 1000);
  let days = Math.floor(ticks / perDay);
  let rest = ticks - days * perDay;
  // The division rounds: put the rest back inside the day.
  if (rest < 0) {
    days -= 1;
    rest += perDay;
  } else if (rest >= perDay) {
    days += 1;
    rest -= perDay;
  }
  const secs = Math.floor(rest / unit);
  let frac = rest - secs * unit;
  o.ensure(22 + digits);
  const buf = o.buf;
  let p = o.pos;
  buf[p] = QUOTE;
  writeDay(o, p + 1, days);
  buf[p + 11] = 0x20;
  digits2(buf, p + 12, Math.floor(secs / 3600));
  buf[p + 14] = 0x3a;
  digits2(buf, p + 15, Math.floor(secs / 60) % 60);
  buf[p + 17] = 0x3a;
  digits2(buf, p + 18, secs % 60);
  buf[p + 20] = 0x2e;
  p += 21;
  for (let i = p + digits - 1; i >= p; i--) {
    buf[i] = 0x30 + (frac % 10);
    frac = Math.floor(frac / 10);
  }
  p += digits;
  buf[p++] = QUOTE;
  o.pos = p;
}

/**
 * A decimal's unscaled big-endian two's complement bytes `src[start, end)` as the column mapping's
 * `unscaledToText` writes them (`"-12.30"`), in quotes. Up to 6 bytes in plain numbers.
 */
export function writeDecimal(o: JsonOut, src: Buffer, start: number, end: number, scale: number): void {
  const len = end - start;
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
