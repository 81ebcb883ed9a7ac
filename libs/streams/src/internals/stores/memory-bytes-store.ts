import type { BytesStore } from './bytes-store.ts';

/**
 * Bytes in memory (the test driver's stores): values by latin1 key (latin1 strings sort like the
 * bytes they hold), and the keys in order for range scans. New keys are put in order when a
 * scan next needs the order, all at once: inserting each into a sorted array made a load of n
 * distinct keys take time quadratic in n.
 */
export class MemoryBytesStore implements BytesStore {
  private readonly values = new Map<string, Buffer>();
  /** In order; may still hold keys deleted since the last merge. */
  private sorted: string[] = [];
  /** Keys added since the last merge, in no order. */
  private added: string[] = [];
  /** Whether a key was deleted since the last merge. */
  private stale = false;

  /** The keys in order, merging those added and dropping those deleted since the last call. */
  private ordered(): string[] {
    if (this.added.length === 0 && !this.stale) return this.sorted;
    const add = this.added.sort();
    const out: string[] = [];
    let i = 0;
    let j = 0;
    while (i < this.sorted.length || j < add.length) {
      const a = this.sorted[i];
      const b = add[j];
      let k: string;
      if (b === undefined || (a !== undefined && a <= b)) {
        k = a as string;
        i++;
      } else {
        k = b;
        j++;
      }
      // A key deleted, or deleted and added again, appears once, and only if it holds a value.
      if (this.values.has(k) && out[out.length - 1] !== k) out.push(k);
    }
    this.sorted = out;
    this.added = [];
    this.stale = false;
    return out;
  }

  private indexOf(keys: readonly string[], k: string): number {
    let lo = 0;
    let hi = keys.length;
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      if ((keys[mid] as string) < k) lo = mid + 1;
      else hi = mid;
    }
    return lo;
  }

  async get(key: Buffer): Promise<Buffer | undefined> {
    return this.getSync(key);
  }

  async put(key: Buffer, value: Buffer): Promise<void> {
    this.putSync(key, value);
  }

  async delete(key: Buffer): Promise<void> {
    this.deleteSync(key);
  }

  getSync(key: Buffer): Buffer | undefined {
    return this.values.get(key.toString('latin1'));
  }

  putSync(key: Buffer, value: Buffer): void {
    const k = key.toString('latin1');
    if (!this.values.has(k)) this.added.push(k);
    this.values.set(k, Buffer.from(value));
  }

  deleteSync(key: Buffer): void {
    if (this.values.delete(key.toString('latin1'))) this.stale = true;
  }

  async *range(from?: Buffer, to?: Buffer): AsyncIterable<[Buffer, Buffer]> {
    const keys = this.ordered();
    const start = from ? this.indexOf(keys, from.toString('latin1')) : 0;
    const end = to ? this.indexOf(keys, to.toString('latin1')) : keys.length;
    const slice = keys.slice(start, end).map((k) => [k, this.values.get(k) as Buffer] as const);
    for (const [k, v] of slice) yield [Buffer.from(k, 'latin1'), v];
  }

  get size(): number {
    return this.values.size;
  }

  async close(): Promise<void> {}
}
