import { describe, expect, it } from 'vitest';
import { assertValidChangeEvent, type ChangeEvent, topicFor } from './change-event.ts';
import { isCdcError } from './errors.ts';

const source = {
  connector: 'postgresql',
  name: 'shop',
  db: 'shop',
  schema: 'public',
  table: 'orders',
  lsn: '0/1',
  commitLsn: '0/2',
  tsMs: 0,
  snapshot: 'false',
  txId: '7',
} as const;

const event = (op: ChangeEvent['op'], before: object | null, after: object | null): ChangeEvent => ({
  op,
  before: before as ChangeEvent['before'],
  after: after as ChangeEvent['after'],
  source,
  tsMs: 1,
  changeId: 'x',
});

describe('topicFor', () => {
  it('names PostgreSQL topics <prefix>.<db>.<schema>.<table> and MongoDB topics <prefix>.<db>.<collection>', () => {
    expect(topicFor('cdc', { db: 'shop', schema: 'public', table: 'orders' })).toBe('cdc.shop.public.orders');
    expect(topicFor('cdc', { db: 'shop', collection: 'carts' })).toBe('cdc.shop.carts');
  });

  it('replaces characters Kafka does not allow in topic names', () => {
    expect(topicFor('cdc', { db: 'shop', schema: 'Sales Dept', table: 'Orders$2024' })).toBe(
      'cdc.shop.Sales_Dept.Orders_2024',
    );
  });

  it('refuses names Kafka would reject, saying why', () => {
    expect(() => topicFor('x'.repeat(240), { db: 'shop', schema: 'public', table: 'orders' })).toThrow(
      /Kafka allows 249/,
    );
  });
});

describe('assertValidChangeEvent', () => {
  it('accepts each op with the before/after it carries', () => {
    expect(() => assertValidChangeEvent(event('r', null, { id: 1 }))).not.toThrow();
    expect(() => assertValidChangeEvent(event('c', null, { id: 1 }))).not.toThrow();
    expect(() => assertValidChangeEvent(event('u', null, { id: 1 }))).not.toThrow();
    expect(() => assertValidChangeEvent(event('u', { id: 1 }, { id: 1 }))).not.toThrow();
    expect(() => assertValidChangeEvent(event('d', { id: 1 }, null))).not.toThrow();
    expect(() => assertValidChangeEvent(event('t', null, null))).not.toThrow();
  });

  it('rejects envelopes a consumer would misread, naming the rule', () => {
    const cases: [ChangeEvent, RegExp][] = [
      [event('c', null, null), /after is required/],
      [event('c', { id: 1 }, { id: 1 }), /before must be null/],
      [event('d', { id: 1 }, { id: 1 }), /after must be null/],
      [event('t', { id: 1 }, null), /before and after must be null/],
      [{ ...event('c', null, { id: 1 }), op: 'x' as 'c' }, /op must be one of r, c, u, d, t/],
    ];
    for (const [e, message] of cases) {
      let thrown: unknown;
      try {
        assertValidChangeEvent(e);
      } catch (err) {
        thrown = err;
      }
      expect(isCdcError(thrown, 'INVARIANT_VIOLATED')).toBe(true);
      expect((thrown as Error).message).toMatch(message);
    }
  });
});
