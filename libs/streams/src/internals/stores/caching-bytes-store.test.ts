import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { type BatchBytesStore, CachingBytesStore } from './caching-bytes-store.ts';
import { LevelBytesStore } from './level-bytes-store.ts';
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

/** A commit as the runtime makes one: the flush, logged in a transaction that then commits. */
async function commit(store: CachingBytesStore): Promise<void> {
  const flush = store.flush();
  if (flush !== undefined) await store.committed(flush);
}

describe('CachingBytesStore', () => {
  it('abandon forgets the writes since the last flush and those of flushes whose transaction never committed; committed ones stay and reach the engine', async () => {
    const inner = engine();
    await inner.put(b('k'), b('engine'));
    const log: string[] = [];
    const store = new CachingBytesStore(inner, (k, v) => log.push(`${k}=${v ?? '∅'}`), 200_000, 1);
    await store.put(b('f'), b('committed'));
    await commit(store);
    await store.put(b('k'), b('in-a-failed-transaction'));
    await store.put(b('x'), b('in-a-failed-transaction'));
    const failed = store.flush();
    expect(failed).toBeDefined();
    // Logged for its transaction, read back meanwhile, but never written to the engine.
    expect(store.getSync(b('k'))?.toString()).toBe('in-a-failed-transaction');
    expect(inner.batches).toBe(1);
    await store.put(b('f'), b('never-flushed'));
    await store.delete(b('gone'));
    store.abandon();
    expect(store.pending).toBe(0);
    expect(store.getSync(b('k'))?.toString()).toBe('engine');
    expect(store.getSync(b('x'))).toBeUndefined();
    expect(store.getSync(b('f'))?.toString()).toBe('committed');
    const scan: string[] = [];
    for await (const [k, v] of store.range()) scan.push(`${k}=${v}`);
    expect(scan).toEqual(['f=committed', 'k=engine']);
    // Its transaction's outcome learnt late: nothing of it comes back.
    await store.committed(failed as NonNullable<typeof failed>);
    await store.writeAll();
    expect(log).toEqual(['f=committed', 'k=in-a-failed-transaction', 'x=in-a-failed-transaction']);
    expect((await inner.get(b('k')))?.toString()).toBe('engine');
    expect(await inner.get(b('x'))).toBeUndefined();
    expect((await inner.get(b('f')))?.toString()).toBe('committed');
  });

  it('writes nothing to the engine before the transaction of a flush commits, and commits flushes in order', async () => {
    const inner = engine();
    const store = new CachingBytesStore(inner, undefined, 200_000, 1);
    await store.put(b('a'), b('1'));
    const first = store.flush();
    await store.put(b('a'), b('2'));
    await store.put(b('b'), b('2'));
    const second = store.flush();
    await new Promise((r) => setImmediate(r));
    expect(inner.batches).toBe(0);
    expect(store.getSync(b('a'))?.toString()).toBe('2');
    // The later transaction committed: the earlier one had (transactions commit in order).
    await store.committed(second as NonNullable<typeof second>);
    expect((await inner.get(b('a')))?.toString()).toBe('2');
    expect((await inner.get(b('b')))?.toString()).toBe('2');
    await store.committed(first as NonNullable<typeof first>); // already in: nothing happens
    expect((await inner.get(b('a')))?.toString()).toBe('2');
  });

  it('stops at a failed engine write: later flushes and writeAll throw its error, and reads still answer the failed batch', async () => {
    const inner = engine();
    const broken = new Error('disk full');
    inner.write = async () => {
      throw broken;
    };
    const store = new CachingBytesStore(inner, undefined, 200_000, 1);
    await store.put(b('a'), b('1'));
    await expect(commit(store)).rejects.toBe(broken);
    expect(store.failed?.error).toBe(broken);
    expect(store.getSync(b('a'))?.toString()).toBe('1');
    await store.put(b('b'), b('2'));
    expect(() => store.flush()).toThrow(broken);
    await expect(store.writeAll()).rejects.toBe(broken);
  });

  it('logs every flush at once but writes the engine once `writeEvery` committed keys wait, and all of them at writeAll; reads and scans see them meanwhile', async () => {
    const inner = engine();
    await inner.put(b('old'), b('0'));
    const log: string[] = [];
    const store = new CachingBytesStore(inner, (k, v) => log.push(`${k}=${v ?? '∅'}`), 200_000, 3);
    await store.put(b('a'), b('1'));
    await store.delete(b('old'));
    await commit(store);
    // In the changelog at once (its commit), not in the engine yet.
    expect(log).toEqual(['a=1', 'old=∅']);
    expect(inner.batches).toBe(0);
    expect(inner.size).toBe(1);
    expect(store.pending).toBe(0);
    expect(store.getSync(b('a'))?.toString()).toBe('1');
    expect(store.getSync(b('old'))).toBeUndefined();
    const scan: string[] = [];
    for await (const [k, v] of store.range()) scan.push(`${k}=${v}`);
    expect(scan).toEqual(['a=1']);

    // A later write of a key waiting for the engine replaces it there too.
    await store.put(b('a'), b('2'));
    await store.put(b('c'), b('3'));
    await commit(store);
    expect(log).toEqual(['a=1', 'old=∅', 'a=2', 'c=3']);
    expect(inner.batches).toBe(1); // 3 keys waited: one batch with the last value of each
    expect(inner.size).toBe(2);
    expect((await inner.get(b('a')))?.toString()).toBe('2');
    expect(await inner.get(b('old'))).toBeUndefined();

    await store.put(b('d'), b('4'));
    await commit(store);
    expect(inner.batches).toBe(1);
    await store.writeAll();
    expect(inner.batches).toBe(2);
    expect((await inner.get(b('d')))?.toString()).toBe('4');
    await store.writeAll();
    expect(inner.batches).toBe(2);
    expect(log).toHaveLength(5);
  });

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

    await commit(store);
    expect(log).toEqual([
      ['a', '2'],
      ['b', '1'],
      ['gone', null],
    ]);
    expect(inner.batches).toBe(1);
    expect(inner.size).toBe(2);
    expect(store.flush()).toBeUndefined();
    expect(log).toHaveLength(3);
  });

  it('merges unflushed writes and deletes into a range scan, in key order, without flushing', async () => {
    const inner = engine();
    await inner.put(b('b'), b('old'));
    await inner.put(b('d'), b('4'));
    await inner.put(b('e'), b('5'));
    const log: string[] = [];
    const store = new CachingBytesStore(inner, (k) => log.push(k.toString()));
    await store.put(b('c'), b('3'));
    await store.put(b('a'), b('1'));
    await store.put(b('b'), b('2'));
    await store.delete(b('d'));
    await store.put(b('f'), b('6'));
    const all: string[] = [];
    for await (const [k, v] of store.range()) all.push(`${k}=${v}`);
    expect(all).toEqual(['a=1', 'b=2', 'c=3', 'e=5', 'f=6']);
    const some: string[] = [];
    for await (const [k, v] of store.range(b('b'), b('e'))) some.push(`${k}=${v}`);
    expect(some).toEqual(['b=2', 'c=3']);
    // a scan (an interactive query, say) logs nothing: only the commit's flush does
    expect(log).toEqual([]);
    expect(inner.batches).toBe(0);
  });

  it('answers the latest write while a flush is on its way to the engine, so a read-modify-write beside a flush loses nothing', async () => {
    const inner = engine();
    await inner.put(b('k'), b('0'));
    let release: () => void = () => {};
    const write = inner.write;
    inner.write = async (entries) => {
      await new Promise<void>((r) => {
        release = r;
      });
      await write(entries);
    };
    const store = new CachingBytesStore(inner, undefined);
    expect((await store.get(b('k')))?.toString()).toBe('0');
    await store.put(b('k'), b('1'));
    const flush = store.flush();
    const flushing = store.committed(flush as NonNullable<typeof flush>); // on its way, while a query reads
    await new Promise((r) => setTimeout(r, 0));
    expect((await store.get(b('k')))?.toString()).toBe('1');
    const scanned: string[] = [];
    for await (const [k, v] of store.range()) scanned.push(`${k}=${v}`);
    expect(scanned).toEqual(['k=1']);
    await store.put(b('k'), b('2'));
    inner.write = write;
    release();
    await flushing;
    expect((await store.get(b('k')))?.toString()).toBe('2');
    await commit(store);
    expect((await inner.get(b('k')))?.toString()).toBe('2');
  });

  it('does not cache an engine read that a flush overtook', async () => {
    const inner = engine();
    await inner.put(b('k'), b('0'));
    let answer: () => void = () => {};
    const get = inner.get.bind(inner);
    inner.get = async (key) => {
      const value = await get(key); // read before the flush below writes
      await new Promise<void>((r) => {
        answer = r;
      });
      return value;
    };
    const store = new CachingBytesStore(inner, undefined);
    const slow = store.get(b('k'));
    await new Promise((r) => setTimeout(r, 0));
    await store.put(b('k'), b('1'));
    await commit(store);
    answer();
    expect((await slow)?.toString()).toBe('0');
    inner.get = get;
    expect((await store.get(b('k')))?.toString()).toBe('1');
  });
});

