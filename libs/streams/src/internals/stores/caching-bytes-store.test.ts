import { describe, expect, it } from 'vitest';
import { type BatchBytesStore, CachingBytesStore } from './caching-bytes-store.ts';
import { MemoryBytesStore } from './memory-bytes-store.ts';

function engine(): MemoryBytesStore & BatchBytesStore & { batches: number } {
  const m = new MemoryBytesStore() as MemoryBytesStore & BatchBytesStore & { batches: number };
  m.batches = 0;
  m.write = async (entries) => {
    m.batches += 1;
    for (const [k, v] of entries) v === null ? await m.delete(k) : await m.put(k, v);
  };
  return m;
}

const b = (s: string) => Buffer.from(s);

describe('CachingBytesStore', () => {
  it('reads its own writes before a flush, and logs one record per changed key at the flush', async () => {
    const inner = engine();
    await inner.put(b('gone'), b('1'));
    const log: [string, string | null][] = [];
    const store = new CachingBytesStore(inner, (k, v) => log.push([k.toString(), v?.toString() ?? null]));
    await store.put(b('a'), b('1'));
    await store.put(b('a'), b('2'));
    await store.put(b('b'), b('1'));
    await store.delete(b('gone'));
    expect((await store.get(b('a')))?.toString()).toBe('2');
    expect(await store.get(b('gone'))).toBeUndefined();
    expect(inner.size).toBe(1);
    expect(log).toEqual([]);

    await store.flush();
    expect(log).toEqual([
      ['a', '2'],
      ['b', '1'],
      ['gone', null],
    ]);
    expect(inner.batches).toBe(1);
    expect(inner.size).toBe(2);
    await store.flush();
    expect(log).toHaveLength(3);
  });

  it('flushes before a range scan, so the scan sees every write in key order', async () => {
    const inner = engine();
    const log: string[] = [];
    const store = new CachingBytesStore(inner, (k) => log.push(k.toString()));
    await store.put(b('c'), b('3'));
    await store.put(b('a'), b('1'));
    const keys: string[] = [];
    for await (const [k] of store.range()) keys.push(k.toString());
    expect(keys).toEqual(['a', 'c']);
    expect(log).toEqual(['c', 'a']);
  });
});
