import { describe, expect, it } from 'vitest';
import {
  claimComment,
  clickHouseColumnName,
  legacyTableNameForTopic,
  parseClaimComment,
  quoteIdent,
  quoteString,
  sourceColumnName,
  tableNameForTopic,
} from './clickhouse-names.ts';

const hostile = [
  'id',
  'my id',
  'My Id',
  'my_id',
  'my-id',
  'a"b',
  "a'b",
  'a`b',
  'a\\b',
  '$x',
  '$',
  'Имя',
  'имя',
  '🙂',
  '1abc',
  'select',
  'c.d',
  'c_d',
  'c%2Ed',
  'c%d',
  '%',
  '%25',
  '.',
  '',
  'x'.repeat(300),
  'tab\there',
  'new\nline',
];

describe('clickHouseColumnName', () => {
  it('keeps every name without . or % exactly', () => {
    for (const n of ['my id', '$x', 'Имя', '🙂', '1abc', 'select', 'a`b', 'A', 'a', 'x'.repeat(300)])
      expect(clickHouseColumnName(n)).toBe(n);
  });
  it('escapes . and % and the empty name', () => {
    expect(clickHouseColumnName('c.d')).toBe('c%2Ed');
    expect(clickHouseColumnName('c%2Ed')).toBe('c%252Ed');
    expect(clickHouseColumnName('%')).toBe('%25');
    expect(clickHouseColumnName('')).toBe('%');
  });
  it('is injective and reversible over hostile names', () => {
    const mapped = hostile.map(clickHouseColumnName);
    expect(new Set(mapped).size).toBe(hostile.length);
    for (const n of hostile) expect(sourceColumnName(clickHouseColumnName(n))).toBe(n);
    for (const m of mapped) expect(m).not.toMatch(/\./);
  });
});

describe('tableNameForTopic', () => {
  it('keeps the earlier name for topics of [A-Za-z0-9._]', () => {
    for (const t of ['cdc.shop.public.orders', 'cdc.shop.Public.t_s', 'x'])
      expect(tableNameForTopic(t)).toBe(legacyTableNameForTopic(t));
    expect(tableNameForTopic('cdc.shop.public.orders')).toBe('cdc_shop_public_orders');
  });
  it('keeps a dash, so h-dash and h_dash are two tables', () => {
    expect(tableNameForTopic('cdc.db.public.h-dash')).toBe('cdc_db_public_h-dash');
    expect(tableNameForTopic('cdc.db.public.h-dash')).not.toBe(tableNameForTopic('cdc.db.public.h_dash'));
  });
});

describe('quoting', () => {
  it('backticks every identifier and escapes backticks and backslashes', () => {
    expect(quoteIdent('id')).toBe('`id`');
    expect(quoteIdent('a`b\\c')).toBe('`a\\`b\\\\c`');
    expect(quoteString("it's a\\b")).toBe("'it\\'s a\\\\b'");
  });
});

describe('table claims', () => {
  it('round-trips through the table comment and ignores other comments', () => {
    const claim = { topic: 'cdc.db.public.t_s', source: 'postgresql:db.public.t s' };
    expect(parseClaimComment(claimComment(claim))).toEqual(claim);
    expect(parseClaimComment('orders of the shop')).toBeUndefined();
    expect(parseClaimComment('cdc: {broken')).toBeUndefined();
    expect(parseClaimComment(undefined)).toBeUndefined();
  });
});
