import { describe, expect, it } from 'vitest';
import { checksum, compareRows, PagedComparison, type Rows } from './compare.ts';

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

describe('a comparison summed over pages', () => {
  const columns = ['id', 'name'];
  const page = (...r: [string, string][]): Rows => new Map(r.map(([k, v]) => [k, [k, v]]));

  it('equals the comparison of the whole table, whatever the pages', () => {
    const source = page(['1', 'a'], ['2', 'b'], ['3', 'c'], ['4', 'd']);
    const clickhouse = page(['1', 'a'], ['2', 'B'], ['4', 'd'], ['9', 'z']);
    const whole = compareRows(columns, source, clickhouse);
    const paged = new PagedComparison(columns);
    paged.add(page(['1', 'a'], ['2', 'b']), page(['1', 'a'], ['2', 'B']));
    paged.add(page(['3', 'c'], ['4', 'd']), page(['4', 'd']));
    paged.add(new Map(), page(['9', 'z']));
    const r = paged.result;
    expect(r).toMatchObject({
      sourceRows: 4,
      clickhouseRows: 4,
      differing: 3,
      match: false,
      sourceChecksum: whole.sourceChecksum,
      clickhouseChecksum: whole.clickhouseChecksum,
    });
    expect(r.diffs.map((d) => d.key)).toEqual(['2', '3', '9']);
  });

  it('matches when every page matches', () => {
    const paged = new PagedComparison(columns);
    paged.add(page(['1', 'a']), page(['1', 'a']));
    paged.add(page(['2', 'b']), page(['2', 'b']));
    expect(paged.result.match).toBe(true);
  });

  it('keeps the differing keys for a repair, those only in ClickHouse apart, at most maxKeys', () => {
    const paged = new PagedComparison(columns, 1, 10);
    paged.add(page(['1', 'a'], ['2', 'b']), page(['1', 'a'], ['2', 'B']));
    paged.add(page(['3', 'c'], ['4', 'd']), page(['4', 'd']));
    paged.add(new Map(), page(['9', 'z']));
    expect(paged.keys).toEqual(['2', '3', '9']);
    expect(paged.onlyInClickHouse).toEqual(['9']);
    const capped = new PagedComparison(columns, 1, 2);
    capped.add(page(['1', 'a'], ['2', 'b'], ['3', 'c']), new Map());
    expect(capped.keys).toEqual(['1', '2']);
    expect(capped.result.differing).toBe(3);
  });
});
