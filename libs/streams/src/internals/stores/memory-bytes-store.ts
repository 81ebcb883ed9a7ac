import type { BytesStore } from './bytes-store.ts';

/** Bytes kept in a sorted array of latin1 strings (which sort like the bytes they hold). */
export class MemoryBytesStore implements BytesStore {
  private readonly keys: string[] = [];
  private readonly values = new Map<string, Buffer>();

  private indexOf(k: string): number {
    let lo = 0;
    let hi = this.keys.length;
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      if ((this.keys[mid] as string) < k) lo = mid + 1;
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
    if (!this.values.has(k)) this.keys.splice(this.indexOf(k), 0, k);
    this.values.set(k, Buffer.from(value));
  }

  deleteSync(key: Buffer): void {
    const k = key.toString('latin1');
    if (!this.values.delete(k)) return;
    this.keys.splice(this.indexOf(k), 1);
  }

  async *range(from?: Buffer, to?: Buffer): AsyncIterable<[Buffer, Buffer]> {
    const start = from ? this.indexOf(from.toString('latin1')) : 0;
    const end = to ? this.indexOf(to.toString('latin1')) : this.keys.length;
    const slice = this.keys.slice(start, end).map((k) => [k, this.values.get(k) as Buffer] as const);
    for (const [k, v] of slice) yield [Buffer.from(k, 'latin1'), v];
  }

  get size(): number {
    return this.keys.length;
  }

  async close(): Promise<void> {}
}
