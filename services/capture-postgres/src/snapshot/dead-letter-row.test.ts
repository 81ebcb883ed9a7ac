import { describe, expect, it } from 'vitest';
import { deadLetterRow } from './incremental.ts';

describe('a snapshot row in a dead letter', () => {
  it('keeps every column, JSON-safe, with large values replaced by their size', () => {
    const row = deadLetterRow({
      id: 1n,
      v: 'x'.repeat(2_000),
      small: 'ok',
      b: Buffer.alloc(4_000),
      tiny: Buffer.from([1, 2]),
      none: null,
      tags: ['a', 'y'.repeat(1_500)],
    });
    expect(row).toEqual({
      id: '1',
      v: '(omitted: 2000 characters)',
      small: 'ok',
      b: '(omitted: 4000 bytes)',
      tiny: 'AQI=',
      none: null,
      tags: ['a', '(omitted: 1500 characters)'],
    });
    expect(() => JSON.stringify(row)).not.toThrow();
  });
});
