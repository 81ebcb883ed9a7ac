import { describe, expect, it } from 'vitest';
import { formatQueryJson } from './query-json.ts';

describe('cdc query --json', () => {
  it('prints -0 as -0 and leaves ClickHouse’s quoted integers, decimals and NaN as they are', () => {
    const rows = [{ f: -0, g: 0, big: '9223372036854775807', d: '1e-10', nan: 'nan', s: '-0' }];
    const text = formatQueryJson(rows);
    expect(text).toContain('"f": -0,');
    expect(text).toContain('"s": "-0"');
    const back = JSON.parse(text) as (typeof rows)[number][];
    expect(Object.is(back[0]?.f, -0)).toBe(true);
    expect(Object.is(back[0]?.g, 0)).toBe(true);
    expect(back[0]).toMatchObject({ big: '9223372036854775807', d: '1e-10', nan: 'nan' });
  });
});
