import { snapshotChangeId, stableJson } from '@cdc/core';
import { describe, expect, it } from 'vitest';
import { flatStableJson, keyJson, keyJsonBuilder, snapshotIdsFor } from './snapshot-ids.ts';

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

  it('gives the same ids for keys of changing shapes in a row (field names remembered per shape)', () => {
    const ids = snapshotIdsFor('00000003-0000001B-1', 'public.orders');
    const run: unknown[] = [
      { a: 1, b: 2 },
      { b: 2, a: 1 },
      { a: 1 },
      { a: 1, b: 2, c: 'x' },
      { c: 'x', a: 1, b: 2 },
    ];
    for (const key of [...run, ...keys, ...run])
      expect(ids(key)).toBe(snapshotChangeId('00000003-0000001B-1', 'public.orders', key));
    // The chunked snapshot passes the key's JSON it already has: the same id.
    for (const key of keys) expect(ids(key, keyJson(key))).toBe(ids(key));
    const unicode = snapshotIdsFor('snap-é', 'public.tâble');
    expect(unicode({ id: 'ü' })).toBe(snapshotChangeId('snap-é', 'public.tâble', { id: 'ü' }));
  });

  it('builds the stable JSON of flat keys and leaves the rest to stableJson', () => {
    expect(flatStableJson({ b: 2n, a: 'x' })).toBe(stableJson({ b: 2n, a: 'x' }));
    expect(flatStableJson({ z: undefined, a: 1 })).toBe(stableJson({ z: undefined, a: 1 }));
    expect(flatStableJson({ a: undefined, b: 1 })).toBe(stableJson({ a: undefined, b: 1 }));
    expect(flatStableJson({ nested: { a: 1 } })).toBeUndefined();
    expect(flatStableJson([1])).toBeUndefined();
  });

  it('keys the chunk window by the stable JSON of every key (flat or not)', () => {
    const build = keyJsonBuilder();
    for (const key of [...keys, { a: 1, b: 2 }, { b: 2, a: 1 }, { a: 1 }])
      for (const json of [keyJson(key), build(key)]) expect(json).toBe(stableJson(key));
  });
});
