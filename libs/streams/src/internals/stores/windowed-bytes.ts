import type { BytesStore } from './bytes-store.ts';
import {
  byEndBound,
  byEndKey,
  decodeByEnd,
  decodePrimary,
  decodeTime,
  encodeTime,
  primaryKey,
  primaryPrefix,
} from './encoding.ts';

export interface WindowedEntry {
  key: Buffer;
  start: number;
  end: number;
  value: Buffer;
}

const EMPTY = Buffer.alloc(0);
/** `[0x02]`: the stream time the owning operator has observed, stored (and logged) with the windows. */
const STREAM_TIME = Buffer.of(0x02);

/**
 * Values per (key, start, end) over a bytes store, with a second index by end so that closed
 * windows can be found and expired without scanning every key. Both entries go through the
 * same (changelogged) bytes store, so a restore rebuilds both.
 */
export class WindowedBytes {
  readonly bytes: BytesStore;

  constructor(bytes: BytesStore) {
    this.bytes = bytes;
  }

  get(key: Buffer, start: number, end: number): Promise<Buffer | undefined> {
    return this.bytes.get(primaryKey(key, start, end));
  }

  /**
   * `exists`: the caller has just read a value of this window, so its by-end entry is there
   * already and is not written again (written again, it went to the changelog again at every
   * commit that changed the window).
   */
  async put(key: Buffer, start: number, end: number, value: Buffer, exists = false): Promise<void> {
    await this.bytes.put(primaryKey(key, start, end), value);
    if (!exists) await this.bytes.put(byEndKey(key, start, end), EMPTY);
  }

  async remove(key: Buffer, start: number, end: number): Promise<void> {
    await this.bytes.delete(primaryKey(key, start, end));
    await this.bytes.delete(byEndKey(key, start, end));
  }

  /** Windows of `key` with start in `[fromStart, toStart]`, by start. */
  async byStart(key: Buffer, fromStart: number, toStart: number): Promise<WindowedEntry[]> {
    const prefix = primaryPrefix(key);
    const from = Buffer.concat([prefix, encodeTime(fromStart)]);
    const to = Buffer.concat([prefix, encodeTime(toStart + 1)]);
    const out: WindowedEntry[] = [];
    for await (const [k, value] of this.bytes.range(from, to)) {
      const d = decodePrimary(k);
      out.push({ key: Buffer.from(d.key), start: d.start, end: d.end, value });
    }
    return out;
  }

  /** Every window with `fromEnd ≤ end < toEnd`, by end. */
  async byEnd(fromEnd: number, toEnd: number): Promise<WindowedEntry[]> {
    const out: WindowedEntry[] = [];
    for await (const [k] of this.bytes.range(byEndBound(fromEnd), byEndBound(toEnd))) {
      const d = decodeByEnd(k);
      const value = await this.get(d.key, d.start, d.end);
      if (value !== undefined) out.push({ key: Buffer.from(d.key), start: d.start, end: d.end, value });
    }
    return out;
  }

  /** Removes every window with `end < beforeEnd`; returns how many. */
  async expire(beforeEnd: number): Promise<number> {
    const doomed: { key: Buffer; start: number; end: number }[] = [];
    for await (const [k] of this.bytes.range(byEndBound(Number.MIN_SAFE_INTEGER), byEndBound(beforeEnd))) {
      const d = decodeByEnd(k);
      doomed.push({ key: Buffer.from(d.key), start: d.start, end: d.end });
    }
    for (const d of doomed) await this.remove(d.key, d.start, d.end);
    return doomed.length;
  }

  async getStreamTime(): Promise<number | undefined> {
    const b = await this.bytes.get(STREAM_TIME);
    return b === undefined ? undefined : decodeTime(b, 0);
  }

  putStreamTime(time: number): Promise<void> {
    return this.bytes.put(STREAM_TIME, encodeTime(time));
  }

  async *all(): AsyncIterable<WindowedEntry> {
    for await (const [k, value] of this.bytes.range(Buffer.of(0x00), Buffer.of(0x01))) {
      const d = decodePrimary(k);
      yield { key: Buffer.from(d.key), start: d.start, end: d.end, value };
    }
  }
}
