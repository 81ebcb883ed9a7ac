import { describe, expect, it } from 'vitest';
import { checkCompatibility, type Incompatibility } from './compatibility.ts';
import type { AvroField, AvroRecordSchema } from './schema-types.ts';

const STATUS = { type: 'enum' as const, name: 'Status', symbols: ['NEW', 'PAID', 'SHIPPED'] };
const v1: AvroRecordSchema = {
  type: 'record',
  name: 'Order',
  namespace: 'shop',
  fields: [
    { name: 'id', type: 'long' },
    { name: 'qty', type: 'int' },
    { name: 'note', type: ['null', 'string'], default: null },
    { name: 'status', type: STATUS },
    { name: 'sku', type: { type: 'fixed', name: 'Sku', size: 8 } },
    { name: 'tags', type: { type: 'array', items: 'string' } },
  ],
};

const withFields = (fields: AvroField[]): AvroRecordSchema => ({ ...v1, fields });
const replace = (name: string, field: Partial<AvroField>) =>
  withFields(v1.fields.map((f) => (f.name === name ? ({ ...f, ...field } as AvroField) : f)));
const without = (name: string) => withFields(v1.fields.filter((f) => f.name !== name));
const added = (field: AvroField) => withFields([...v1.fields, field]);

const brief = (issues: Incompatibility[]) => issues.map((i) => `${i.direction} ${i.field}: ${i.rule}`);

