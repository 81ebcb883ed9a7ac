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

describe('dates ClickHouse cannot hold: compared by the exact text the sink keeps', () => {
  const exact =
    (map: Record<string, string>, column: string) =>
    (path: string): string | undefined =>
      map[`${column}${path}`];

  it('a clamped column with its _out_of_range text equals the source value', () => {
    const ts = kindOf('timestamptz');
    const oor = { t: 'infinity', d: '4713-01-01 BC', u: '1899-12-31 23:59:59.999999+00' };
    expect(fromClickHouse(ts, '2299-12-31 23:59:59.999999', exact(oor, 't'))).toBe(
      fromPostgres(ts, 'infinity'),
    );
    expect(fromClickHouse(ts, '1900-01-01 00:00:00.000000', exact(oor, 'u'))).toBe(
      fromPostgres(ts, '1899-12-31 23:59:59.999999+00'),
    );
    expect(fromClickHouse(kindOf('date'), '1900-01-01', exact(oor, 'd'))).toBe(
      fromPostgres(kindOf('date'), '4713-01-01 BC'),
    );
    // Without the exact text the clamped value does not pass for the source value.
    expect(fromClickHouse(ts, '2299-12-31 23:59:59.999999')).not.toBe(fromPostgres(ts, 'infinity'));
  });

  it('array elements by their 1-based index', () => {
    const k = kindOf('_date');
    expect(
      fromClickHouse(
        k,
        ['1900-01-01', '2000-01-01', '2299-12-31'],
        exact({ 'ds[1]': '1899-12-31', 'ds[3]': 'infinity' }, 'ds'),
      ),
    ).toBe(fromPostgres(k, '{1899-12-31,2000-01-01,infinity}'));
  });

  it('BC is kept in timestamps: 4713 BC is not 4713 AD', () => {
    const ts = kindOf('timestamp');
    expect(fromPostgres(ts, '4713-01-01 00:00:00 BC')).not.toBe(fromPostgres(ts, '4713-01-01 00:00:00'));
    expect(fromPostgres(kindOf('timestamptz'), '4713-01-01 00:00:00+00 BC')).toBe(
      fromPostgres(ts, '4713-01-01 00:00:00 BC'),
    );
  });

  it('timetz offsets as the capture writes them, infinite intervals as their limits', () => {
    same('timetz', '10:00:00-03', '10:00:00-03:00');
    same('timetz', '12:34:56.789+05:30', '12:34:56.789+05:30');
    same('interval', 'infinity', { months: 2147483647, days: 2147483647, micros: '9223372036854775807' });
  });
});
