import type { BytesStore, ChangelogWriter } from './bytes-store.ts';

/** The engine under a caching store: a LevelDB store, or anything that writes a batch at once. */
export interface BatchBytesStore extends BytesStore {
  write(entries: Iterable<readonly [Buffer, Buffer | null]>): Promise<void>;
  /** False when the engine certainly does not hold the key, nor any key `note`d. */
  mightHave?(key: Buffer): boolean;
  /** A key this cache holds a value of, not yet written to the engine. */
  note?(key: Buffer): void;
}

const DONE: Promise<void> = Promise.resolve();

/**
 * Keeps a task's writes in memory until `flush`, which the task calls before each commit: the
 * writes then go to the changelog once per key (the last value wins, as compaction would keep
 * it), inside the transaction that commits the input offsets, and to the engine in batches of at
 * least `writeEvery` keys (or all at once by `writeAll`, before a checkpoint). Recently read and
 * written entries stay cached for reads (up to `maxCached`).
 *
 * Exactly-once is unchanged: the changelog of a commit holds the final value of every key that
 * changed since the previous commit, in the same transaction as the outputs and offsets; local
 * state is trusted only under a checkpoint, written after `writeAll` on a clean close, so the
 * engine may lag the commits meanwhile (a task that finds no checkpoint wipes it and restores
 * it from the changelog). At a steady rate a commit changes few keys per store: writing the
 * engine once per many commits instead of at each one saves a LevelDB batch (and its thread-pool
 * round trip) per store and commit.
 *
 * Reads never write: a range scan merges the unflushed writes into the engine's entries, so an
 * interactive query running beside the task neither flushes (which would log records outside
 * the commit that owns them) nor sees a value older than the task's last write, even while a
 * flush is on its way to the engine.
 */
export class CachingBytesStore implements BytesStore {
  private readonly inner: BatchBytesStore;
  private readonly log: ChangelogWriter | undefined;
  private readonly maxCached: number;
  /** latin1 key → value written since the last flush (`null`: deleted). */
  private dirty = new Map<string, Buffer | null>();
  /** Flushed (in the changelog of a commit) but not yet handed to the engine. */
  private unwritten = new Map<string, Buffer | null>();
  private readonly writeEvery: number;
  /** The writes of the flushes under way, oldest first, each until the engine has it. */
  private flushing: Map<string, Buffer | null>[] = [];
  /** latin1 key → value as the engine has it (`null`: absent). */
  private cached = new Map<string, Buffer | null>();
  private flushed: Promise<void> = DONE;

  constructor(
    inner: BatchBytesStore,
    log: ChangelogWriter | undefined,
    maxCached = 200_000,
    /** Keys flushed but not yet written to the engine at most, before it is written (1: every flush). */
    writeEvery = 1,
  ) {
    this.inner = inner;
    this.log = log;
    this.maxCached = maxCached;
    this.writeEvery = writeEvery;
  }

  get(key: Buffer): Promise<Buffer | undefined> {
    try {
      return Promise.resolve(this.getSync(key));
    } catch (err) {
      return Promise.reject(err);
    }
  }

  /** Unflushed writes, then the cache, then the engine (whose point reads are synchronous). */
  getSync(key: Buffer): Buffer | undefined {
    // A key neither held by the engine nor written here (a row just inserted): no map lookups,
    // no engine read. Every key put here is noted to the engine's filter first.
    if (this.inner.mightHave?.(key) === false) return undefined;
    const k = key.toString('latin1');
    let hit = this.dirty.get(k);
    if (hit === undefined) hit = this.unwritten.get(k);
    for (let i = this.flushing.length - 1; hit === undefined && i >= 0; i--)
      hit = (this.flushing[i] as Map<string, Buffer | null>).get(k);
    if (hit === undefined) hit = this.cached.get(k);
    if (hit !== undefined) return hit ?? undefined;
    const value = this.inner.getSync(key);
    // While a flush is on its way to the engine, the engine may not hold its writes yet; the
    // flush's own entries answer for those keys (above), and nothing read now is kept. (Keys
    // not yet handed to the engine answer from `unwritten`, above, until they are.)
    if (this.flushing.length === 0) this.remember(k, value ?? null);
    return value;
  }

  put(key: Buffer, value: Buffer): Promise<void> {
    this.putSync(key, value);
    return DONE;
  }

  delete(key: Buffer): Promise<void> {
    this.deleteSync(key);
    return DONE;
  }

