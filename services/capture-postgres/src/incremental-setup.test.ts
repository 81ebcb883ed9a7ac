import { describe, expect, it } from 'vitest';
import { incrementalTables } from './incremental-setup.ts';
import type { StoredPosition } from './positions.ts';

const stored = (
  snapshot: StoredPosition['snapshot'],
  more: Partial<StoredPosition> = {},
): StoredPosition => ({
  kind: 'postgres',
  slot: 's',
  commitLsn: '0/1',
  index: 0,
  complete: true,
  endLsn: null,
  txId: null,
  tsUsec: 0,
  snapshot,
  ...more,
});
const snap = (tables: string[], chunked?: string[]) => ({ id: 'x', consistentPoint: '0/1', tables, chunked });

describe('incrementalTables', () => {
  it('nothing before the initial snapshot, nor with snapshot: never', () => {
    expect(incrementalTables(undefined, { snapshot: 'initial', include: ['a'] }).pending).toEqual([]);
    expect(
      incrementalTables(stored(snap(['public.a'])), { snapshot: 'never', include: ['a', 'b'] }).pending,
    ).toEqual([]);
  });

  it('tables added to the include list after the snapshot, schema-qualified', () => {
    const r = incrementalTables(stored(snap(['public.a'])), {
      snapshot: 'initial',
      include: ['a', 'b', 's.c'],
    });
    expect(r.pending).toEqual(['public.b', 's.c']);
    expect(r.added).toEqual(['public.b', 's.c']);
    expect([...r.initialTables]).toEqual([]);
  });

  it('unfinished chunked tables of the initial snapshot first; the one under way leads', () => {
    const r = incrementalTables(
      stored(snap(['public.a'], ['public.a', 'public.b', 'public.c']), {
        incremental: { id: 'i', table: 'public.c', lastKey: null, rowsDone: 5 },
      }),
      { snapshot: 'initial', include: ['a', 'b', 'c', 'd'] },
    );
    expect([...r.initialTables]).toEqual(['public.b', 'public.c']);
    expect(r.pending).toEqual(['public.c', 'public.b', 'public.d']);
    expect(r.added).toEqual(['public.d']);
  });
});
