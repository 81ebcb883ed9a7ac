/**
 * The one way the product turns an Avro schema into an `avsc` Type, so that the serde, the
 * schema converters and the tests agree on how values look in JavaScript:
 *
 * - Values are plain JS values of the underlying Avro types; logical types are annotations
 *   only (no conversion): `decimal` is a `Buffer` (the big-endian two's-complement unscaled
 *   value), `timestamp-millis`/`timestamp-micros`/`local-timestamp-micros`/`time-micros` are
 *   `long`s, `date` is an `int` (days since 1970-01-01), `uuid` is a `string`.
 * - `long` is a `bigint` when read (lossless over the whole 64-bit range, and one JS type for
 *   every long, as `postgres/` produces them); on write it accepts a `bigint` or a `number`
 *   that is a safe integer.
 * - Unions follow avsc's `wrapUnions: 'auto'`: `["null", T]` and other unambiguous unions
 *   are plain values; ambiguous ones (two branches with the same JS representation, e.g.
 *   `["string", enum]` or two records) are wrapped as `{ <branch>: value }`. Since longs are
 *   bigints, `["int", "long"]` stays unwrapped: a bigint goes to `long`, and a number, which
 *   would fit both, is refused rather than guessed.
 */
import avro from 'avsc';
import type { AvroSchema } from './schema-types.ts';

export type AvroType = avro.Type;

/** Zig-zag varint bytes (as Avro writes a long) → a bigint. */
function readVarLong(buf: Buffer): bigint {
  let n = 0;
  let f = 1;
  for (let i = 0; i < buf.length; i++) {
    n += ((buf[i] as number) & 0x7f) * f;
    f *= 128;
  }
  // Below 2^53 the double arithmetic above is exact.
  if (n <= Number.MAX_SAFE_INTEGER) return BigInt(n % 2 === 0 ? n / 2 : -(n + 1) / 2);
  let z = 0n;
  let shift = 0n;
  for (let i = 0; i < buf.length; i++) {
    z |= BigInt((buf[i] as number) & 0x7f) << shift;
    shift += 7n;
  }
  return (z >> 1n) ^ -(z & 1n);
}

const TWO_52 = 2 ** 52;

function writeVarLong(value: number | bigint): Buffer {
  // Below 2^52 in magnitude the zig-zag value stays below 2^53: exact in double arithmetic.
  if (typeof value === 'number' && value < TWO_52 && value > -TWO_52) {
    let f = value >= 0 ? value * 2 : -value * 2 - 1;
    const out = Buffer.allocUnsafe(8);
    let i = 0;
    while (f >= 128) {
      out[i++] = (f % 128) | 0x80;
      f = Math.floor(f / 128);
    }
    out[i++] = f;
    return out.subarray(0, i);
  }
  const big = BigInt(value);
  let z = BigInt.asUintN(64, (big << 1n) ^ (big >> 63n));
  const bytes: number[] = [];
  while (z >= 128n) {
    bytes.push(Number(z & 0x7fn) | 0x80);
    z >>= 7n;
  }
  bytes.push(Number(z));
  return Buffer.from(bytes);
}

const INT64_MIN = -(2n ** 63n);
const INT64_MAX = 2n ** 63n - 1n;

function isLong(value: unknown): value is number | bigint {
  if (typeof value === 'bigint') return value >= INT64_MIN && value <= INT64_MAX;
  return typeof value === 'number' && Number.isSafeInteger(value);
}

/** The slice of avsc's `Tap` (its read/write cursor over a buffer) that the long type uses. */
interface Tap {
  buf: Buffer;
  pos: number;
  writeLong(n: number): void;
  writeFixed(buf: Buffer): void;
}

/**
 * Reads the zig-zag varint at the tap's position (moving past it): its value when the double
 * arithmetic is exact (a zig-zag value below 2^53, the common case), else undefined, to be read
 * again exactly from the bytes it spans (`readVarLong`).
 */
function readExactLongAt(tap: Tap): number | undefined {
  const buf = tap.buf;
  let n = 0;
  let f = 1;
  let b: number;
  let pos = tap.pos;
  do {
    b = buf[pos++] as number;
    n += (b & 0x7f) * f;
    f *= 128;
  } while (b & 0x80);
  tap.pos = pos;
  return n <= Number.MAX_SAFE_INTEGER ? (n % 2 === 0 ? n / 2 : -(n + 1) / 2) : undefined;
}