describe('checkCompatibility', () => {
  it('accepts an identical schema and a new nullable field with a default under FULL_TRANSITIVE', () => {
    expect(checkCompatibility(v1, [{ schema: v1 }], 'FULL_TRANSITIVE')).toEqual([]);
    const v2 = added({ name: 'coupon', type: ['null', 'string'], default: null });
    expect(checkCompatibility(v2, [{ version: 1, schema: v1 }], 'FULL_TRANSITIVE')).toEqual([]);
  });

  it('accepts every change under NONE and any schema for a new subject', () => {
    expect(checkCompatibility(replace('id', { type: 'string' }), [{ schema: v1 }], 'NONE')).toEqual([]);
    expect(checkCompatibility(v1, [], 'FULL')).toEqual([]);
  });

  it('field added without default: BACKWARD rejects, FORWARD accepts', () => {
    const v2 = added({ name: 'warehouse', type: 'string' });
    const issues = checkCompatibility(v2, [{ version: 3, schema: v1 }], 'BACKWARD');
    expect(issues).toEqual([
      {
        field: 'warehouse',
        rule: 'field-added-without-default',
        direction: 'backward',
        version: 3,
        detail:
          'field warehouse was added without a default: records written with the old schema have no value for it',
      },
    ]);
    expect(checkCompatibility(v2, [{ schema: v1 }], 'FORWARD')).toEqual([]);
  });

  it('field removed without default: FORWARD rejects, BACKWARD accepts', () => {
    const v2 = without('qty');
    expect(brief(checkCompatibility(v2, [{ schema: v1 }], 'FORWARD'))).toEqual([
      'forward qty: field-removed-without-default',
    ]);
    expect(checkCompatibility(v2, [{ schema: v1 }], 'BACKWARD')).toEqual([]);
    // Removing a field that had a default is fine both ways.
    expect(checkCompatibility(without('note'), [{ schema: v1 }], 'FULL')).toEqual([]);
  });

  it('promotions are compatible one way only: int → long under BACKWARD, not FORWARD', () => {
    const v2 = replace('qty', { type: 'long' });
    expect(checkCompatibility(v2, [{ schema: v1 }], 'BACKWARD')).toEqual([]);
    const forward = checkCompatibility(v2, [{ schema: v1 }], 'FORWARD');
    expect(brief(forward)).toEqual(['forward qty: type-changed']);
    expect(forward[0]?.detail).toBe('type changed from int to long, which is not a promotion');
  });

  it('every promotion in the Avro spec is accepted, and string ↔ bytes both ways', () => {
    const pairs: [string, string][] = [
      ['int', 'long'],
      ['int', 'float'],
      ['int', 'double'],
      ['long', 'float'],
      ['long', 'double'],
      ['float', 'double'],
      ['string', 'bytes'],
      ['bytes', 'string'],
    ];
    for (const [from, to] of pairs) {
      const a = withFields([{ name: 'x', type: from as 'int' }]);
      const b = withFields([{ name: 'x', type: to as 'int' }]);
      expect(checkCompatibility(b, [{ schema: a }], 'BACKWARD'), `${from} → ${to}`).toEqual([]);
    }
  });

  it('type change that is not a promotion: long → int, string → int', () => {
    expect(brief(checkCompatibility(replace('id', { type: 'int' }), [{ schema: v1 }], 'BACKWARD'))).toEqual([
      'backward id: type-changed',
    ]);
    const issues = checkCompatibility(
      replace('tags', { type: { type: 'array', items: 'int' } }),
      [{ schema: v1 }],
      'BACKWARD',
    );
    expect(brief(issues)).toEqual(['backward tags[]: type-changed']);
    expect(issues[0]?.detail).toBe('type changed from string to int, which is not a promotion');
  });

  it('enum symbol removed: BACKWARD rejects; enum symbol added: FORWARD rejects', () => {
    const fewer = replace('status', { type: { ...STATUS, symbols: ['NEW', 'PAID'] } });
    expect(brief(checkCompatibility(fewer, [{ schema: v1 }], 'BACKWARD'))).toEqual([
      'backward status: enum-symbol-removed',
    ]);
    expect(checkCompatibility(fewer, [{ schema: v1 }], 'FORWARD')).toEqual([]);
    const more = replace('status', { type: { ...STATUS, symbols: [...STATUS.symbols, 'RETURNED'] } });
    expect(brief(checkCompatibility(more, [{ schema: v1 }], 'FORWARD'))).toEqual([
      'forward status: enum-symbol-added',
    ]);
    expect(checkCompatibility(more, [{ schema: v1 }], 'BACKWARD')).toEqual([]);
    // A reader enum with a default reads unknown symbols.
    const withDefault = replace('status', { type: { ...STATUS, symbols: ['NEW', 'PAID'], default: 'NEW' } });
    expect(checkCompatibility(withDefault, [{ schema: v1 }], 'BACKWARD')).toEqual([]);
  });

  it('union branch removed (a nullable field made required): BACKWARD rejects', () => {
    const required = replace('note', { type: 'string', default: '' });
    const issues = checkCompatibility(required, [{ schema: v1 }], 'BACKWARD');
    expect(brief(issues)).toEqual(['backward note: union-branch-removed']);
    expect(issues[0]?.detail).toContain('the branch null of [null, string] is gone in string');
  });

  it('union branch added (a required field made nullable): FORWARD rejects, BACKWARD accepts', () => {
    const nullable = replace('qty', { type: ['null', 'int'], default: null });
    expect(brief(checkCompatibility(nullable, [{ schema: v1 }], 'FORWARD'))).toEqual([
      'forward qty: union-branch-added',
    ]);
    expect(checkCompatibility(nullable, [{ schema: v1 }], 'BACKWARD')).toEqual([]);
  });

  it('name changed, and an alias that keeps it readable', () => {
    const renamed = replace('status', { type: { ...STATUS, name: 'OrderStatus' } });
    expect(brief(checkCompatibility(renamed, [{ schema: v1 }], 'BACKWARD'))).toEqual([
      'backward status: name-changed',
    ]);
    const aliased = replace('status', {
      type: { ...STATUS, name: 'OrderStatus', aliases: ['Status'] } as never,
    });
    expect(checkCompatibility(aliased, [{ schema: v1 }], 'BACKWARD')).toEqual([]);
  });

  it('fixed size changed', () => {
    const wider = replace('sku', { type: { type: 'fixed', name: 'Sku', size: 16 } });
    const issues = checkCompatibility(wider, [{ schema: v1 }], 'FULL');
    expect(brief(issues)).toEqual(['backward sku: fixed-size-changed', 'forward sku: fixed-size-changed']);
    expect(issues[0]?.detail).toBe('fixed Sku changed size from 8 to 16 bytes');
  });

  it('FULL reports both directions', () => {
    const v2 = withFields([
      ...v1.fields.filter((f) => f.name !== 'qty'),
      { name: 'warehouse', type: 'string' },
    ]);
    expect(brief(checkCompatibility(v2, [{ schema: v1 }], 'FULL'))).toEqual([
      'backward warehouse: field-added-without-default',
      'forward qty: field-removed-without-default',
    ]);
  });

  it('non-transitive levels check the latest version only; _TRANSITIVE checks them all', () => {
    // v2 drops qty (fine under BACKWARD); v3 adds it back as a string without a default.
    const v2 = without('qty');
    const v3b = withFields([...v2.fields, { name: 'qty', type: 'string' }]);
    const history = [
      { version: 1, schema: v1 },
      { version: 2, schema: v2 },
    ];
    expect(checkCompatibility(v3b, history, 'BACKWARD').map((i) => i.version)).toEqual([2]);
    const transitive = checkCompatibility(v3b, history, 'BACKWARD_TRANSITIVE');
    expect(transitive.map((i) => `v${i.version} ${i.field}: ${i.rule}`)).toEqual([
      'v1 qty: type-changed',
      'v2 qty: field-added-without-default',
    ]);
  });

  it('walks into nested records through unions and named references (the change envelope)', () => {
    const value = (fields: AvroField[]): AvroRecordSchema => ({
      type: 'record',
      name: 'Envelope',
      namespace: 'shop.orders',
      fields: [
        { name: 'before', type: ['null', { type: 'record', name: 'Value', fields }], default: null },
        { name: 'after', type: ['null', 'shop.orders.Value'], default: null },
        { name: 'op', type: 'string' },
      ],
    });
    const old = value([{ name: 'id', type: 'long' }]);
    const next = value([
      { name: 'id', type: 'long' },
      { name: 'total', type: { type: 'bytes', logicalType: 'decimal', precision: 10, scale: 2 } },
    ]);
    expect(brief(checkCompatibility(next, [{ schema: old }], 'BACKWARD'))).toEqual([
      'backward before.total: field-added-without-default',
    ]);
  });

  it('terminates on recursive schemas', () => {
    const node = (extra: AvroField[]): AvroRecordSchema => ({
      type: 'record',
      name: 'Node',
      fields: [{ name: 'next', type: ['null', 'Node'], default: null }, ...extra],
    });
    expect(
      brief(checkCompatibility(node([{ name: 'v', type: 'int' }]), [{ schema: node([]) }], 'BACKWARD')),
    ).toEqual(['backward v: field-added-without-default']);
  });
});
