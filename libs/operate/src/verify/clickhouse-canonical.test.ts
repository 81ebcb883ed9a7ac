import { describe, expect, it } from 'vitest';
import { canonicalCh, parseChType } from './clickhouse-canonical.ts';

/** What the sink inserts and what ClickHouse returns give one text. */
const same = (type: string, inserted: unknown, returned: unknown) =>
  expect(canonicalCh(parseChType(type), inserted)).toBe(canonicalCh(parseChType(type), returned));

describe('canonical ClickHouse values: inserted and returned forms agree', () => {
  it('for the types the sink maps MongoDB documents to', () => {
    same('Nullable(Int32)', 78, 78);
    same('Nullable(Int64)', 9007199254740993n, '9007199254740993');
    same('Float64', Number.NaN, 'nan');
    same('Float64', Number.NEGATIVE_INFINITY, '-inf');
    same('Float32', 1.1, 1.100000023841858);
    same("Nullable(DateTime64(3, 'UTC'))", '1717200000.123', '2024-06-01 00:00:00.123');
    same("DateTime64(3, 'UTC')", '-1.500', '1969-12-31 23:59:58.500');
    same('Nullable(String)', Buffer.from([0xff, 0x00]), Buffer.from('ff00', 'hex'));
    same('Bool', true, true);
    same('UUID', 'A0EEBC99-9C0B-4EF8-BB6D-6BB9BD380A11', 'a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11');
    same(
      'Array(Tuple(productId Nullable(Int32), quantity Nullable(Int32)))',
      [{ productId: 1, quantity: 2 }],
      [{ productId: 1, quantity: 2 }],
    );
    same('Array(Tuple(\n    productId Nullable(Int32),\n    quantity Nullable(Int32)))', [], null);
    same('Map(String, String)', { json: '{"$minKey":1}' }, { json: '{"$minKey":1}' });
    same(
      'Tuple(`a b` Nullable(Int64), c Nullable(String))',
      { 'a b': null, c: null },
      ['\\N', null].map(() => null),
    );
  });

  it('tells different values apart', () => {
    const t = parseChType('Nullable(String)');
    expect(canonicalCh(t, null)).not.toBe(canonicalCh(t, 'null'));
    expect(canonicalCh(t, '')).not.toBe(canonicalCh(t, null));
    const d = parseChType("DateTime64(3, 'UTC')");
    expect(canonicalCh(d, '1717200000.123')).not.toBe(canonicalCh(d, '2024-06-01 00:00:00.124'));
    const a = parseChType('Array(Nullable(Int32))');
    expect(canonicalCh(a, [1, null])).not.toBe(canonicalCh(a, [1]));
  });

  it('parses nested and quoted types', () => {
    expect(parseChType('Tuple(`x\\`y` Nullable(Decimal(10, 2)), z Array(String))')).toEqual({
      kind: 'tuple',
      names: ['x`y', 'z'],
      elements: [
        { kind: 'nullable', inner: { kind: 'scalar', name: 'Decimal', args: ['10', '2'] } },
        { kind: 'array', inner: { kind: 'scalar', name: 'String', args: [] } },
      ],
    });
  });
});
