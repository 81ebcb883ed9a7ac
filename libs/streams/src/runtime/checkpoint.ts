import { open, readdir, readFile, rename, rm } from 'node:fs/promises';
import { dirname, join } from 'node:path';

/**
 * The changelog offsets up to which a task's local stores are known to hold exactly the
 * committed state. It exists only while the task is not running: it is written when the task
 * closes with sound stores (`RuntimeTask.close`), once they are on disk, and deleted before
 * processing starts, so a task that finds none after a crash wipes its stores and restores them
 * from the changelog.
 */
export type Checkpoint = Record<string, number>;

const FILE = '.checkpoint';

export async function readCheckpoint(taskDir: string): Promise<Checkpoint | undefined> {
  const parsed = await readCheckpointFile(taskDir);
  if (typeof parsed !== 'object' || parsed === null) return undefined;
  const out: Checkpoint = {};
  for (const [k, v] of Object.entries(parsed))
    if (typeof v === 'number' && Number.isSafeInteger(v)) out[k] = v;
  return out;
}

/** `<dir>/.checkpoint` as parsed JSON, unchecked; undefined when it is missing or unreadable. */
export async function readCheckpointFile(dir: string): Promise<unknown> {
  try {
    return JSON.parse(await readFile(join(dir, FILE), 'utf8')) as unknown;
  } catch {
    return undefined;
  }
}

/**
 * Replaces `<dir>/.checkpoint` (a task's, or the global tables'): see `replaceFile`. The caller
 * makes the stores it vouches for durable first (`syncFolder`).
 */
export async function writeCheckpoint(dir: string, checkpoint: Checkpoint | object): Promise<void> {
  await replaceFile(join(dir, FILE), JSON.stringify(checkpoint));
}

/**
 * Replaces the file at `path` at once, durably: written beside it and fsynced, then renamed, and
 * the folder fsynced, so that after a power loss the file is either the old one or the new one,
 * whole, and the new one once this has returned.
 */
export async function replaceFile(path: string, text: string): Promise<void> {
  const tmp = `${path}.tmp`;
  const file = await open(tmp, 'w');
  try {
    await file.writeFile(text);
    await file.sync();
  } finally {
    await file.close();
  }
  await rename(tmp, path);
  await syncEntry(dirname(path));
}

export async function deleteCheckpoint(taskDir: string): Promise<void> {
  await rm(join(taskDir, FILE), { force: true });
  await syncEntry(taskDir);
}

/** fsync of a file or a folder (its entries); one that is gone meanwhile is skipped. */
async function syncEntry(path: string): Promise<void> {
  let handle: Awaited<ReturnType<typeof open>>;
  try {
    handle = await open(path, 'r');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return;
    throw err;
  }
  try {
    await handle.sync();
  } finally {
    await handle.close();
  }
}

/**
 * Puts everything written to the files of `folder` (a LevelDB store, open or closed) on disk,
 * and the folder's entries. LevelDB does not sync its log unless asked to at every write, so a
 * checkpoint written after a power loss could otherwise vouch for writes the store lost: its
 * state would be silently behind what the checkpoint says. (Files LevelDB removes meanwhile,
 * as a compaction does, are skipped: what they held is in the files that replace them.)
 */
export async function syncFolder(folder: string): Promise<void> {
  for (const entry of await readdir(folder, { withFileTypes: true }))
    if (entry.isFile()) await syncEntry(join(folder, entry.name));
  await syncEntry(folder);
}
