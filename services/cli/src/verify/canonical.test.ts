import { describe, expect, it } from 'vitest';
import { canonicalDecimal, fromClickHouse, fromPostgres, kindOf, parsePgArray } from './canonical.ts';

const same = (typname: string, pgText: string | null, chValue: unknown) => {
  const k = kindOf(typname);
  expect(fromPostgres(k, pgText)).toBe(fromClickHouse(k, chValue));
};

describe('canonical values: PostgreSQL text and ClickHouse JSON agree', () => {
  it('for each kind the sink maps', () => {
    same('bool', 't', true);
    same('int8', '9007199254740993', '9007199254740993');
    same('int4', '-5', -5);
    same('float4', '1.1', 1.1);
    same('float8', 'NaN', 'nan');
    same('float8', '-Infinity', '-inf');
    same('float8', '0.30000000000000004', 0.30000000000000004);
    same('numeric', '12.50', '12.5');
    same('numeric', '-0.000', '0');
    same('date', '2024-02-29', '2024-02-29');
    same('timestamptz', '2024-01-02 03:04:05.5+00', '2024-01-02 03:04:05.500000');
    same('timestamp', '2024-01-02 03:04:05', '2024-01-02 03:04:05.000000');
    same('time', '01:00:00.25', '3600250000');
    same('uuid', 'A0EEBC99-9C0B-4EF8-BB6D-6BB9BD380A11', 'a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11');
    same('jsonb', '{"b": 1, "a": [true, null]}', '{"a":[true,null],"b":1}');
    same('bytea', '\\x00FF10', '00ff10');
    same('interval', '1 year 2 mons -3 days 04:05:06.5', { months: 14, days: -3, micros: '14706500000' });
    same('_int4', '{1,NULL,3}', [1, null, 3]);
    same('_text', '{"a b","c\\"d",NULL}', ['a b', 'c"d', null]);
    same('_int4', null, []);
    same('text', null, null);
  });

  it('tells different values apart', () => {
    const k = kindOf('numeric');
    expect(fromPostgres(k, '12.5')).not.toBe(fromClickHouse(k, '12.51'));
    expect(fromPostgres(kindOf('text'), '')).not.toBe(fromClickHouse(kindOf('text'), null));
    expect(fromPostgres(kindOf('timestamptz'), '2024-01-02 03:04:05.000001+00')).not.toBe(
      fromClickHouse(kindOf('timestamptz'), '2024-01-02 03:04:05.000000'),
    );
  });

  it('parses nested array literals and normalises decimals', () => {
    expect(parsePgArray('{{1,2},{3,NULL}}')).toEqual([
      ['1', '2'],
      ['3', null],
    ]);
    expect(parsePgArray('[0:1]={a,b}')).toEqual(['a', 'b']);
    expect(canonicalDecimal('+007.100')).toBe('7.1');
    expect(canonicalDecimal('-0.10')).toBe('-0.1');
  });
});
