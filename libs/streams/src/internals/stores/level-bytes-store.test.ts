import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { LevelBytesStore } from './level-bytes-store.ts';

const b = (s: string) => Buffer.from(s);

describe('LevelBytesStore.write', () => {
  const dirs: string[] = [];
  const open = () => {
    const dir = mkdtempSync(join(tmpdir(), 'level-bytes-'));
    dirs.push(dir);
    return LevelBytesStore.open(join(dir, 'store'));
  };
  afterEach(() => {
    for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
  });

  it('applies the puts and deletes of one batch together, the last write of a key winning', async () => {
    const store = await open();
    await store.write([
      [b('a'), b('1')],
      [b('b'), b('2')],
      [b('c'), b('3')],
    ]);
    await store.write([
      [b('a'), null],
      [b('b'), b('2b')],
      [b('d'), b('4')],
      [b('d'), b('4b')],
    ]);
    expect(store.getSync(b('a'))).toBeUndefined();
    expect(store.getSync(b('b'))?.toString()).toBe('2b');
    const all: string[] = [];
    for await (const [k, v] of store.range()) all.push(`${k}=${v}`);
    expect(all).toEqual(['b=2b', 'c=3', 'd=4b']);
    await store.write([]);
    await store.close();
  });

  it('names the store when a batch cannot be written, and can still be closed', async () => {
    const store = await open();
    await expect(store.write([[null as unknown as Buffer, b('x')]])).rejects.toThrow(
      /batch write failed on the LevelDB store at .*store/,
    );
    await store.close();
  });

  it('knows the keys it never held, and never mistakes a key it holds, even right after a reopen', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'level-bytes-'));
    dirs.push(dir);
    const location = join(dir, 'store');
    const first = await LevelBytesStore.open(location);
    await first.filterReady();
    const keys = Array.from({ length: 2_000 }, (_, i) => b(`["${i}"]`));
    await first.write(keys.map((k) => [k, b('v')] as const));
    expect(keys.every((k) => first.mightHave(k))).toBe(true);
    expect(first.mightHave(b('["never"]'))).toBe(false);
    await first.close();

    // Reopened: until its keys are scanned, every key may be there; afterwards they are known.
    const again = await LevelBytesStore.open(location);
    expect(again.mightHave(b('["1999"]'))).toBe(true);
    expect(again.getSync(b('["1999"]'))?.toString()).toBe('v');
    await again.filterReady();
    expect(keys.every((k) => again.mightHave(k))).toBe(true);
    let absent = 0;
    for (let i = 2_000; i < 4_000; i++) if (!again.mightHave(b(`["${i}"]`))) absent++;
    expect(absent).toBeGreaterThan(1_900);
    await again.close();
  });
});
