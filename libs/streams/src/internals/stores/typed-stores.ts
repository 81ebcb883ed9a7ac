import { CdcError } from '@cdc/core';
import type { Window, Windowed } from '../../record.ts';
import type { Serde } from '../../serde.ts';
import type { KeyValueStore, SessionStore, StoreSpec, WindowStore } from '../../stores.ts';
import type { BytesStore } from './bytes-store.ts';
import { WindowedBytes, type WindowedEntry } from './windowed-bytes.ts';

function keyBytes<K>(store: string, serde: Serde<K>, key: K): Buffer {
  const b = serde.serialize(store, key);
  if (b === null) {
    throw new CdcError(
      'STATE_STORE_FAILED',
      `store ${store}: a null key cannot be stored; filter null keys out first`,
      {
        context: { store },
      },
    );
  }
  return b;
}

function valueBytes<V>(store: string, serde: Serde<V>, value: V): Buffer {
  const b = serde.serialize(store, value);
  if (b === null) {
    throw new CdcError(
      'STATE_STORE_FAILED',
      `store ${store}: the value serde turned a value into null; use delete instead`,
      {
        context: { store },
      },
    );
  }
  return b;
}

/** Deserializes bytes read from a store, awaiting the serde's `prepare` when it asks for it. */
async function readBytes<T>(store: string, serde: Serde<T>, b: Buffer): Promise<T> {
  const ready = serde.prepare?.(store, b);
  if (ready !== undefined) await ready;
  return serde.deserialize(store, b) as T;
}

/** Deserializes bytes read from a store at once; a serde that must fetch something first cannot. */
function readBytesSync<T>(store: string, serde: Serde<T>, b: Buffer): T {
  const ready = serde.prepare?.(store, b);
  if (ready !== undefined) {
    ready.catch(() => {}); // the fetch may fail; `get` is the read that waits for it
    throw new CdcError(
      'STATE_STORE_FAILED',
      `store ${store}: its value serde must fetch something before it can read this value; use get instead of getSync`,
      { context: { store } },
    );
  }
  return serde.deserialize(store, b) as T;
}

export class KeyValueStoreImpl<K, V> implements KeyValueStore<K, V> {
  readonly name: string;
  private readonly spec: StoreSpec<K, V>;
  private readonly bytes: BytesStore;

  constructor(spec: StoreSpec<K, V>, bytes: BytesStore) {
    this.name = spec.name;
    this.spec = spec;
    this.bytes = bytes;
  }

  async get(key: K): Promise<V | undefined> {
    const b = await this.bytes.get(keyBytes(this.name, this.spec.keySerde, key));
    return b === undefined ? undefined : readBytes(this.name, this.spec.valueSerde, b);
  }

  async put(key: K, value: V): Promise<void> {
    await this.bytes.put(
      keyBytes(this.name, this.spec.keySerde, key),
      valueBytes(this.name, this.spec.valueSerde, value),
    );
  }

  async delete(key: K): Promise<void> {
    await this.bytes.delete(keyBytes(this.name, this.spec.keySerde, key));
  }

  getSync(key: K): V | undefined {
    const b = this.bytes.getSync(keyBytes(this.name, this.spec.keySerde, key));
    return b === undefined ? undefined : readBytesSync(this.name, this.spec.valueSerde, b);
  }

  putSync(key: K, value: V): void {
    this.bytes.putSync(
      keyBytes(this.name, this.spec.keySerde, key),
      valueBytes(this.name, this.spec.valueSerde, value),
    );
  }

  deleteSync(key: K): void {
    this.bytes.deleteSync(keyBytes(this.name, this.spec.keySerde, key));
  }

  async *all(): AsyncIterable<{ key: K; value: V }> {
    for await (const [k, v] of this.bytes.range()) {
      yield {
        key: await readBytes(this.name, this.spec.keySerde, k),
        value: await readBytes(this.name, this.spec.valueSerde, v),
      };
    }
  }
}

/**
 * A key-value store that keeps what it read decoded, by key (at most `maxEntries`, misses
 * included), for the global tables: every task looks their rows up once per record, and
 * decoding the same bytes again each time was a visible share of the processor's CPU. Writes go
 * through this store (the table's updater), which forgets the key first. The values it returns
 * are shared by every reader: processors must treat them as read-only, as they would any row
 * of a table they do not own.
 */
