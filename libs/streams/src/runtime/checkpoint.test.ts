import { mkdtemp, readdir, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { LevelBytesStore } from '../internals/stores/level-bytes-store.ts';
import { deleteCheckpoint, readCheckpoint, syncFolder, writeCheckpoint } from './checkpoint.ts';

const dirs: string[] = [];
async function folder(): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), 'checkpoint-'));
  dirs.push(dir);
  return dir;
}
afterEach(async () => {
  for (const d of dirs.splice(0)) await rm(d, { recursive: true, force: true });
});

describe('checkpoint', () => {
  it('replaces the checkpoint whole, leaves no temporary file, and reads a damaged one as none', async () => {
    const dir = await folder();
    expect(await readCheckpoint(dir)).toBeUndefined();
    await writeCheckpoint(dir, { 'app-counts-changelog': 10 });
    await writeCheckpoint(dir, { 'app-counts-changelog': 42, ignored: 'text' });
    expect(await readCheckpoint(dir)).toEqual({ 'app-counts-changelog': 42 });
    expect(await readdir(dir)).toEqual(['.checkpoint']);
    await writeFile(join(dir, '.checkpoint'), '{"app-counts-chan'); // cut short
    expect(await readCheckpoint(dir)).toBeUndefined();
    await deleteCheckpoint(dir);
    await deleteCheckpoint(dir); // none: nothing to do
    expect(await readdir(dir)).toEqual([]);
  });

  it('syncs the files of a LevelDB store, open (the global tables) or closed (a task)', async () => {
    const dir = join(await folder(), 'store');
    const store = await LevelBytesStore.open(dir);
    await store.write([[Buffer.from('k'), Buffer.from('v')]]);
    await syncFolder(dir);
    await store.close();
    await syncFolder(dir);
    const again = await LevelBytesStore.open(dir);
    expect(again.getSync(Buffer.from('k'))?.toString()).toBe('v');
    await again.close();
  });
});
