/**
 * The avsc Type that encodes and decodes the values of inferred MongoDB schemas: unions
 * wrapped (`{ "long": 5n }`), every `long` a `bigint` (Int64 uses all 64 bits).
 *
 * Why not the product's default (`wrapUnions: 'auto'`): the inferred unions mix numeric
 * branches (`["null","long","double"]`, `["null","int",{"type":"long",…date}]`); unwrapped,
 * an integral double and a long are the same JS number, so a value could not say its branch on
 * write, nor keep it on read.
 */
import avro from 'avsc';

const INT64_MIN = -(2n ** 63n);
const INT64_MAX = 2n ** 63n - 1n;

const bigintLong: avro.Type = avro.types.LongType.__with({
  fromBuffer: (buf: Buffer): bigint => buf.readBigInt64LE(),
  toBuffer: (n: bigint): Buffer => {
    const buf = Buffer.alloc(8);
    buf.writeBigInt64LE(n);
    return buf;
  },
  fromJSON: (v: number | string | bigint): bigint => BigInt(v),
  toJSON: (n: bigint): number | string => (Number.isSafeInteger(Number(n)) ? Number(n) : n.toString()),
  isValid: (n: unknown): boolean => typeof n === 'bigint' && n >= INT64_MIN && n <= INT64_MAX,
  compare: (a: bigint, b: bigint): number => (a < b ? -1 : a > b ? 1 : 0),
}) as unknown as avro.Type;

function isLong(schema: unknown): boolean {
  return (
    schema === 'long' ||
    (typeof schema === 'object' && schema !== null && (schema as { type?: unknown }).type === 'long')
  );
}

/** An avsc Type for an inferred MongoDB value (or key) schema. */
export function mongoAvroType(schema: object): avro.Type {
  return avro.Type.forSchema(schema as avro.Schema, {
    wrapUnions: true,
    // A hook rather than `registry: { long }`: the registry is not consulted for `{ "type": "long", … }`.
    typeHook: (s) => (isLong(s) ? bigintLong : undefined),
  });
}
