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

/** The writes of one `flush`, logged in a transaction whose outcome is not known yet. */
export class CacheFlush {
  readonly entries: ReadonlyMap<string, Buffer | null>;

  constructor(entries: ReadonlyMap<string, Buffer | null>) {
    this.entries = entries;
  }
}

/**
 * Keeps a task's writes in memory until `flush`, which the task calls before each commit: the
 * writes then go to the changelog once per key (the last value wins, as compaction would keep
 * it), inside the transaction that commits the input offsets. Only once that transaction has
 * committed (`committed`) may they reach the engine, in batches of at least `writeEvery` keys
 * (or all at once by `writeAll`, before a checkpoint). A transaction that failed takes its
 * writes with it (`abandon`). Recently read and written entries stay cached for reads (up to
 * `maxCached`).
 *
 * So the engine only ever holds the restored state plus the writes of committed transactions,
 * whatever happens to the transactions on their way: a task whose transaction failed (its
 * producer fenced, its offsets refused by a group that moved on) drops what that transaction
 * held and keeps its stores under a checkpoint, instead of restoring every store from scratch.
 * The engine may lag the commits (a crash loses no committed write: the task then finds no
 * checkpoint, wipes the engine and restores it from the changelog). At a steady rate a commit
 * changes few keys per store: writing the engine once per many commits instead of at each one
 * saves a LevelDB batch (and its thread-pool round trip) per store and commit, and no
 * transaction waits for the engine.
 *
 * Reads never write: a range scan merges the unflushed writes into the engine's entries, so an
 * interactive query running beside the task neither flushes (which would log records outside
 * the commit that owns them) nor sees a value older than the task's last write, even while a
 * write is on its way to the engine.
 */
export class CachingBytesStore implements BytesStore {
  private readonly inner: BatchBytesStore;
  private readonly log: ChangelogWriter | undefined;
  private readonly maxCached: number;
  /** latin1 key → value written since the last flush (`null`: deleted). */
  private dirty = new Map<string, Buffer | null>();
  /** Flushed into transactions that have not committed yet, oldest first. */
  private uncommitted: CacheFlush[] = [];
  /** Committed but not yet handed to the engine. */
  private unwritten = new Map<string, Buffer | null>();
  private readonly writeEvery: number;
  /** The engine writes under way (and one that failed), oldest first, each until the engine has it. */
  private flushing: Map<string, Buffer | null>[] = [];
  /** latin1 key → value as the engine has it (`null`: absent). */
  private cached = new Map<string, Buffer | null>();
  private flushed: Promise<void> = DONE;
  private failure: { error: unknown } | undefined;

  constructor(
    inner: BatchBytesStore,
    log: ChangelogWriter | undefined,
    maxCached = 200_000,
    /** Committed keys waiting for the engine at most, before they are written (1: every commit). */
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

  /** Unflushed writes, then the flushes not yet in the engine (newest first), then the cache, then the engine. */
  getSync(key: Buffer): Buffer | undefined {
    // A key neither held by the engine nor written here (a row just inserted): no map lookups,
    // no engine read. Every key put here is noted to the engine's filter first.
    if (this.inner.mightHave?.(key) === false) return undefined;
    const k = key.toString('latin1');
    let hit = this.dirty.get(k);
    for (let i = this.uncommitted.length - 1; hit === undefined && i >= 0; i--)
      hit = (this.uncommitted[i] as CacheFlush).entries.get(k);
    if (hit === undefined) hit = this.unwritten.get(k);
    for (let i = this.flushing.length - 1; hit === undefined && i >= 0; i--)
      hit = (this.flushing[i] as Map<string, Buffer | null>).get(k);
    if (hit === undefined) hit = this.cached.get(k);
    if (hit !== undefined) return hit ?? undefined;
    const value = this.inner.getSync(key);
    // While a write is on its way to the engine, the engine may not hold it yet; the write's own
    // entries answer for those keys (above), and nothing read now is kept.
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

  /** The engine's entries with the writes it does not hold yet laid over them, in key order. */
  async *range(from?: Buffer, to?: Buffer): AsyncIterable<[Buffer, Buffer]> {
    const overlay = new Map<string, Buffer | null>();
    for (const layer of [
      ...this.flushing,
      this.unwritten,
      ...this.uncommitted.map((f) => f.entries),
      this.dirty,
    ])
      for (const [k, v] of layer) overlay.set(k, v);
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
   * Forgets the writes since the last flush and those of every flush whose transaction has not
   * committed: that work will never be committed (its transaction failed, or the task is
   * handed over without one). The engine and the committed writes stay as they are.
   */
  abandon(): void {
    this.dirty = new Map();
    this.uncommitted = [];
  }

  /** How many keys changed since the last flush. */
  get pending(): number {
    return this.dirty.size;
  }

  /** Why a write to the engine failed (it then lacks committed writes: no checkpoint may claim them). */
  get failed(): { error: unknown } | undefined {
    return this.failure;
  }

  /**
   * Writes the changes since the last flush to the changelog (one record per key, at once) for
   * the transaction being made, and returns them for `committed` (undefined when nothing
   * changed). Throws if a write to the engine failed: the store lacks committed writes.
   */
  flush(): CacheFlush | undefined {
    if (this.failure) throw this.failure.error;
    if (this.dirty.size === 0) return undefined;
    const flush = new CacheFlush(this.dirty);
    this.dirty = new Map();
    if (this.log) for (const [k, value] of flush.entries) this.log(Buffer.from(k, 'latin1'), value);
    this.uncommitted.push(flush);
    return flush;
  }

  /**
   * The transaction holding `flush` committed (transactions commit in the order of their
   * flushes): its writes are handed to the engine once `writeEvery` keys or more wait (one
   * batch, which the promise waits for). Engine writes run one after the other, in the order of
   * the commits; reads see the values meanwhile.
   */
  committed(flush: CacheFlush): Promise<void> {
    const i = this.uncommitted.indexOf(flush);
    if (i < 0) return this.flushed; // abandoned meanwhile
    // Earlier flushes were in earlier transactions, which committed first.
    for (const f of this.uncommitted.splice(0, i + 1))
      for (const [k, value] of f.entries) this.unwritten.set(k, value);
    return this.unwritten.size >= this.writeEvery ? this.writeAll() : this.flushed;
  }

  /** Hands every committed change the engine does not have yet to it (before a checkpoint). */
  writeAll(): Promise<void> {
    if (this.failure) return Promise.reject(this.failure.error);
    if (this.unwritten.size === 0) return this.flushed;
    const batch = this.unwritten;
    this.unwritten = new Map();
    return this.write(batch);
  }

  private write(batch: Map<string, Buffer | null>): Promise<void> {
    this.flushing.push(batch);
    const entries: [Buffer, Buffer | null][] = [];
    for (const [k, value] of batch) entries.push([Buffer.from(k, 'latin1'), value]);
    const run = this.flushed.then(async () => {
      try {
        await this.inner.write(entries);
      } catch (error) {
        // The batch stays in `flushing`, so reads still answer it until the task stops.
        this.failure ??= { error };
        throw error;
      }
      for (const [k, value] of batch) this.remember(k, value);
      this.flushing.splice(this.flushing.indexOf(batch), 1);
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
