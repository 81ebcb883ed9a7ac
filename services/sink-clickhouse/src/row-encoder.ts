/**
 * Rows → a `JSONEachRow` payload (one JSON object per line), as bytes.
 *
 * JSON has no bytes type and ClickHouse decodes `\u00XX` escapes as UTF-8 characters, so
 * `bytes` would not survive as escaped text. ClickHouse does not check that a String is valid
 * UTF-8, though: `RawBytes` values are spliced into the payload as the bytes themselves, with
 * only `"`, `\` and control bytes escaped. bigints are written quoted (exact), NaN and
 * ±Infinity as `"nan"` / `"inf"` / `"-inf"` and -0 as `"-0"`, which ClickHouse reads into Float columns.
 */
import { randomBytes } from 'node:crypto';
// The schema entry only: this module runs in decode worker threads too (see decode-pool.ts).
import { RawBytes } from '@cdc/clickhouse/schema';

export type EncodedRow = Record<string, unknown>;

const NONCE = randomBytes(6).toString('hex');
const MARKER = new RegExp(`"\\\\u0000${NONCE}(\\d+)\\\\u0000"`, 'g');

const QUOTE = 0x22;
const BACKSLASH = 0x5c;

/** `"…"` around the bytes, escaping only what JSON requires. */
export function rawJsonString(bytes: Uint8Array): Buffer {
  let extra = 0;
  for (const b of bytes)
    if (b === QUOTE || b === BACKSLASH) extra += 1;
    else if (b < 0x20) extra += 5;
  const out = Buffer.allocUnsafe(bytes.length + extra + 2);
  let i = 0;
  out[i++] = QUOTE;
  for (const b of bytes) {
    if (b === QUOTE || b === BACKSLASH) {
      out[i++] = BACKSLASH;
      out[i++] = b;
    } else if (b < 0x20) {
      i += out.write(`\\u00${b.toString(16).padStart(2, '0')}`, i, 'latin1');
    } else out[i++] = b;
  }
  out[i++] = QUOTE;
  return out;
}

/**
 * The row with bigints and the floats JSON cannot hold written as the text ClickHouse reads, for
 * `JSON.stringify` without a replacer (V8's fast path: a replacer costs a call per value);
 * undefined when a value needs the replacer (bytes, or a nested object or array).
 */
function plainRow(row: EncodedRow): EncodedRow | undefined {
  // No prototype: a column named `__proto__` stays a column.
  const out: EncodedRow = Object.create(null);
  for (const k in row) {
    const v = row[k];
    switch (typeof v) {
      case 'bigint':
        out[k] = v.toString();
        break;
      case 'number':
        out[k] =
          Number.isFinite(v) && !Object.is(v, -0)
            ? v
            : Object.is(v, -0)
              ? '-0'
              : Number.isNaN(v)
                ? 'nan'
                : v > 0
                  ? 'inf'
                  : '-inf';
        break;
      case 'object':
        if (v !== null) return undefined;
        out[k] = v;
        break;
      default:
        out[k] = v;
    }
  }
  return out;
}

/** Encodes rows as JSONEachRow bytes. */
export function encodeRows(rows: readonly EncodedRow[]): Buffer {
  const writer = new LineWriter(Math.max(1 << 12, rows.length * 256));
  for (const row of rows) writer.write(row);
  return writer.bytes();
}

/** One row that needs the replacer (bytes, or a nested object or array) as its JSONEachRow line. */
function encodeWithReplacer(row: EncodedRow): Buffer {
  const raws: Uint8Array[] = [];
  const replacer = (_k: string, v: unknown): unknown => {
    switch (typeof v) {
      case 'bigint':
        return v.toString();
      case 'number':
        if (Object.is(v, -0)) return '-0'; // JSON.stringify would write 0
        if (Number.isFinite(v)) return v;
        return Number.isNaN(v) ? 'nan' : v > 0 ? 'inf' : '-inf';
      case 'object':
        if (v instanceof RawBytes) {
          raws.push(v.bytes);
          return `\u0000${NONCE}${raws.length - 1}\u0000`;
        }
        return v;
      default:
        return v;
    }
  };
  const text = `${JSON.stringify(row, replacer)}\n`;
  if (raws.length === 0) return Buffer.from(text);
  const parts: Buffer[] = [];
  let last = 0;
  for (const m of text.matchAll(MARKER)) {
    parts.push(Buffer.from(text.slice(last, m.index)));
    parts.push(rawJsonString(raws[Number(m[1])]!));
    last = m.index + m[0].length;
  }
  parts.push(Buffer.from(text.slice(last)));
  return Buffer.concat(parts);
}

/**
 * Rows encoded one at a time into one growing buffer of JSONEachRow lines, with where each line
 * ends: the same bytes as `encodeRows`, without building the whole payload as one string first
 * (no large string to flatten and copy), and each row's line addressable (a decode worker hands
 * lines back per record).
 */
export class LineWriter {
  private buf: Buffer;
  private used = 0;
  /** Byte offset past each line's `\n`, in the order written. */
  readonly ends: number[] = [];

  constructor(initialBytes = 1 << 16) {
    this.buf = Buffer.allocUnsafe(initialBytes);
  }

  private reserve(bytes: number): void {
    if (this.used + bytes <= this.buf.length) return;
    const next = Buffer.allocUnsafe(Math.max(this.buf.length * 2, this.used + bytes));
    this.buf.copy(next, 0, 0, this.used);
    this.buf = next;
  }

  /** Appends the row's line. */
  write(row: EncodedRow): void {
    const plain = plainRow(row);
    if (plain === undefined) {
      const line = encodeWithReplacer(row);
      this.reserve(line.length);
      this.used += line.copy(this.buf, this.used);
    } else {
      const text = JSON.stringify(plain);
      // UTF-8 takes at most 3 bytes per UTF-16 unit; plus the newline.
      this.reserve(text.length * 3 + 1);
      this.used += this.buf.write(text, this.used, 'utf8');
      this.buf[this.used++] = 0x0a;
    }
    this.ends.push(this.used);
  }

  /**
   * For a line written in place (`transcoder.ts`): the buffer, with room for `bytes` more past
   * `at` (the bytes before `at` are kept when it grows). Nothing counts as written until `endLine`.
   */
  roomAt(at: number, bytes: number): Buffer {
    if (at + bytes > this.buf.length) {
      const next = Buffer.allocUnsafe(Math.max(this.buf.length * 2, at + bytes));
      this.buf.copy(next, 0, 0, at);
      this.buf = next;
    }
    return this.buf;
  }

  /** Ends a line written in place (`roomAt`) from the current length: `end` is past its `\n`. */
  endLine(end: number): void {
    this.used = end;
    this.ends.push(end);
  }

  /** Bytes written so far. */
  get length(): number {
    return this.used;
  }

  /**
   * The lines written as an `ArrayBuffer` of their own, to transfer to another thread: the
   * writer's own memory cut to length when nothing else shares it, else a copy. The writer is
   * spent after it.
   */
  detach(): ArrayBuffer {
    const own = this.buf.buffer;
    if (this.buf.byteOffset === 0 && own instanceof ArrayBuffer && own.byteLength === this.buf.length)
      return own.transfer(this.used);
    const copy = new ArrayBuffer(this.used);
    new Uint8Array(copy).set(this.buf.subarray(0, this.used));
    return copy;
  }

  /** The lines written, as one buffer (a view: write nothing more after taking it). */
  bytes(): Buffer {
    return this.buf.subarray(0, this.used);
  }
}
