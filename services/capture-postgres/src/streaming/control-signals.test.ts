import { describe, expect, it } from 'vitest';
import { parseControl, qualifiedTable } from './control-signals.ts';

const bytes = (s: string) => new Uint8Array(Buffer.from(s));

describe('control messages', () => {
  it('read a pause or resume of a table, public by default', () => {
    expect(parseControl(bytes('{"id":"a","type":"pause","table":"orders"}'))).toEqual({
      id: 'a',
      type: 'pause',
      table: 'public.orders',
    });
    expect(qualifiedTable('sales.orders')).toBe('sales.orders');
  });

  it('refuse anything else with the expected shape', () => {
    expect(() => parseControl(bytes('{"type":"resync","table":"t"}'))).toThrow(/\{"type":"pause"\|"resume"/);
  });
});
