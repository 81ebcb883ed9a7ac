import { describe, expect, it } from 'vitest';
import { Serdes } from '../../serde.ts';
import { Stores } from '../../stores.ts';
import { withChangelog } from './bytes-store.ts';
import { decodeTime, encodeTime } from './encoding.ts';
import { MemoryBytesStore } from './memory-bytes-store.ts';
import {
  DecodedKeyValueStore,
  KeyValueStoreImpl,
  SessionStoreImpl,
  WindowStoreImpl,
} from './typed-stores.ts';

async function collect<T>(it: AsyncIterable<T>): Promise<T[]> {
  const out: T[] = [];
  for await (const x of it) out.push(x);
  return out;
}

describe('encodeTime', () => {
  it('sorts like the numbers it encodes, negatives included', () => {
    const times = [-5_000, -1, 0, 1, 255, 256, 1_700_000_000_000];
    const sorted = [...times].map(encodeTime).sort(Buffer.compare);
    expect(sorted.map((b) => times[[...times].map(encodeTime).findIndex((x) => x.equals(b))])).toEqual(times);
  });

  it('keeps the byte layout of the 64-bit sign-flipped encoding, and round-trips every safe integer', () => {
    const reference = (ms: number) => {
      const b = Buffer.alloc(8);
      b.writeBigUInt64BE(BigInt(ms) + 2n ** 63n);
      return b;
    };
    const samples = [
      Number.MIN_SAFE_INTEGER,
      -(2 ** 32) - 1,
      -(2 ** 32),
      -1,
      0,
      1,
      2 ** 32,
      1_700_000_000_123,
      Number.MAX_SAFE_INTEGER,
    ];
    for (const ms of samples) {
      expect(encodeTime(ms).equals(reference(ms))).toBe(true);
      expect(decodeTime(encodeTime(ms), 0)).toBe(ms);
    }
  });
});

describe('MemoryBytesStore', () => {
  it('ranges in byte order with an inclusive lower and exclusive upper bound', async () => {
    const s = new MemoryBytesStore();
    for (const k of ['b', 'a', 'c', 'ab']) await s.put(Buffer.from(k), Buffer.from(k.toUpperCase()));
    await s.delete(Buffer.from('c'));
    const keys = (await collect(s.range(Buffer.from('a'), Buffer.from('b')))).map(([k]) => k.toString());
    expect(keys).toEqual(['a', 'ab']);
    expect((await collect(s.range())).map(([k]) => k.toString())).toEqual(['a', 'ab', 'b']);
  });

  it('keeps byte order through puts, deletes and puts again between scans', async () => {
    const s = new MemoryBytesStore();
    const keys = async () => (await collect(s.range())).map(([k]) => k.toString('latin1'));
    const put = (k: string) => s.put(Buffer.from(k, 'latin1'), Buffer.from('v'));
    const del = (k: string) => s.delete(Buffer.from(k, 'latin1'));
    for (const k of ['m', '\u00ff', 'a', 'z']) await put(k);
    expect(await keys()).toEqual(['a', 'm', 'z', '\u00ff']);
    await del('m');
    await put('b');
    await put('m'); // deleted, then put again before the next scan
    await del('a');
    await put('m'); // an overwrite adds no key
    expect(await keys()).toEqual(['b', 'm', 'z', '\u00ff']);
    expect(s.size).toBe(4);
    await del('z');
    await del('\u00ff');
    await put('\u00ff');
    expect(await keys()).toEqual(['b', 'm', '\u00ff']);
    const many = Array.from({ length: 1000 }, (_, i) => `k${String(999 - i).padStart(4, '0')}`);
    for (const k of many) await put(k);
    expect(await keys()).toEqual(['b', ...[...many].reverse(), 'm', '\u00ff']);
  });
});

describe('global table store (reads kept decoded)', () => {
  it('answers the last write, a miss included, and never keeps a read that a write overtook', async () => {
    const store = new DecodedKeyValueStore(
      Stores.keyValue('g', Serdes.string(), Serdes.json<{ region: string }>()),
      new MemoryBytesStore(),
      2,
    );
    expect(await store.get('1')).toBeUndefined();
    await store.put('1', { region: 'eu' });
    expect(await store.get('1')).toEqual({ region: 'eu' });
    // a read under way while the updater writes the same key
    const reading = store.get('2');
    const writing = store.put('2', { region: 'us' });
    expect(await reading).toBeUndefined();
    await writing;
    expect(await store.get('2')).toEqual({ region: 'us' });
    await store.delete('1');
    expect(await store.get('1')).toBeUndefined();
    // past its bound the cache starts over; answers stay right
    for (const k of ['3', '4', '5']) await store.put(k, { region: k });
    for (const k of ['3', '4', '5', '3']) expect(await store.get(k)).toEqual({ region: k });
  });
});

