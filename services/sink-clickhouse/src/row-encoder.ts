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

/** Marks a value `plainValue` cannot write without the replacer. */
const NEEDS_REPLACER = Symbol('needs the replacer');

/**
 * The value with a bigint or a float JSON cannot hold written as the text ClickHouse reads, for
 * `JSON.stringify` without a replacer (V8's fast path: a replacer costs a call per value);
 * `NEEDS_REPLACER` for bytes, or a nested object or array.
 */
function plainValue(v: unknown): unknown {
  switch (typeof v) {
    case 'bigint':
      return v.toString();
    case 'number':
      if (Number.isFinite(v) && !Object.is(v, -0)) return v;
      return Object.is(v, -0) ? '-0' : Number.isNaN(v) ? 'nan' : v > 0 ? 'inf' : '-inf';
    case 'object':
      return v === null ? v : NEEDS_REPLACER;
    default:
      return v;
  }
}

/** The row with every value `plainValue`; undefined when a value needs the replacer. */
function plainRow(row: EncodedRow): EncodedRow | undefined {
  // No prototype: a column named `__proto__` stays a column.
  const out: EncodedRow = Object.create(null);
  for (const k in row) {
    const v = plainValue(row[k]);
    if (v === NEEDS_REPLACER) return undefined;
    out[k] = v;
  }
  return out;
}

/** Encodes rows as JSONEachRow bytes. */
export function encodeRows(rows: readonly EncodedRow[]): Buffer {
  const writer = new LineWriter(Math.max(1 << 12, rows.length * 256));
  for (const row of rows) writer.write(row);
  return writer.bytes();
}

/**
 * One row that needs the replacer (bytes, or a nested object or array) as its line: JSONEachRow
 * of an object, JSONCompactEachRow of an array of its values.
 */
function encodeWithReplacer(row: EncodedRow | unknown[]): Buffer {
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

  /** Appends the row's JSONEachRow line. */
  write(row: EncodedRow): void {
    const plain = plainRow(row);
    if (plain === undefined) this.line(encodeWithReplacer(row));
    else this.text(JSON.stringify(plain));
  }

  /**
   * Appends the row's JSONCompactEachRow line: its values of `columns`, in that order, null for
   * a column it lacks (which the insert reads as the column's default, as it reads a column a
   * JSONEachRow line leaves out).
   */
  writeCompact(row: EncodedRow, columns: readonly string[]): void {
    const values: unknown[] = new Array(columns.length);
    let plain = true;
    for (let i = 0; i < columns.length; i++) {
      const v = row[columns[i]!];
      const p = v === undefined ? null : plainValue(v);
      if (p === NEEDS_REPLACER) plain = false;
      values[i] = p;
    }
    if (plain) this.text(JSON.stringify(values));
    else this.line(encodeWithReplacer(columns.map((c) => row[c] ?? null)));
  }

  private line(line: Buffer): void {
    this.reserve(line.length);
    this.used += line.copy(this.buf, this.used);
    this.ends.push(this.used);
  }

  private text(text: string): void {
    // UTF-8 takes at most 3 bytes per UTF-16 unit; plus the newline.
    this.reserve(text.length * 3 + 1);
    this.used += this.buf.write(text, this.used, 'utf8');
    this.buf[this.used++] = 0x0a;
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

/** `"name":` of each column of a list, made once per list. */
const keysOfColumns = new WeakMap<readonly string[], Buffer[]>();

/**
 * A JSONCompactEachRow line of `columns` (`[v1,v2,…]\n`, as `LineWriter.writeCompact` and
 * `transcoder.ts` write them: no spaces between values) as the JSONEachRow line of the same row
 * (`{"c1":v1,"c2":v2,…}\n`), byte for byte the values it holds: for a batch whose lines do not all
 * hold the same columns, which goes as JSONEachRow. `omitNulls`: null values left out with their
 * names (the insert reads both as the column's default; a server older than 19.x reads only that).
 */
export function keyedLine(line: Buffer, columns: readonly string[], omitNulls = false): Buffer {
  let keys = keysOfColumns.get(columns);
  if (keys === undefined) {
    keys = columns.map((c) => Buffer.from(`${JSON.stringify(c)}:`));
    keysOfColumns.set(columns, keys);
  }
  let size = line.length;
  for (const k of keys) size += k.length;
  const out = Buffer.allocUnsafe(size);
  const bad = () =>
    new Error(`not a JSONCompactEachRow line of ${columns.length} columns: ${line.toString()}`);
  if (line[0] !== 0x5b) throw bad();
  out[0] = 0x7b;
  let o = 1;
  let p = 1;
  for (let i = 0; i < keys.length; i++) {
    if (i > 0) {
      if (line[p] !== 0x2c) throw bad();
      p++;
    }
    const start = p;
    p = valueEnd(line, p);
    if (p < 0) throw bad();
    if (omitNulls && p - start === 4 && line[start] === 0x6e && line.toString('latin1', start, p) === 'null')
      continue;
    if (o > 1) out[o++] = 0x2c;
    o += keys[i]!.copy(out, o);
    o += line.copy(out, o, start, p);
  }
  if (line[p] !== 0x5d || line[p + 1] !== 0x0a || p + 2 !== line.length) throw bad();
  out[o++] = 0x7d;
  out[o++] = 0x0a;
  return out.subarray(0, o);
}

/** Where the JSON value starting at `p` ends (past it); -1 if the line ends first. */
function valueEnd(line: Buffer, p: number): number {
  let depth = 0;
  for (; p < line.length; p++) {
    const b = line[p]!;
    if (b === QUOTE) {
      for (p++; p < line.length && line[p] !== QUOTE; p++) if (line[p] === BACKSLASH) p++;
      if (depth === 0) return p < line.length ? p + 1 : -1;
    } else if (b === 0x5b || b === 0x7b) depth++;
    else if (b === 0x5d || b === 0x7d) {
      if (depth === 0) return p;
      if (--depth === 0) return p + 1;
    } else if (b === 0x2c && depth === 0) return p;
  }
  return -1;
}