  putSync(key: Buffer, value: Buffer): void {
    this.inner.note?.(key);
    this.dirty.set(key.toString('latin1'), value);
  }

  deleteSync(key: Buffer): void {
    this.dirty.set(key.toString('latin1'), null);
  }

  /** The engine's entries with the unflushed writes laid over them, in key order. */
  async *range(from?: Buffer, to?: Buffer): AsyncIterable<[Buffer, Buffer]> {
    const overlay = new Map<string, Buffer | null>();
    for (const f of this.flushing) for (const [k, v] of f) overlay.set(k, v);
    for (const [k, v] of this.unwritten) overlay.set(k, v);
    for (const [k, v] of this.dirty) overlay.set(k, v);
    const lo = from?.toString('latin1');
    const hi = to?.toString('latin1');
    // latin1 strings compare code unit by code unit, as the bytes compare.
    const over = [...overlay]
      .filter(([k]) => (lo === undefined || k >= lo) && (hi === undefined || k < hi))
      .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
    let i = 0;
    for await (const [key, value] of this.inner.range(from, to)) {
      const k = key.toString('latin1');
      for (; i < over.length && (over[i] as [string, Buffer | null])[0] < k; i++) {
        const [ok, ov] = over[i] as [string, Buffer | null];
        if (ov !== null) yield [Buffer.from(ok, 'latin1'), ov];
      }
      if (i < over.length && (over[i] as [string, Buffer | null])[0] === k) {
        const ov = (over[i] as [string, Buffer | null])[1];
        i++;
        if (ov !== null) yield [key, ov];
        continue;
      }
      yield [key, value];
    }
    for (; i < over.length; i++) {
      const [ok, ov] = over[i] as [string, Buffer | null];
      if (ov !== null) yield [Buffer.from(ok, 'latin1'), ov];
    }
  }

  /**
   * Forgets the writes since the last flush: they belong to work that will never be committed
   * (a task handed over without a commit). The engine and the flushed writes stay as they are.
   */
  discard(): void {
    this.dirty = new Map();
  }

  /** How many keys changed since the last flush. */
  get pending(): number {
    return this.dirty.size;
  }

  /**
   * Writes the changes since the last flush to the changelog (one record per key, at once, before
   * this returns), and hands what the engine does not have yet to it (one batch, which the
   * promise waits for) once that is `writeEvery` keys or more. Engine writes run one after the
   * other, in the order of the flushes; reads see the values meanwhile.
   */
  flush(): Promise<void> {
    if (this.dirty.size > 0) {
      const dirty = this.dirty;
      this.dirty = new Map();
      if (this.writeEvery <= 1) {
        const entries: [Buffer, Buffer | null][] = [];
        for (const [k, value] of dirty) {
          const key = Buffer.from(k, 'latin1');
          entries.push([key, value]);
          this.log?.(key, value);
        }
        return this.write(dirty, entries);
      }
      for (const [k, value] of dirty) {
        this.log?.(Buffer.from(k, 'latin1'), value);
        this.unwritten.set(k, value);
      }
    }
    return this.unwritten.size >= this.writeEvery ? this.writeAll() : this.flushed;
  }

  /** Hands every flushed change the engine does not have yet to it (before a checkpoint). */
  writeAll(): Promise<void> {
    if (this.unwritten.size === 0) return this.flushed;
    const batch = this.unwritten;
    this.unwritten = new Map();
    return this.write(batch);
  }

  private write(batch: Map<string, Buffer | null>, given?: [Buffer, Buffer | null][]): Promise<void> {
    this.flushing.push(batch);
    const entries = given ?? [];
    if (given === undefined) for (const [k, value] of batch) entries.push([Buffer.from(k, 'latin1'), value]);
    const run = this.flushed.then(async () => {
      try {
        await this.inner.write(entries);
        for (const [k, value] of batch) this.remember(k, value);
      } finally {
        this.flushing.splice(this.flushing.indexOf(batch), 1);
      }
    });
    this.flushed = run.catch(() => {});
    return run;
  }

  /** Resolves once every engine write begun has ended, however it ended. */
  idle(): Promise<void> {
    return this.flushed;
  }

  private remember(k: string, value: Buffer | null): void {
    if (this.cached.size >= this.maxCached) this.cached = new Map();
    this.cached.set(k, value);
  }

  async close(): Promise<void> {
    await this.flushed;
    await this.inner.close();
  }
}
