import type { BytesStore, ChangelogWriter } from './bytes-store.ts';

/** The engine under a caching store: a LevelDB store, or anything that writes a batch at once. */
export interface BatchBytesStore extends BytesStore {
  write(entries: Iterable<readonly [Buffer, Buffer | null]>): Promise<void>;
}

const DONE: Promise<void> = Promise.resolve();

/**
 * Keeps a task's writes in memory until `flush`, which the task calls before each commit: the
 * writes then go to the engine in one batch and to the changelog once per key (the last value
 * wins, as compaction would keep it), inside the transaction that commits the input offsets.
 * Recently read and written entries stay cached for reads (up to `maxCached`).
 *
 * Exactly-once is unchanged: the changelog of a commit holds the final value of every key that
 * changed since the previous commit, in the same transaction as the outputs and offsets; local
 * state that got ahead of a commit is wiped on the next open (no checkpoint) and restored.
 * A range scan flushes first, so it sees every write.
 */
export class CachingBytesStore implements BytesStore {
  private readonly inner: BatchBytesStore;
  private readonly log: ChangelogWriter | undefined;
  private readonly maxCached: number;
  /** latin1 key → value written since the last flush (`null`: deleted). */
  private dirty = new Map<string, Buffer | null>();
  /** latin1 key → value as the engine has it (`null`: absent). */
  private cached = new Map<string, Buffer | null>();

  constructor(inner: BatchBytesStore, log: ChangelogWriter | undefined, maxCached = 200_000) {
    this.inner = inner;
    this.log = log;
    this.maxCached = maxCached;
  }

  get(key: Buffer): Promise<Buffer | undefined> {
    const k = key.toString('latin1');
    let hit = this.dirty.get(k);
    if (hit === undefined) hit = this.cached.get(k);
    if (hit !== undefined) return Promise.resolve(hit ?? undefined);
    return this.inner.get(key).then((value) => {
      this.remember(k, value ?? null);
      return value;
    });
  }

  put(key: Buffer, value: Buffer): Promise<void> {
    this.dirty.set(key.toString('latin1'), value);
    return DONE;
  }

  delete(key: Buffer): Promise<void> {
    this.dirty.set(key.toString('latin1'), null);
    return DONE;
  }

  async *range(from?: Buffer, to?: Buffer): AsyncIterable<[Buffer, Buffer]> {
    await this.flush();
    yield* this.inner.range(from, to);
  }

  /** How many keys changed since the last flush. */
  get pending(): number {
    return this.dirty.size;
  }

  /** Writes the changes since the last flush to the engine (one batch) and to the changelog (one record per key). */
  async flush(): Promise<void> {
    if (this.dirty.size === 0) return;
    const dirty = this.dirty;
    this.dirty = new Map();
    const entries: [Buffer, Buffer | null][] = [];
    for (const [k, value] of dirty) {
      const key = Buffer.from(k, 'latin1');
      entries.push([key, value]);
      this.log?.(key, value);
    }
    await this.inner.write(entries);
    for (const [k, value] of dirty) this.remember(k, value);
  }

  private remember(k: string, value: Buffer | null): void {
    if (this.cached.size >= this.maxCached) this.cached = new Map();
    this.cached.set(k, value);
  }

  async close(): Promise<void> {
    await this.inner.close();
  }
}