/** A zig-zag varint at the tap's position → a bigint. */
function readLongAt(tap: Tap): bigint {
  const start = tap.pos;
  const n = readExactLongAt(tap);
  return n !== undefined ? BigInt(n) : readVarLong(tap.buf.subarray(start, tap.pos));
}

function writeLongAt(tap: Tap, value: number | bigint): void {
  if (typeof value === 'bigint') {
    if (value < TWO_52_N && value > -TWO_52_N) tap.writeLong(Number(value));
    else tap.writeFixed(writeVarLong(value));
  } else if (value < TWO_52 && value > -TWO_52) tap.writeLong(value);
  else tap.writeFixed(writeVarLong(value));
}

const TWO_52_N = 2n ** 52n;

const abstractLong: AvroType = avro.types.LongType.__with(
  {
    fromBuffer: readVarLong,
    toBuffer: writeVarLong,
    // JSON (schema defaults, `type.toString`): a number when exact, else a decimal string.
    fromJSON: (v: number | string | bigint) => BigInt(v),
    toJSON: (v: number | bigint) => (Number.isSafeInteger(Number(v)) ? Number(v) : v.toString()),
    isValid: isLong,
    compare: (a: number | bigint, b: number | bigint) => (a < b ? -1 : a > b ? 1 : 0),
  },
  true,
);

/**
 * The product's `long`: lossless over the whole 64-bit range (see the file comment). It is
 * avsc's custom-long type (`LongType.__with`) with its read and write replaced by ones that
 * work on avsc's buffer cursor directly: `__with` alone copies every long into a fresh
 * `Buffer` both ways, which made encoding ~4× slower than avsc's number longs.
 */
export const LONG_TYPE: AvroType = Object.create(abstractLong, {
  _read: { value: readLongAt },
  _write: {
    value(tap: Tap, value: unknown) {
      if (!isLong(value))
        throw new Error(`invalid "long": ${typeof value === 'bigint' ? `${value}n` : JSON.stringify(value)}`);
      writeLongAt(tap, value);
    },
  },
});

/** A zig-zag varint at the tap's position → a number, or its decimal text past 2^53. */
function readPlainLongAt(tap: Tap): number | string {
  const start = tap.pos;
  const n = readExactLongAt(tap);
  if (n !== undefined) return n;
  // The zig-zag value doubles the magnitude: values up to 2^53 − 1 may still land here.
  const v = readVarLong(tap.buf.subarray(start, tap.pos));
  return v <= MAX_SAFE && v >= -MAX_SAFE ? Number(v) : v.toString();
}

const MAX_SAFE = BigInt(Number.MAX_SAFE_INTEGER);

/**
 * A `long` for readers that want plain values (`ParseSchemaOptions.plainLongs`): a number when
 * exact, else its decimal text. No bigint is made per value, which a reader that turns every
 * long into a number at once (the processor) paid for nothing. Read only: it writes as `LONG_TYPE`.
 */
const PLAIN_LONG_TYPE: AvroType = Object.create(LONG_TYPE, {
  _read: { value: readPlainLongAt },
});

function isLongSchema(schema: unknown): boolean {
  return (
    schema === 'long' ||
    (typeof schema === 'object' &&
      schema !== null &&
      !Array.isArray(schema) &&
      (schema as { type?: unknown }).type === 'long')
  );
}

export interface ParseSchemaOptions {
  /**
   * `true`: every union value is wrapped, `{ "<branch>": value }` (what the MongoDB converter
   * uses: its inferred unions mix numeric branches that a plain JS value cannot tell apart).
   * Default: avsc's `auto` (see the file comment).
   */
  wrapUnions?: boolean;
  /**
   * `true`: a `long` reads as a number when it is exact (below 2^53 in magnitude), else as its
   * decimal text, instead of a bigint. For readers of plain values; write with the default.
   */
  plainLongs?: boolean;
}

/**
 * Parses a schema (a JSON value, or its text as the registry serves it) into an avsc Type with
 * the product's options. Throws avsc's error for a malformed schema.
 */
export function parseSchema(schema: AvroSchema | string, options: ParseSchemaOptions = {}): AvroType {
  const value: unknown = typeof schema === 'string' && /^\s*[[{"]/.test(schema) ? JSON.parse(schema) : schema;
  return avro.Type.forSchema(value as avro.Schema, {
    wrapUnions: options.wrapUnions === true ? 'always' : 'auto',
    // A hook rather than `registry: { long }`, so that `{ "type": "long", "logicalType": … }` gets it too.
    typeHook: (s) =>
      isLongSchema(s) ? (options.plainLongs === true ? PLAIN_LONG_TYPE : LONG_TYPE) : undefined,
  });
}
