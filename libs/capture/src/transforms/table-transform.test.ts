import { createHmac } from 'node:crypto';
import type { AvroRecordSchema } from '@cdc/avro';
import { TableTransformSchema } from '@cdc/pipeline';
import { describe, expect, it } from 'vitest';
import { compileTableTransform, type SourceColumn } from './table-transform.ts';

const row: AvroRecordSchema = {
  type: 'record',
  name: 'customers',
  fields: [
    { name: 'id', type: 'long', 'cdc.type': 'int8' },
    { name: 'email', type: ['null', 'string'], default: null, 'cdc.type': 'text' },
    { name: 'ssn', type: ['null', 'string'], default: null },
    { name: 'name', type: 'string' },
    { name: 'age', type: ['null', 'int'], default: null },
    { name: 'Order_Id', type: ['null', 'int'], default: null, 'cdc.column': 'Order Id' },
  ],
};
const columns: SourceColumn[] = [
  { name: 'id', field: 'id', isKey: true },
  { name: 'email', field: 'email', isKey: false },
  { name: 'ssn', field: 'ssn', isKey: false },
  { name: 'name', field: 'name', isKey: false },
  { name: 'age', field: 'age', isKey: false },
  { name: 'Order Id', field: 'Order_Id', isKey: false },
];
const SALT = 'sixteen-chars-salt';
/** Rules that do not tell rows apart by key or time get any key and time. */
const noKey = () => '';

function compile(config: unknown) {
  return compileTableTransform(
    'public.customers',
    { key: 'public.customers', transform: TableTransformSchema.parse(config) },
    row,
    [row.fields[0]!],
    columns,
    { where: 'sources.postgres[shop].tables', maskSalt: SALT },
  );
}

describe('a table transform compiled against the table', () => {
  it('filters, excludes, renames, masks and computes, and the Avro schema says so', () => {
    const t = compile({
      filter: 'age >= 18 and "Order Id" is not null',
      columns: {
        exclude: ['ssn'],
        rename: { 'Order Id': 'order_id' },
        mask: { email: 'hash', name: { truncate: 1 } },
        computed: { age_label: "'age ' || age", is_senior: 'age > 64' },
      },
    });
    const r = { id: 1n, email: 'ada@x.io', ssn: '123', name: 'Ada', age: 70, Order_Id: 5 };
    expect(t.keep(r)).toBe(true);
    expect(t.keep({ ...r, age: 12 })).toBe(false);
    expect(t.keep({ ...r, Order_Id: null })).toBe(false);
    const hash = createHmac('sha256', SALT).update('ada@x.io').digest('hex');
    expect(t.project(r)).toEqual({
      id: 1n,
      email: hash,
      name: 'A',
      age: 70,
      order_id: 5,
      age_label: 'age 70',
      is_senior: true,
    });
    // The same input hashes the same (joins on the hash still work); null stays null.
    expect(t.project({ ...r, id: 2n }).email).toBe(hash);
    expect(t.project({ ...r, email: null }).email).toBe(null);
    expect(t.row.fields.map((f) => [f.name, f.type])).toEqual([
      ['id', 'long'],
      ['email', ['null', 'string']],
      ['name', 'string'],
      ['age', ['null', 'int']],
      ['order_id', ['null', 'int']],
      ['age_label', ['null', 'string']],
      ['is_senior', ['null', 'boolean']],
    ]);
    expect(JSON.stringify(t.row)).not.toContain('ssn');
  });

  it('reports every broken rule with its value', () => {
    const t = compile({
      quality: [
        { rule: 'not_null', column: 'email', action: 'quarantine' },
        { rule: 'range', column: 'age', min: 0, max: 150, action: 'stop' },
        { rule: 'regex', column: 'email', pattern: '^[^@]+@[^@]+$' },
        { rule: 'in_set', column: 'name', values: ['Ada', 'Bob'], name: 'known-name' },
        { rule: 'max_length', column: 'name', max: 3 },
      ],
    });
    expect(t.check({ id: 1n, email: 'a@b', name: 'Ada', age: 3 }, noKey, 0)).toEqual([]);
    expect(t.check({ id: 1n, email: null, name: 'Carla', age: 200 }, noKey, 0)).toEqual([
      { rule: 'not_null:email', column: 'email', action: 'quarantine', value: 'null', expected: 'not null' },
      { rule: 'range:age', column: 'age', action: 'stop', value: '200', expected: 'in [0, 150]' },
      {
        rule: 'known-name',
        column: 'name',
        action: 'count',
        value: '"Carla"',
        expected: 'one of ["Ada","Bob"]',
      },
      {
        rule: 'max_length:name',
        column: 'name',
        action: 'count',
        value: '"Carla"',
        expected: 'at most 3 characters',
      },
    ]);
    expect(t.check({ id: 1n, email: 'nope', name: 'Bob', age: 1 }, noKey, 0)[0]?.rule).toBe('regex:email');
  });

  it('names the key, the column and the closest column when a reference does not exist', () => {
    expect(() => compile({ filter: "emial = 'x'" })).toThrow(
      'sources.postgres[shop].tables.public.customers.filter: public.customers has no column "emial"; did you mean email?',
    );
    expect(() => compile({ quality: [{ rule: 'not_null', column: 'agee' }] })).toThrow(
      /tables\.public\.customers\.quality\[0\]\.column: public\.customers has no column "agee"; did you mean age\?/,
    );
    expect(() => compile({ columns: { exclude: ['id'] } })).toThrow(/id is part of the primary key/);
  });

  it('applies the default entry only where its columns exist', () => {
    const t = compileTableTransform(
      'public.customers',
      {
        key: '*',
        transform: TableTransformSchema.parse({
          quality: [
            { rule: 'not_null', column: 'updated_at' },
            { rule: 'not_null', column: 'email' },
          ],
        }),
      },
      row,
      [row.fields[0]!],
      columns,
      { where: 'x' },
    );
    expect(t.rules).toEqual(['not_null:email']);
  });
});