describe('key-value store', () => {
  it('round-trips typed values and logs every write, deletes as tombstones', async () => {
    const log: [string, string | null][] = [];
    const bytes = withChangelog(new MemoryBytesStore(), (k, v) =>
      log.push([k.toString(), v?.toString() ?? null]),
    );
    const store = new KeyValueStoreImpl(
      Stores.keyValue('kv', Serdes.string(), Serdes.json<{ n: number }>()),
      bytes,
    );
    await store.put('a', { n: 1 });
    await store.put('a', { n: 2 });
    expect(await store.get('a')).toEqual({ n: 2 });
    await store.delete('a');
    expect(await store.get('a')).toBeUndefined();
    expect(log).toEqual([
      ['a', '{"n":1}'],
      ['a', '{"n":2}'],
      ['a', null],
    ]);
  });

  it('restores from its changelog into an empty store', async () => {
    const log: { key: Buffer; value: Buffer | null }[] = [];
    const spec = Stores.keyValue('kv', Serdes.string(), Serdes.number());
    const first = new KeyValueStoreImpl(
      spec,
      withChangelog(new MemoryBytesStore(), (key, value) => log.push({ key, value })),
    );
    await first.put('x', 1);
    await first.put('y', 2);
    await first.delete('x');
    const restoredBytes = new MemoryBytesStore();
    for (const r of log)
      r.value === null ? await restoredBytes.delete(r.key) : await restoredBytes.put(r.key, r.value);
    const restored = new KeyValueStoreImpl(spec, restoredBytes);
    expect(await collect(restored.all())).toEqual([{ key: 'y', value: 2 }]);
  });
});

describe('window store', () => {
  const spec = Stores.window('w', { windowSizeMs: 10, retentionMs: 20 }, Serdes.string(), Serdes.number());

  it('fetches by key and window start, keeping keys that are prefixes of others apart', async () => {
    const s = new WindowStoreImpl(spec, new MemoryBytesStore());
    await s.put('a', 0, 1);
    await s.put('a', 10, 2);
    await s.put('ab', 0, 3);
    expect(await s.fetch('a', 10)).toBe(2);
    expect(await s.fetchRange('a', 0, 10)).toEqual([
      { window: { start: 0, end: 10 }, value: 1 },
      { window: { start: 10, end: 20 }, value: 2 },
    ]);
    expect(await s.fetchRange('ab', 0, 100)).toEqual([{ window: { start: 0, end: 10 }, value: 3 }]);
  });

  it('finds windows by end and expires those past retention', async () => {
    const s = new WindowStoreImpl(spec, new MemoryBytesStore());
    await s.put('a', 0, 1);
    await s.put('b', 10, 2);
    expect((await s.windowsEndingIn(0, 11)).map((e) => e.key.key)).toEqual(['a']);
    // retention 20: the window starting at 0 goes when stream time reaches 20
    expect(await s.expireAt(19)).toBe(0);
    expect(await s.expireAt(20)).toBe(1);
    expect(await s.fetch('a', 0)).toBeUndefined();
    expect((await collect(s.all())).map((e) => e.key)).toEqual([
      { key: 'b', window: { start: 10, end: 20 } },
    ]);
  });

  it('logs a window’s by-end entry once, when the window is new; a restore from that log still finds it by end', async () => {
    const log: { key: Buffer; value: Buffer | null }[] = [];
    const s = new WindowStoreImpl(
      spec,
      withChangelog(new MemoryBytesStore(), (key, value) => log.push({ key, value })),
    );
    const count = (old: number | undefined) => (old ?? 0) + 1;
    expect(await s.aggregate('a', 0, count)).toEqual({ old: undefined, value: 1 });
    expect(await s.aggregate('a', 0, count)).toEqual({ old: 1, value: 2 });
    expect(await s.aggregate('a', 0, count)).toEqual({ old: 2, value: 3 });
    // three values of the window, one by-end entry (written with the first)
    expect(log.map((r) => r.key[0])).toEqual([0x00, 0x01, 0x00, 0x00]);
    // removed and made again: new once more, so its by-end entry is written again
    await s.put('a', 0, null);
    expect(await s.aggregate('a', 0, count)).toEqual({ old: undefined, value: 1 });
    expect(log.slice(4).map((r) => [r.key[0], r.value === null])).toEqual([
      [0x00, true],
      [0x01, true],
      [0x00, false],
      [0x01, false],
    ]);
    const restoredBytes = new MemoryBytesStore();
    for (const r of log)
      r.value === null ? await restoredBytes.delete(r.key) : await restoredBytes.put(r.key, r.value);
    const restored = new WindowStoreImpl(spec, restoredBytes);
    expect(await restored.windowsEndingIn(0, 11)).toEqual([
      { key: { key: 'a', window: { start: 0, end: 10 } }, value: 1 },
    ]);
    expect(await restored.expireAt(20)).toBe(1);
    expect(await collect(restored.all())).toEqual([]);
  });
});

describe('session store', () => {
  it('finds sessions overlapping a range and removes merged ones', async () => {
    const s = new SessionStoreImpl(
      Stores.session('s', { retentionMs: 100 }, Serdes.string(), Serdes.number()),
      new MemoryBytesStore(),
    );
    await s.put('k', { start: 0, end: 5 }, 2);
    await s.put('k', { start: 20, end: 30 }, 3);
    await s.put('other', { start: 0, end: 50 }, 9);
    expect((await s.findSessions('k', 4, 21)).map((x) => x.value)).toEqual([2, 3]);
    expect((await s.findSessions('k', 6, 19)).map((x) => x.value)).toEqual([]);
    await s.remove('k', { start: 0, end: 5 });
    expect((await s.findSessions('k', 0, 100)).map((x) => x.value)).toEqual([3]);
  });
});
