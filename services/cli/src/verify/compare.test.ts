import { describe, expect, it } from 'vitest';
import { checksum, compareRows, type Rows } from './compare.ts';

const rows = (entries: [string, string[]][]): Rows => new Map(entries);

describe('compareRows', () => {
  const cols = ['id', 'name', 'price'];
  it('matches the same rows in any order', () => {
    const a = rows([
      ['1', ['1', 'x', '2.5']],
      ['2', ['2', 'y', '3']],
    ]);
    const b = rows([
      ['2', ['2', 'y', '3']],
      ['1', ['1', 'x', '2.5']],
    ]);
    const c = compareRows(cols, a, b);
    expect(c.match).toBe(true);
    expect(c.sourceChecksum).toBe(c.clickhouseChecksum);
  });

  it('names the first differing keys with both sides values, missing rows as null', () => {
    const a = rows([
      ['1', ['1', 'x', '2.5']],
      ['2', ['2', 'y', '3']],
      ['10', ['10', 'z', '1']],
    ]);
    const b = rows([
      ['1', ['1', 'x', '2.6']],
      ['3', ['3', 'q', '1']],
      ['10', ['10', 'z', '1']],
    ]);
    const c = compareRows(cols, a, b);
    expect(c.match).toBe(false);
    expect(c.differing).toBe(3);
    expect(c.diffs).toEqual([
      { key: '1', source: { price: '2.5' }, clickhouse: { price: '2.6' } },
      { key: '2', source: { id: '2', name: 'y', price: '3' }, clickhouse: null },
      { key: '3', source: null, clickhouse: { id: '3', name: 'q', price: '1' } },
    ]);
  });

  it('does not let two equal rows cancel out in the checksum', () => {
    expect(checksum(rows([]))).not.toBe(
      checksum(
        rows([
          ['a', ['1']],
          ['b', ['1']],
        ]),
      ),
    );
  });
});