const ABSENT: unique symbol = Symbol('absent');

export class DecodedKeyValueStore<K, V> extends KeyValueStoreImpl<K, V> {
  /** `ABSENT` for a key read and not found: one map lookup answers hits and misses alike. */
  private readonly decoded = new Map<K, V | typeof ABSENT>();
  private readonly maxEntries: number;
  /** Counts writes: a read that a write overtook must not be kept. */
  private writes = 0;

  constructor(spec: StoreSpec<K, V>, bytes: BytesStore, maxEntries = 100_000) {
    super(spec, bytes);
    this.maxEntries = maxEntries;
  }

  override async get(key: K): Promise<V | undefined> {
    const hit = this.decoded.get(key);
    if (hit !== undefined) return hit === ABSENT ? undefined : hit;
    const writes = this.writes;
    const value = await super.get(key);
    if (writes === this.writes) this.keep(key, value);
    return value;
  }

  private keep(key: K, value: V | undefined): void {
    if (this.decoded.size >= this.maxEntries) this.decoded.clear();
    this.decoded.set(key, value === undefined ? ABSENT : value);
  }

  override async put(key: K, value: V): Promise<void> {
    this.forget(key);
    await super.put(key, value);
  }

  override async delete(key: K): Promise<void> {
    this.forget(key);
    await super.delete(key);
  }

  override getSync(key: K): V | undefined {
    const hit = this.decoded.get(key);
    if (hit !== undefined) return hit === ABSENT ? undefined : hit;
    const value = super.getSync(key);
    this.keep(key, value);
    return value;
  }

  override putSync(key: K, value: V): void {
    this.forget(key);
    super.putSync(key, value);
  }

  override deleteSync(key: K): void {
    this.forget(key);
    super.deleteSync(key);
  }

  /**
   * The value of `key` changes: its decoded copy goes, and a read under way is not kept. Also
   * for a write that reaches the engine another way (the global tables' batches).
   */
  forget(key: K): void {
    this.writes += 1;
    this.decoded.delete(key);
  }
}

abstract class WindowedBase<K, V> {
  readonly name: string;
  protected readonly spec: StoreSpec<K, V>;
  readonly windowed: WindowedBytes;

  constructor(spec: StoreSpec<K, V>, bytes: BytesStore) {
    this.name = spec.name;
    this.spec = spec;
    this.windowed = new WindowedBytes(bytes);
  }

  protected k(key: K): Buffer {
    return keyBytes(this.name, this.spec.keySerde, key);
  }

  protected v(value: V): Buffer {
    return valueBytes(this.name, this.spec.valueSerde, value);
  }

  /** An entry with its key and value deserialized. */
  async decode(e: WindowedEntry): Promise<{ key: Windowed<K>; value: V }> {
    return {
      key: {
        key: await readBytes(this.name, this.spec.keySerde, e.key),
        window: { start: e.start, end: e.end },
      },
      value: await readBytes(this.name, this.spec.valueSerde, e.value),
    };
  }

  /** Every window with `fromEnd ≤ end < toEnd`, by end (for emitting closed windows). */
  async windowsEndingIn(fromEnd: number, toEnd: number): Promise<{ key: Windowed<K>; value: V }[]> {
    const out: { key: Windowed<K>; value: V }[] = [];
    for (const e of await this.windowed.byEnd(fromEnd, toEnd)) out.push(await this.decode(e));
    return out;
  }

  /** Drops every window with `end < beforeEnd`. */
  expire(beforeEnd: number): Promise<number> {
    return this.windowed.expire(beforeEnd);
  }

  async *all(): AsyncIterable<{ key: Windowed<K>; value: V }> {
    for await (const e of this.windowed.all()) yield await this.decode(e);
  }
}

export class WindowStoreImpl<K, V> extends WindowedBase<K, V> implements WindowStore<K, V> {
  readonly windowSizeMs: number;
  readonly retentionMs: number;

