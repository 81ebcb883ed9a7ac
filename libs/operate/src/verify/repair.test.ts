import { describe, expect, it } from 'vitest';
import { rowText } from './compare.ts';
import { repairedKeyCount, resyncRanges } from './repair.ts';

describe('repair requests', () => {
  it('asks for an integer key as ranges of adjacent keys, the keys only ClickHouse held in theirs', () => {
    const r = {
      key: 'id',
      ranges: [
        { lo: '3', hi: '5' },
        { lo: '9', hi: '9' },
      ],
      onlyInClickHouse: ['5'],
      onlyAtSource: ['9'],
    };
    expect(repairedKeyCount(r)).toBe(4);
    expect(resyncRanges(r)).toEqual([
      { from: ['3'], to: ['5'], absent: [['5']] },
      { from: ['9'], to: ['9'], absent: [] },
    ]);
  });

  it('asks for any other key one key at a time, so the capture reads exactly that key whatever its collation', () => {
    const values = [
      ['Berlin', '7'],
      ['berlin', '7'],
    ];
    const r = {
      key: 'region, n',
      ranges: [],
      keys: values.map(rowText),
      columns: ['region', 'n'],
      values,
      onlyInClickHouse: [rowText(['berlin', '7'])],
    };
    expect(repairedKeyCount(r)).toBe(2);
    expect(resyncRanges(r)).toEqual([
      { from: ['Berlin', '7'], to: ['Berlin', '7'], absent: [] },
      { from: ['berlin', '7'], to: ['berlin', '7'], absent: [['berlin', '7']] },
    ]);
  });
});
