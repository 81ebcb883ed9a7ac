import { readFile, rename, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';

/**
 * The changelog offsets up to which a task's local stores are known to hold exactly the
 * committed state. It exists only while the task is not running: it is written after the last
 * commit of a clean close and deleted before processing starts, so a task that finds none after
 * a crash wipes its stores and restores them from the changelog.
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

/** Replaces `<dir>/.checkpoint` at once (written beside it, then renamed): a task's, or the global tables'. */
export async function writeCheckpoint(dir: string, checkpoint: Checkpoint | object): Promise<void> {
  const tmp = join(dir, `${FILE}.tmp`);
  await writeFile(tmp, JSON.stringify(checkpoint));
  await rename(tmp, join(dir, FILE));
}

export async function deleteCheckpoint(taskDir: string): Promise<void> {
  await rm(join(taskDir, FILE), { force: true });
}
