import { signalRecord } from '@cdc/capture';
import { describe, expect, it } from 'vitest';
import { resyncRequestOf } from './resync.ts';

const signal = (extra: { table?: string; keys?: string[][]; from?: string[]; to?: string[] }) =>
  signalRecord({ type: 'resync', source: 's', table: 'shop.orders', actor: 'a', ...extra }).signal;

describe('resyncRequestOf', () => {
  it('takes the whole collection, an _id range or listed _ids', () => {
    expect(resyncRequestOf(signal({}))).toMatchObject({ ns: 'shop.orders' });
    expect(resyncRequestOf(signal({}))).not.toHaveProperty('keys');
    expect(
      resyncRequestOf(signal({ from: ['{"$numberInt":"1"}'], to: ['{"$numberInt":"9"}'] })),
    ).toMatchObject({
      from: '{"$numberInt":"1"}',
      to: '{"$numberInt":"9"}',
    });
    expect(
      resyncRequestOf(signal({ keys: [['{"$oid":"65a1b2c3d4e5f60718293a4b"}'], ['"text id"']] })).keys,
    ).toEqual(['{"$oid":"65a1b2c3d4e5f60718293a4b"}', '"text id"']);
  });

  it('refuses, naming the cause, what it cannot read', () => {
    expect(() => resyncRequestOf(signal({ table: 'orders' }))).toThrow(/db\.collection/);
    expect(() => resyncRequestOf(signal({ keys: [['not json']] }))).toThrow(
      /not Extended JSON.*as cdc verify prints it/,
    );
    expect(() => resyncRequestOf(signal({ keys: [['1', '2']] }))).toThrow(/one value, the _id/);
    expect(() => resyncRequestOf(signal({ keys: [['1']], from: ['1'] }))).toThrow(/either keys or a range/);
  });
});
