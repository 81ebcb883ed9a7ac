/**
 * Avro `long` as a JS `bigint`. avsc's own `long` is a JS number and refuses values beyond
 * 2^53; PostgreSQL `int8`, timestamps in microseconds and interval microseconds use the full
 * 64 bits, so every `long` produced by this folder is a `bigint` and every schema derived here
 * must be parsed with {@link avroTypeForSchema} (or with {@link bigintLongTypeHook} as `typeHook`:
 * avsc's `registry` option alone misses `{ "type": "long", "logicalType": … }`).
 */
import avro from 'avsc';

const INT64_MIN = -(2n ** 63n);
const INT64_MAX = 2n ** 63n - 1n;

export const bigintLongType: avro.Type = avro.types.LongType.__with({
  fromBuffer: (buf: Buffer): bigint => buf.readBigInt64LE(),
  toBuffer: (n: bigint): Buffer => {
    const buf = Buffer.alloc(8);
    buf.writeBigInt64LE(n);
    return buf;
  },
  // JSON (schema defaults, `type.toString`): a number when exact, else a decimal string.
  fromJSON: (v: number | string | bigint): bigint => BigInt(v),
  toJSON: (n: bigint): number | string => (Number.isSafeInteger(Number(n)) ? Number(n) : n.toString()),
  isValid: (n: unknown): boolean => typeof n === 'bigint' && n >= INT64_MIN && n <= INT64_MAX,
  compare: (a: bigint, b: bigint): number => (a < b ? -1 : a > b ? 1 : 0),
}) as unknown as avro.Type;

/** avsc `typeHook` that makes every `long` (annotated or not) a {@link bigintLongType}. */
export function bigintLongTypeHook(schema: avro.Schema): avro.Type | undefined {
  if (schema === 'long') return bigintLongType;
  if (
    typeof schema === 'object' &&
    !Array.isArray(schema) &&
    (schema as { type?: unknown }).type === 'long'
  ) {
    return bigintLongType;
  }
  return undefined;
}

/** An avsc type for `schema` whose `long`s are `bigint`s. */
export function avroTypeForSchema(schema: avro.Schema | object): avro.Type {
  return avro.Type.forSchema(schema as avro.Schema, { typeHook: bigintLongTypeHook });
}
