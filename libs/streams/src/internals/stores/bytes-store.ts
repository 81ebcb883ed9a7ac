/**
 * The storage engine under every typed store: ordered bytes. An in-memory implementation
 * serves the test driver, a LevelDB one the runtime; changelogging wraps either.
 */
export interface BytesStore {
  get(key: Buffer): Promise<Buffer | undefined>;
  put(key: Buffer, value: Buffer): Promise<void>;
  delete(key: Buffer): Promise<void>;
  /**
   * The same three without a promise, for a processor's hot path. Reads are synchronous on every
   * engine (LevelDB's own point reads are); writes on the task's cache and in memory. An engine
   * that only takes batched writes (LevelDB, under the cache) throws on `putSync`/`deleteSync`.
   */
  getSync(key: Buffer): Buffer | undefined;
  putSync(key: Buffer, value: Buffer): void;
  deleteSync(key: Buffer): void;
  /** Entries with `from ≤ key < to` (open bounds when omitted), in byte order; a snapshot. */
  range(from?: Buffer, to?: Buffer): AsyncIterable<[Buffer, Buffer]>;
  close(): Promise<void>;
}

/** Receives every write of a logged store: `null` is a delete (a tombstone in the changelog). */
export type ChangelogWriter = (key: Buffer, value: Buffer | null) => void;

/** Writes through to `inner` and reports each change to `log`. */
export function withChangelog(inner: BytesStore, log: ChangelogWriter): BytesStore {
  return {
    get: (key) => inner.get(key),
    async put(key, value) {
      await inner.put(key, value);
      log(key, value);
    },
    async delete(key) {
      await inner.delete(key);
      log(key, null);
    },
    getSync: (key) => inner.getSync(key),
    putSync(key, value) {
      inner.putSync(key, value);
      log(key, value);
    },
    deleteSync(key) {
      inner.deleteSync(key);
      log(key, null);
    },
    range: (from, to) => inner.range(from, to),
    close: () => inner.close(),
  };
}
