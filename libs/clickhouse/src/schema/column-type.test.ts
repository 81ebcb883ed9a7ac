import type { AvroSchema } from '@cdc/avro';
import { describe, expect, it } from 'vitest';
import { mapField, mapSchema, namedTypes } from './column-type.ts';

const map = (schema: AvroSchema, wrapped = false) => mapSchema(schema, namedTypes(schema, wrapped));
const collect = () => {
  const seen: Record<string, string> = {};
  return { seen, note: (path: string, exact: string) => (seen[path] = exact) };
};
const DATE = { type: 'int', logicalType: 'date' } as unknown as AvroSchema;
const TS_MICROS = { type: 'long', logicalType: 'timestamp-micros' } as unknown as AvroSchema;
const TS_MILLIS = { type: 'long', logicalType: 'timestamp-millis' } as unknown as AvroSchema;

describe('dates and timestamps in column mappings', () => {
  it('writes text ClickHouse reads exactly, before 1970 and in its first second', () => {
    expect(map(DATE).convert(-1)).toBe('1969-12-31');
    expect(map(TS_MICROS).convert(-1n)).toBe('1969-12-31 23:59:59.999999');
    expect(map(TS_MICROS).convert(500_000n)).toBe('1970-01-01 00:00:00.500000');
    expect(map(TS_MILLIS).convert(-2_208_988_800_000n)).toBe('1900-01-01 00:00:00.000');
  });

  it('notes the exact text of an out-of-range value at its path inside arrays, records and unions', () => {
    const schema = {
      type: 'record',
      name: 'R',
      fields: [
        { name: 'ds', type: { type: 'array', items: ['null', DATE] } },
        {
          name: 'inner',
          type: ['null', { type: 'record', name: 'I', fields: [{ name: 'at', type: TS_MILLIS }] }],
        },
      ],
    } as unknown as AvroSchema;
    const c = collect();
    const out = map(schema).convert(
      { ds: [null, 2 ** 31 - 1, 0], inner: { at: -5_364_662_400_000n } },
      c.note,
    ) as Record<string, unknown>;
    expect(out).toEqual({
      ds: [null, '2299-12-31', '1970-01-01'],
      inner: { at: '1900-01-01 00:00:00.000' },
    });
    expect(c.seen).toEqual({ '.ds[2]': 'infinity', '.inner.at': '1800-01-01T00:00:00.000Z' });
  });

  it('unwraps MongoDB’s wrapped unions before converting', () => {
    const c = collect();
    const m = map(['null', TS_MILLIS] as unknown as AvroSchema, true);
    expect(m.type).toBe("Nullable(DateTime64(3, 'UTC'))");
    expect(m.convert({ long: 32_503_680_000_000n }, c.note)).toBe('2299-12-31 23:59:59.999');
    expect(c.seen).toEqual({ '': '3000-01-01T00:00:00.000Z' });
  });
});

describe('source defaults on columns', () => {
  const DEC = { type: 'bytes', logicalType: 'decimal', precision: 10, scale: 2 } as unknown as AvroSchema;
  const named = namedTypes('string', false);

  it('a constant default becomes the column DEFAULT, converted as the column’s values are', () => {
    expect(mapField({ name: 'status', type: 'string', default: 'new' }, named).default).toBe(
      "CAST('new' AS String)",
    );
    expect(mapField({ name: 'price', type: DEC, default: '\u0003\u00e7' }, named).default).toBe(
      "CAST('9.99' AS Decimal(10, 2))",
    );
    expect(
      mapField({ name: 'qty', type: ['null', 'int'], default: null, 'cdc.default': 7 }, named).default,
    ).toBe("CAST('7' AS Nullable(Int32))");
  });

  it('no default, a null default or a renamed column', () => {
    expect(mapField({ name: 'n', type: ['null', 'int'], default: null }, named)).not.toHaveProperty(
      'default',
    );
    expect(mapField({ name: 'title', type: 'string', 'cdc.renamedFrom': 'label' }, named).renamedFrom).toBe(
      'label',
    );
  });
});