  constructor(spec: StoreSpec<K, V>, bytes: BytesStore) {
    super(spec, bytes);
    this.windowSizeMs = spec.windowSizeMs ?? 0;
    this.retentionMs = spec.retentionMs ?? this.windowSizeMs;
  }

  async fetch(key: K, windowStart: number): Promise<V | undefined> {
    const b = await this.windowed.get(this.k(key), windowStart, windowStart + this.windowSizeMs);
    return b === undefined ? undefined : readBytes(this.name, this.spec.valueSerde, b);
  }

  async fetchRange(key: K, fromStart: number, toStart: number): Promise<{ window: Window; value: V }[]> {
    const out: { window: Window; value: V }[] = [];
    for (const e of await this.windowed.byStart(this.k(key), fromStart, toStart)) {
      out.push({
        window: { start: e.start, end: e.end },
        value: await readBytes(this.name, this.spec.valueSerde, e.value),
      });
    }
    return out;
  }

  async put(key: K, windowStart: number, value: V | null): Promise<void> {
    const end = windowStart + this.windowSizeMs;
    if (value === null) await this.windowed.remove(this.k(key), windowStart, end);
    else await this.windowed.put(this.k(key), windowStart, end, this.v(value));
  }

  /**
   * One aggregation step of a window: reads its value, puts `step(old)` and gives both back. The
   * key is serialized once, and the window's by-end entry is written only when the window is new.
   */
  async aggregate(
    key: K,
    windowStart: number,
    step: (old: V | undefined) => V,
  ): Promise<{ old: V | undefined; value: V }> {
    const k = this.k(key);
    const end = windowStart + this.windowSizeMs;
    const b = await this.windowed.get(k, windowStart, end);
    const old = b === undefined ? undefined : await readBytes(this.name, this.spec.valueSerde, b);
    const value = step(old);
    await this.windowed.put(k, windowStart, end, this.v(value), b !== undefined);
    return { old, value };
  }

  /** Drops the windows that fell out of retention at `streamTime` (start + retention ≤ streamTime). */
  expireAt(streamTime: number): Promise<number> {
    return this.expire(this.expiryBound(streamTime));
  }

  /** At `streamTime`, the windows ending before this bound are out of retention. */
  expiryBound(streamTime: number): number {
    return streamTime - this.retentionMs + this.windowSizeMs + 1;
  }
}

export class SessionStoreImpl<K, V> extends WindowedBase<K, V> implements SessionStore<K, V> {
  readonly retentionMs: number;

  constructor(spec: StoreSpec<K, V>, bytes: BytesStore) {
    super(spec, bytes);
    this.retentionMs = spec.retentionMs ?? 0;
  }

  async findSessions(
    key: K,
    earliestEnd: number,
    latestStart: number,
  ): Promise<{ window: Window; value: V }[]> {
    const out: { window: Window; value: V }[] = [];
    for (const e of await this.windowed.byStart(this.k(key), Number.MIN_SAFE_INTEGER, latestStart)) {
      if (e.end < earliestEnd) continue;
      out.push({
        window: { start: e.start, end: e.end },
        value: await readBytes(this.name, this.spec.valueSerde, e.value),
      });
    }
    return out;
  }

  put(key: K, window: Window, value: V): Promise<void> {
    return this.windowed.put(this.k(key), window.start, window.end, this.v(value));
  }

  remove(key: K, window: Window): Promise<void> {
    return this.windowed.remove(this.k(key), window.start, window.end);
  }

  /** Drops the sessions that fell out of retention at `streamTime` (end + retention < streamTime). */
  expireAt(streamTime: number): Promise<number> {
    return this.expire(streamTime - this.retentionMs);
  }
}

export type AnyStore =
  | KeyValueStoreImpl<unknown, unknown>
  | WindowStoreImpl<unknown, unknown>
  | SessionStoreImpl<unknown, unknown>;

/** The typed store a spec describes, over the given bytes. */
export function typedStore(spec: StoreSpec, bytes: BytesStore): AnyStore {
  switch (spec.type) {
    case 'key-value':
      return new KeyValueStoreImpl(spec, bytes);
    case 'window':
      return new WindowStoreImpl(spec, bytes);
    case 'session':
      return new SessionStoreImpl(spec, bytes);
  }
}
