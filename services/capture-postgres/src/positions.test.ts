import { describe, expect, it } from 'vitest';
import { alreadyWritten, type StoredPosition } from './positions.ts';

const stored = (commitLsn: string, index: number, complete: boolean): StoredPosition => ({
  kind: 'postgres',
  slot: 's',
  commitLsn,
  index,
  complete,
  endLsn: null,
  txId: null,
  tsUsec: 0,
  snapshot: null,
});

describe('alreadyWritten', () => {
  it('skips earlier transactions and the written part of a chunked one, nothing after', () => {
    const s = stored('0/100', 4, false);
    expect(alreadyWritten(s, 0x50n, 99)).toBe(true);
    expect(alreadyWritten(s, 0x100n, 4)).toBe(true);
    expect(alreadyWritten(s, 0x100n, 5)).toBe(false);
    expect(alreadyWritten(s, 0x101n, 0)).toBe(false);
    expect(alreadyWritten(stored('0/100', 4, true), 0x100n, 5)).toBe(true);
    expect(alreadyWritten(undefined, 0x1n, 0)).toBe(false);
  });
});
