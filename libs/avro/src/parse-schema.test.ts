import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { parseSchema } from './parse-schema.ts';
import type { AvroRecordSchema } from './schema-types.ts';

const row: AvroRecordSchema = {
  type: 'record',
  name: 'Row',
  fields: [
    { name: 'id', type: 'long' },
    { name: 'price', type: { type: 'bytes', logicalType: 'decimal', precision: 12, scale: 2 } },
    { name: 'createdAt', type: { type: 'long', logicalType: 'timestamp-micros' } },
    { name: 'localAt', type: { type: 'long', logicalType: 'local-timestamp-micros' } },
    { name: 'at', type: { type: 'long', logicalType: 'time-micros' } },
    { name: 'day', type: { type: 'int', logicalType: 'date' } },
    { name: 'ref', type: { type: 'string', logicalType: 'uuid' } },
    { name: 'tsMs', type: { type: 'long', logicalType: 'timestamp-millis' } },
    { name: 'maybe', type: ['null', 'long'], default: null },
  ],
};

describe('parseSchema', () => {
  it('keeps logical types as their underlying values and longs as bigints', () => {
    const type = parseSchema(row);
    const value = {
      id: 2n ** 62n,
      price: Buffer.from([0x30, 0x39]), // 123.45
      createdAt: 1_700_000_000_123_456n,
      localAt: -1n,
      at: 86_399_999_999n,
      day: 19_700,
      ref: '6f1c2a9e-3b1d-4a47-9d63-2e0c1c9f0a11',
      tsMs: 1_700_000_000_123n,
      maybe: null,
    };
    expect(type.fromBuffer(type.toBuffer(value))).toEqual(value);
  });

  it('accepts safe-integer numbers for longs and reads them back as bigints', () => {
    const type = parseSchema(row);
    const bytes = type.toBuffer({
      id: 42,
      price: Buffer.alloc(1),
      createdAt: 1_700_000_000_123_456,
      localAt: 0,
      at: 0,
      day: 0,
      ref: '',
      tsMs: 1_700_000_000_123,
      maybe: 7,
    });
    expect(type.fromBuffer(bytes)).toMatchObject({ id: 42n, createdAt: 1_700_000_000_123_456n, maybe: 7n });
  });

  it('reads longs as numbers, or decimal text past 2^53, with plainLongs: the same bytes, no bigint', () => {
    const writer = parseSchema(row);
    const plain = parseSchema(row, { plainLongs: true });
    const longs = [
      0n,
      -1n,
      1n,
      2n ** 53n - 1n,
      -(2n ** 53n) + 1n,
      2n ** 53n + 1n,
      -(2n ** 63n),
      2n ** 63n - 1n,
    ];
    for (const id of longs) {
      const bytes = writer.toBuffer({
        id,
        price: Buffer.alloc(1),
        createdAt: id,
        localAt: 0n,
        at: 0n,
        day: 0,
        ref: '',
        tsMs: 1_700_000_000_123n,
        maybe: id,
      });
      const exact = id <= BigInt(Number.MAX_SAFE_INTEGER) && id >= BigInt(Number.MIN_SAFE_INTEGER);
      const expected = exact ? Number(id) : id.toString();
      expect(plain.fromBuffer(bytes)).toMatchObject({
        id: expected,
        createdAt: expected,
        maybe: expected,
        tsMs: 1_700_000_000_123,
      });
      // A resolver between the writer's type and a plain reader reads the same.
      expect(plain.decode(bytes, 0, plain.createResolver(writer)).value).toMatchObject({ id: expected });
    }
  });

  it('refuses a number that is not a safe integer, rather than rounding it', () => {
    const type = parseSchema('"long"');
    expect(() => type.toBuffer(2 ** 60)).toThrow();
    expect(() => type.toBuffer(1.5)).toThrow();
    expect(() => type.toBuffer(2n ** 63n)).toThrow();
  });

  it('writes longs as Avro does: zig-zag varints, readable by a plain long reader', () => {
    const ours = parseSchema('"long"');
    expect([...ours.toBuffer(1n)]).toEqual([2]);
    expect([...ours.toBuffer(-1n)]).toEqual([1]);
    expect([...ours.toBuffer(64)]).toEqual([0x80, 0x01]);
    fc.assert(
      fc.property(fc.bigInt({ min: -(2n ** 63n), max: 2n ** 63n - 1n }), (n) => {
        expect(ours.fromBuffer(ours.toBuffer(n))).toBe(n);
        if (n >= BigInt(-Number.MAX_SAFE_INTEGER) && n <= BigInt(Number.MAX_SAFE_INTEGER)) {
          expect(ours.toBuffer(Number(n)).equals(ours.toBuffer(n))).toBe(true);
        }
      }),
    );
    expect(ours.fromBuffer(ours.toBuffer(-(2n ** 63n)))).toBe(-(2n ** 63n));
    expect(ours.fromBuffer(ours.toBuffer(2n ** 63n - 1n))).toBe(2n ** 63n - 1n);
  });

  it('parses the text the registry serves', () => {
    const type = parseSchema(JSON.stringify(row));
    expect(type.equals(parseSchema(row))).toBe(true);
  });

  it('leaves unions unwrapped: a bigint goes to the long branch, a number to the int branch', () => {
    const nullable = parseSchema(['null', 'string']);
    expect(nullable.fromBuffer(nullable.toBuffer('x'))).toBe('x');
    expect(nullable.fromBuffer(nullable.toBuffer(null))).toBe(null);
    const numeric = parseSchema(['null', 'int', 'long']);
    expect([...numeric.toBuffer(5n)]).toEqual([4, 10]); // branch 2 (long), then 5
    expect(numeric.fromBuffer(numeric.toBuffer(5n))).toBe(5n);
    // A number fits both branches: avsc refuses to guess rather than pick one silently.
    expect(() => numeric.toBuffer(5)).toThrow(/ambiguous/);
  });

  it('wraps every union value when asked (the MongoDB converter mixes numeric branches)', () => {
    const mixed = parseSchema(['null', 'long', 'double'], { wrapUnions: true });
    expect(mixed.fromBuffer(mixed.toBuffer({ double: 5 }))).toEqual({ double: 5 });
    expect(mixed.fromBuffer(mixed.toBuffer({ long: 5n }))).toEqual({ long: 5n });
    expect(mixed.fromBuffer(mixed.toBuffer(null))).toBe(null);
    // The same bytes as the unwrapped form: wrapping is only the JS shape.
    expect(mixed.toBuffer({ long: 5n }).equals(parseSchema(['null', 'long', 'double']).toBuffer(5n))).toBe(
      true,
    );
  });
});
