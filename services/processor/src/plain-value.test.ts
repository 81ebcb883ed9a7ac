import { type AvroSchema, parseSchema } from '@cdc/avro';
import { describe, expect, it } from 'vitest';
import { canonicalKey, keyPart, keyTextReader, plainConverter, samePlain } from './plain-value.ts';

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

describe('keyTextReader', () => {
  const schema = {
    type: 'record',
    name: 'Key',
    fields: [
      { name: 'id', type: 'long' },
      { name: 'tenant', type: { type: 'string' } },
      { name: 'n', type: 'int' },
    ],
  };
  const type = parseSchema(schema as AvroSchema, { plainLongs: true });
  const general = (buf: Buffer) =>
    canonicalKey(Object.values(plainConverter(schema)(type.decode(buf, 0).value) as object));

  it('reads the canonical text the decoded record gives, from the bytes at an offset', () => {
    const read = keyTextReader(schema);
    if (read === undefined) throw new Error('no reader for int, long and string fields');
    const rows = [
      { id: 0n, tenant: '', n: 0 },
      { id: -1n, tenant: 'EU', n: -2_147_483_648 },
      { id: 2n ** 52n - 1n, tenant: 'quote " \\ é😀', n: 2_147_483_647 },
      { id: -(2n ** 52n), tenant: 'x'.repeat(300), n: 7 },
    ];
    for (const row of rows) {
      const bytes = type.toBuffer(row);
      expect(read(Buffer.concat([Buffer.from([9, 9, 9]), bytes]), 3)).toBe(general(bytes));
    }
    // A long whose zig-zag value is past 2^53, and bytes cut short: the general path's to read.
    for (const id of [2n ** 52n, 2n ** 53n - 1n, 2n ** 60n, -(2n ** 63n)])
      expect(read(type.toBuffer({ id, tenant: 'a', n: 1 }), 0)).toBeUndefined();
    const whole = type.toBuffer({ id: 5n, tenant: 'abc', n: 1 });
    for (let cut = 0; cut < whole.length; cut++) expect(read(whole.subarray(0, cut), 0)).toBeUndefined();
  });

  it('covers only records of plain int, long and string fields', () => {
    const record = (type: unknown) => ({ type: 'record', name: 'K', fields: [{ name: 'k', type }] });
    expect(keyTextReader(record('long'))).toBeDefined();
    expect(keyTextReader(record(['null', 'long']))).toBeUndefined();
    expect(keyTextReader(record({ type: 'long', logicalType: 'timestamp-micros' }))).toBeUndefined();
    expect(keyTextReader(record({ type: 'string', logicalType: 'uuid' }))).toBeUndefined();
    expect(keyTextReader(record('double'))).toBeUndefined();
    expect(keyTextReader('long')).toBeUndefined();
  });
});

describe('plain values of records', () => {
  it('converts each field as its type says, in field order, nullable fields null when absent', () => {
    const schema = {
      type: 'record',
      name: 'Row',
      fields: [
        { name: 'id', type: 'long' },
        { name: 'name', type: ['null', 'string'] },
        { name: 'note', type: ['string', 'null'] },
        { name: 'total', type: { type: 'bytes', logicalType: 'decimal', precision: 12, scale: 2 } },
        { name: 'paidAt', type: ['null', { type: 'long', logicalType: 'timestamp-micros' }] },
        { name: 'raw', type: 'bytes' },
        { name: 'next', type: ['null', 'Row'] },
      ],
    };
    const convert = plainConverter(schema);
    const row = {
      id: 7,
      name: 'Ada',
      note: null,
      total: Buffer.from([0x04, 0xd2]), // 1234 at scale 2
      paidAt: 1_700_000_000_123_456,
      raw: Buffer.from('hi'),
      next: {
        id: 8,
        name: { string: 'wrapped' },
        total: Buffer.from([0x64]),
        raw: Buffer.alloc(0),
        next: null,
      },
    };
    const out = convert(row) as Record<string, unknown>;
    expect(out).toEqual({
      id: 7,
      name: 'Ada',
      note: null,
      total: '12.34',
      paidAt: 1_700_000_000_123.456,
      raw: 'aGk=',
      next: {
        id: 8,
        name: 'wrapped',
        note: null, // absent: null, as the union gives it
        total: '1',
        paidAt: null,
        raw: '',
        next: null,
      },
    });
    expect(Object.keys(out)).toEqual(schema.fields.map((f) => f.name));
  });
});
