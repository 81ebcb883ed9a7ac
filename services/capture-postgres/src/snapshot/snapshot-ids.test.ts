import { snapshotChangeId, stableJson } from '@cdc/core';
import { describe, expect, it } from 'vitest';
import { flatStableJson, snapshotIdsFor } from './snapshot-ids.ts';

const keys: unknown[] = [
  { id: 1 },
  { id: 12345678901234567890n },
  { b: 'x"y', a: -1.5, c: true, d: null },
  { z: undefined, a: 'é' },
  { a: 0.1 + 0.2, b: Number.NaN },
  { bytes: Buffer.from('ab') },
  { nested: { b: 1, a: 2 } },
  [Buffer.from('raw')],
  null,
];

describe('snapshotIdsFor', () => {
  it('gives the ids of snapshotChangeId', () => {
    const ids = snapshotIdsFor('00000003-0000001B-1', 'public.orders');
    for (const key of keys) {
      expect(ids(key)).toBe(snapshotChangeId('00000003-0000001B-1', 'public.orders', key));
    }
    expect(ids({ id: 1 })).not.toBe(ids({ id: 2 }));
  });

  it('builds the stable JSON of flat keys and leaves the rest to stableJson', () => {
    expect(flatStableJson({ b: 2n, a: 'x' })).toBe(stableJson({ b: 2n, a: 'x' }));
    expect(flatStableJson({ z: undefined, a: 1 })).toBe(stableJson({ z: undefined, a: 1 }));
    expect(flatStableJson({ a: undefined, b: 1 })).toBe(stableJson({ a: undefined, b: 1 }));
    expect(flatStableJson({ nested: { a: 1 } })).toBeUndefined();
    expect(flatStableJson([1])).toBeUndefined();
  });
});
