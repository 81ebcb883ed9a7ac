import { CdcError } from '@cdc/core';
import type { Window, Windowed } from './record.ts';
import type { Serde } from './serde.ts';

/** A key-value store: the latest value per key. */
export interface KeyValueStore<K, V> {
  readonly name: string;
  get(key: K): Promise<V | undefined>;
  put(key: K, value: V): Promise<void>;
  delete(key: K): Promise<void>;
  /** Every entry, in the byte order of the serialized keys. */
  all(): AsyncIterable<{ key: K; value: V }>;
  /**
   * `get`, `put` and `delete` without a promise, for a processor's hot path (its `process` can
   * then return nothing, and the runtime makes no promise for the record). Every store of a task
   * (the runtime's cache over LevelDB, the test driver's memory) and every global table answers
   * them at once; `getSync` throws when the value serde must fetch something first (`prepare`).
   */
  getSync(key: K): V | undefined;
  putSync(key: K, value: V): void;
  deleteSync(key: K): void;
}

/** Values per key and fixed-size window, kept for `retentionMs` of stream time. */
export interface WindowStore<K, V> {
  readonly name: string;
  readonly windowSizeMs: number;
  fetch(key: K, windowStart: number): Promise<V | undefined>;
  /** The windows of `key` whose start lies in `[fromStart, toStart]`, oldest first. */
  fetchRange(key: K, fromStart: number, toStart: number): Promise<{ window: Window; value: V }[]>;
  /** `null` removes the window. */
  put(key: K, windowStart: number, value: V | null): Promise<void>;
  all(): AsyncIterable<{ key: Windowed<K>; value: V }>;
}

/** Values per key and session (`[start, end]`, both inclusive). */
export interface SessionStore<K, V> {
  readonly name: string;
  /** Sessions of `key` with `end ≥ earliestEnd` and `start ≤ latestStart`, oldest first. */
  findSessions(key: K, earliestEnd: number, latestStart: number): Promise<{ window: Window; value: V }[]>;
  put(key: K, window: Window, value: V): Promise<void>;
  remove(key: K, window: Window): Promise<void>;
  all(): AsyncIterable<{ key: Windowed<K>; value: V }>;
}

export type StoreType = 'key-value' | 'window' | 'session';

/**
 * How to build a store. `logged` stores (the default) write every change to a compacted
 * changelog topic `<applicationId>-<name>-changelog` and are restored from it.
 */
export interface StoreSpec<K = unknown, V = unknown> {
  readonly name: string;
  readonly type: StoreType;
  readonly keySerde: Serde<K>;
  readonly valueSerde: Serde<V>;
  readonly logged: boolean;
  /** Window stores: the window size. */
  readonly windowSizeMs?: number;
  /** Window stores: how long a window is kept after its start; sessions: after their end. */
  readonly retentionMs?: number;
}

const NAME = /^[A-Za-z0-9._-]+$/;

function checkName(name: string): void {
  if (!NAME.test(name)) {
    throw new CdcError(
      'CONFIG_INVALID',
      `store name "${name}" may only hold letters, digits, '.', '_' and '-'`,
      {
        context: { store: name },
      },
    );
  }
}

/** Factories for store specs, for `StreamsBuilder.addStateStore` and custom processors. */
export const Stores = {
  keyValue<K, V>(
    name: string,
    keySerde: Serde<K>,
    valueSerde: Serde<V>,
    options: { logged?: boolean } = {},
  ): StoreSpec<K, V> {
    checkName(name);
    return { name, type: 'key-value', keySerde, valueSerde, logged: options.logged ?? true };
  },
  window<K, V>(
    name: string,
    options: { windowSizeMs: number; retentionMs: number; logged?: boolean },
    keySerde: Serde<K>,
    valueSerde: Serde<V>,
  ): StoreSpec<K, V> {
    checkName(name);
    if (options.retentionMs < options.windowSizeMs) {
      throw new CdcError('CONFIG_INVALID', `store ${name}: retentionMs must be at least windowSizeMs`, {
        context: { store: name, retentionMs: options.retentionMs, windowSizeMs: options.windowSizeMs },
      });
    }
    return {
      name,
      type: 'window',
      keySerde,
      valueSerde,
      logged: options.logged ?? true,
      windowSizeMs: options.windowSizeMs,
      retentionMs: options.retentionMs,
    };
  },
  session<K, V>(
    name: string,
    options: { retentionMs: number; logged?: boolean },
    keySerde: Serde<K>,
    valueSerde: Serde<V>,
  ): StoreSpec<K, V> {
    checkName(name);
    return {
      name,
      type: 'session',
      keySerde,
      valueSerde,
      logged: options.logged ?? true,
      retentionMs: options.retentionMs,
    };
  },
} as const;
