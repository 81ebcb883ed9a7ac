import { describe, expect, it } from 'vitest';
import { add, compare, fromAvroBytes, negate, rescale, toAvroBytes, toDecimal, toText } from './decimal.ts';

describe('decimals', () => {
  it('sums money exactly where floating point does not', () => {
    expect(toText(add(toDecimal(0.1), toDecimal(0.2)))).toBe('0.3');
    expect(toText(add(toDecimal('10.50'), negate(toDecimal('10.5'))))).toBe('0');
    expect(toText(toDecimal(1e-7))).toBe('0.0000001');
    expect(compare(toDecimal('2.10'), toDecimal(2.1))).toBe(0);
  });

  it('rounds half to even when the scale shrinks, and round-trips Avro decimal bytes', () => {
    expect(toText(rescale(toDecimal('2.345'), 2))).toBe('2.34');
    expect(toText(rescale(toDecimal('2.355'), 2))).toBe('2.36');
    for (const v of ['0', '-1', '127', '128', '-128', '-129', '123456789012345678.99', '-0.01']) {
      expect(toText(fromAvroBytes(toAvroBytes(toDecimal(v), 2), 2))).toBe(toText(toDecimal(v)));
    }
    expect(() => toDecimal('abc')).toThrow(/is not a number/);
  });
});
