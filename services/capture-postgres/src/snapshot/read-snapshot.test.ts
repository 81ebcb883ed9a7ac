import { describe, expect, it } from 'vitest';
import { allSaw, snapshotSaw } from './read-snapshot.ts';

describe('snapshotSaw', () => {
  it('saw what finished before xmin and what is between xmin and xmax but not running', () => {
    const saw = snapshotSaw('100:110:100,104');
    expect(saw(99)).toBe(true);
    expect(saw(101)).toBe(true);
    expect(saw(100)).toBe(false);
    expect(saw(104)).toBe(false);
    expect(saw(110)).toBe(false);
    expect(saw(111)).toBe(false);
  });

  it('compares 32-bit xids across the epoch and the wraparound', () => {
    // Epoch 1: xid8 = 2^32 + xid.
    const e = 2n ** 32n;
    const saw = snapshotSaw(`${e + 4294967290n}:${e + e + 5n}:${e + e + 2n}`);
    expect(saw(4294967280)).toBe(true);
    expect(saw(4294967295)).toBe(true);
    expect(saw(3)).toBe(true);
    expect(saw(2)).toBe(false);
    expect(saw(5)).toBe(false);
  });

  it('names a malformed snapshot', () => {
    expect(() => snapshotSaw('nope')).toThrow(/not a pg_snapshot/);
  });
});

describe('allSaw', () => {
  it('a transaction counts as seen only if every read saw it', () => {
    const saw = allSaw(['100:110:', '100:112:105']);
    expect(saw(103)).toBe(true);
    expect(saw(105)).toBe(false);
    expect(saw(111)).toBe(false);
  });
});
