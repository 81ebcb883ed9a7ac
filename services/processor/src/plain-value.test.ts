import { describe, expect, it } from 'vitest';
import { canonicalKey, keyPart, plainConverter, samePlain } from './plain-value.ts';

describe('plain values of wrapped unions', () => {
  it('unwraps a record branch named by its full name where the union refers to it short (MongoDB envelopes)', () => {
    const value = {
      type: 'record',
      name: 'Value',
      namespace: 'shopdocs.shop.carts',
      fields: [{ name: 'customerId', type: ['null', 'int'], default: null }],
    };
    const schema = {
      type: 'record',
      name: 'Envelope',
      namespace: 'shopdocs.shop.carts',
      fields: [
        { name: 'before', type: ['null', value], default: null },
        { name: 'after', type: ['null', 'Value'], default: null },
      ],
    };
    const wrapped = { before: null, after: { 'shopdocs.shop.carts.Value': { customerId: { int: 7 } } } };
    expect(plainConverter(schema)(wrapped)).toEqual({ before: null, after: { customerId: 7 } });
  });
});

describe('samePlain', () => {
  it('compares rows by their fields in any order, nested values by value', () => {
    expect(samePlain({ a: 1, b: ['x', { c: null }] }, { b: ['x', { c: null }], a: 1 })).toBe(true);
    expect(samePlain({ a: 1 }, { a: 1, b: null })).toBe(false);
    expect(samePlain({ a: '1' }, { a: 1 })).toBe(false);
    expect(samePlain({ a: [1, 2] }, { a: [2, 1] })).toBe(false);
    expect(samePlain({ a: {} }, { a: [] })).toBe(false);
  });
});

describe('canonicalKey', () => {
  it('keeps the text that state stores and repartition topics already hold: a JSON array of key parts', () => {
    expect(canonicalKey([5])).toBe('["5"]');
    expect(canonicalKey([5n])).toBe('["5"]');
    expect(canonicalKey(['5'])).toBe('["5"]');
    expect(canonicalKey([])).toBe('[]');
    expect(canonicalKey(['EU', 7, null])).toBe('["EU","7",null]');
    const parts: unknown[][] = [
      [undefined],
      ['quote " and \\ backslash', '\u0000', 'é€😀'],
      [true, 1.5, -0, 2 ** 60, 12345678901234567890n],
      [{ a: 1, b: [null, 'x'] }, [1, 2]],
    ];
    for (const values of parts) expect(canonicalKey(values)).toBe(JSON.stringify(values.map(keyPart)));
  });
});