describe('a computed column', () => {
  it('may not read an excluded or masked column (its value would leave unmasked)', () => {
    expect(() =>
      compile({ columns: { mask: { email: 'hash' }, computed: { email_domain: "lower(email) || '!'" } } }),
    ).toThrow(
      'sources.postgres[shop].tables.public.customers.columns.computed.email_domain: computed column email_domain reads email, which is excluded or masked',
    );
  });
});

describe('a decimal column (Avro bytes)', () => {
  const orders: AvroRecordSchema = {
    type: 'record',
    name: 'orders',
    fields: [
      { name: 'id', type: 'long' },
      {
        name: 'total',
        type: ['null', { type: 'bytes', logicalType: 'decimal', precision: 12, scale: 2 }],
        default: null,
        'cdc.type': 'numeric',
      },
    ],
  };
  const cents = (n: bigint) => {
    const b = Buffer.alloc(8);
    b.writeBigInt64BE(n);
    return b;
  };
  const t = compileTableTransform(
    'public.orders',
    {
      key: 'public.orders',
      transform: TableTransformSchema.parse({
        filter: 'total > 10',
        quality: [{ rule: 'range', column: 'total', min: 0.01, name: 'total-positive' }],
      }),
    },
    orders,
    [orders.fields[0]!],
    [
      { name: 'id', field: 'id', isKey: true },
      { name: 'total', field: 'total', isKey: false },
    ],
    { where: 'sources.postgres[shop].tables' },
  );

  it('is read as its decimal value by rules and filters', () => {
    expect(t.check({ id: 1n, total: cents(1250n) }, noKey, 0)).toEqual([]);
    expect(t.check({ id: 2n, total: cents(-5n) }, noKey, 0)).toEqual([
      {
        rule: 'total-positive',
        column: 'total',
        action: 'count',
        value: '"-0.05"',
        expected: 'in [0.01, ∞]',
      },
    ]);
    expect(t.keep({ id: 1n, total: cents(1250n) })).toBe(true);
    expect(t.keep({ id: 1n, total: cents(999n) })).toBe(false);
  });
});
