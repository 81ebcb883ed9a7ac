import { describe, expect, it } from 'vitest';
import { formatTable } from './table-format.ts';

describe('formatTable', () => {
  it('aligns columns, numbers to the right, and counts rows', () => {
    const out = formatTable([
      { region: 'north', revenue: '1200.50', orders: 3 },
      { region: 'south-east', revenue: '7.00', orders: 12 },
    ]);
    expect(out).toBe(
      [
        'region     │ revenue │ orders',
        '───────────┼─────────┼───────',
        'north      │ 1200.50 │      3',
        'south-east │    7.00 │     12',
        '(2 rows)',
        '',
      ].join('\n'),
    );
  });

  it('shows NULL, objects as JSON, cuts long cells and keeps one line per row', () => {
    const out = formatTable([{ a: null, b: { x: [1] }, c: 'x'.repeat(100), d: 'two\nlines' }], 20);
    expect(out).toContain('NULL');
    expect(out).toContain('{"x":[1]}');
    expect(out).toContain(`${'x'.repeat(19)}…`);
    expect(out).toContain('two⏎lines');
    expect(out.trim().split('\n')).toHaveLength(4);
  });

  it('says when there is nothing', () => {
    expect(formatTable([])).toBe('(0 rows)\n');
  });
});
