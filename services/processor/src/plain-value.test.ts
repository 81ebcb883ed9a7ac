import { describe, expect, it } from 'vitest';
import { plainConverter } from './plain-value.ts';

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