describe('CachingBytesStore, synchronous path', () => {
  it('answers getSync/putSync/deleteSync at once, the engine reads included', async () => {
    const inner = engine();
    await inner.put(b('kept'), b('engine'));
    const store = new CachingBytesStore(inner, undefined);
    expect(store.getSync(b('kept'))?.toString()).toBe('engine');
    store.putSync(b('a'), b('1'));
    store.deleteSync(b('kept'));
    expect(store.getSync(b('a'))?.toString()).toBe('1');
    expect(store.getSync(b('kept'))).toBeUndefined();
    expect(store.getSync(b('never'))).toBeUndefined();
    await commit(store);
    expect(inner.size).toBe(1);
    expect(store.getSync(b('a'))?.toString()).toBe('1');
  });

  it('logs a flush before it returns, and reads see every committed flush still on its way to the engine', async () => {
    const inner = engine();
    const release: (() => void)[] = [];
    inner.write = (entries) =>
      new Promise<void>((resolve) => {
        release.push(() => {
          for (const [k, v] of entries) v === null ? inner.deleteSync(k) : inner.putSync(k, v);
          inner.batches += 1;
          resolve();
        });
      });
    const log: string[] = [];
    const store = new CachingBytesStore(inner, (k, v) => log.push(`${k}=${v ?? 'deleted'}`));
    store.putSync(b('a'), b('1'));
    store.putSync(b('b'), b('1'));
    const firstFlush = store.flush();
    expect(log).toEqual(['a=1', 'b=1']); // at once: the transaction that takes them is begun now
    const first = store.committed(firstFlush as NonNullable<typeof firstFlush>);
    store.putSync(b('a'), b('2'));
    store.deleteSync(b('b'));
    const secondFlush = store.flush();
    const second = store.committed(secondFlush as NonNullable<typeof secondFlush>);
    expect(log).toEqual(['a=1', 'b=1', 'a=2', 'b=deleted']);
    // Neither write reached the engine: the newest flush answers, then the older one.
    expect(inner.size).toBe(0);
    expect(store.getSync(b('a'))?.toString()).toBe('2');
    expect(store.getSync(b('b'))).toBeUndefined();
    const scanned: string[] = [];
    for await (const [k, v] of store.range()) scanned.push(`${k}=${v}`);
    expect(scanned).toEqual(['a=2']);
    // Engine writes go in flush order: the second waits for the first.
    await new Promise((r) => setImmediate(r));
    expect(release).toHaveLength(1);
    release[0]?.();
    await first;
    await new Promise((r) => setImmediate(r));
    expect(release).toHaveLength(2);
    expect(store.getSync(b('b'))).toBeUndefined();
    release[1]?.();
    await second;
    expect(inner.batches).toBe(2);
    expect(inner.getSync(b('a'))?.toString()).toBe('2');
    expect(inner.getSync(b('b'))).toBeUndefined();
  });

  it("over LevelDB, answers a key it never held from the engine's filter, and finds every key it holds", async () => {
    const dir = mkdtempSync(join(tmpdir(), 'caching-level-'));
    try {
      const level = await LevelBytesStore.open(join(dir, 'store'));
      await level.filterReady();
      await level.write([[b('on-disk'), b('0')]]);
      const store = new CachingBytesStore(level, undefined);
      store.putSync(b('unflushed'), b('1'));
      expect(store.getSync(b('unflushed'))?.toString()).toBe('1');
      expect(store.getSync(b('on-disk'))?.toString()).toBe('0');
      expect(store.getSync(b('never'))).toBeUndefined();
      expect(level.mightHave(b('never'))).toBe(false);
      const flush = store.flush();
      const flushed = store.committed(flush as NonNullable<typeof flush>);
      // While the batch is on its way, and after it landed.
      expect(store.getSync(b('unflushed'))?.toString()).toBe('1');
      await flushed;
      expect(store.getSync(b('unflushed'))?.toString()).toBe('1');
      store.deleteSync(b('on-disk'));
      expect(store.getSync(b('on-disk'))).toBeUndefined();
      await commit(store);
      expect(store.getSync(b('on-disk'))).toBeUndefined();
      await store.close();
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
