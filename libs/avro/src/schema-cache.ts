/**
 * Schema id → what a reader makes of that schema, fetched from the registry once. Every reader
 * of the Confluent wire format (the serde, the processor's readers, the sink's decoder, the
 * streams serdes) keeps its per-id state here: a synchronous `get` for the hot path, a `load`
 * that asks the registry once however many records wait for the same id, and one wording of
 * the errors.
 *
 *   const types = new SchemaCache(registry, ({ text }) => parseSchema(text));
 *   const pending = types.prepare(bytes);   // undefined when the id is known
 *   if (pending) await pending;
 *   const type = types.get(bytes.readInt32BE(1))!;
 */
import { CdcError, isCdcError } from '@cdc/core';
import type { RegistryClient } from './registry-client.ts';
import { describeRecord, flatContext, HEADER_SIZE, MAGIC_BYTE, type RecordContext } from './wire-format.ts';

/** A schema as the registry holds it. */
export interface RegisteredSchema {
  readonly id: number;
  /** The schema's JSON text. */
  readonly text: string;
}

export class SchemaCache<T> {
  private readonly registry: Pick<RegistryClient, 'schemaById' | 'url'>;
  private readonly build: (schema: RegisteredSchema) => T;
  private readonly ready = new Map<number, T>();
  private readonly pending = new Map<number, Promise<T>>();

  /** `build` makes the reader's state of one schema; what it throws is the load's error. */
  constructor(registry: Pick<RegistryClient, 'schemaById' | 'url'>, build: (schema: RegisteredSchema) => T) {
    this.registry = registry;
    this.build = build;
  }

  /** The state of a schema id already loaded. */
  get(id: number): T | undefined {
    return this.ready.get(id);
  }

  get size(): number {
    return this.ready.size;
  }

  /** Keeps the state of schema `id` made elsewhere (a writer that registered it); the first one stays. */
  set(id: number, value: T): void {
    if (!this.ready.has(id)) this.ready.set(id, value);
  }

  /** Adds a schema known without the registry (preloaded versions). */
  add(id: number, text: string): T {
    let value = this.ready.get(id);
    if (value === undefined) {
      value = this.build({ id, text });
      this.ready.set(id, value);
    }
    return value;
  }

  /** The state of schema `id`, fetched and built on first use (concurrent calls share one fetch). */
  load(id: number, context?: RecordContext): Promise<T> {
    const known = this.ready.get(id);
    if (known !== undefined) return Promise.resolve(known);
    let p = this.pending.get(id);
    if (p === undefined) {
      p = this.fetch(id, context);
      this.pending.set(id, p);
      const settled = () => this.pending.delete(id);
      p.then(settled, settled);
    }
    return p;
  }

  /**
   * Undefined when `bytes` can be read now (not the wire format, or a known id); else a promise
   * that loads the schema they name.
   */
  prepare(bytes: Buffer | null, context?: RecordContext): Promise<T> | undefined {
    if (bytes === null || bytes.length < HEADER_SIZE || bytes[0] !== MAGIC_BYTE) return undefined;
    const id = bytes.readInt32BE(1);
    return this.ready.has(id) ? undefined : this.load(id, context);
  }

  private async fetch(id: number, context: RecordContext | undefined): Promise<T> {
    let text: string | undefined;
    try {
      text = await this.registry.schemaById(id);
    } catch (err) {
      // The client's own errors say what to do; anything else is the registry being away.
      if (isCdcError(err)) throw err;
      throw new CdcError(
        'SCHEMA_REGISTRY_UNAVAILABLE',
        `fetching schema id ${id}: ${(err as Error).message}`,
        {
          retriable: true,
          context: { schemaId: id, registryUrl: this.registry.url },
          cause: err,
        },
      );
    }
    if (text === undefined) {
      throw new CdcError(
        'SERDE_FAILED',
        `${describeRecord(context ?? {})} names schema id ${id}, which the registry at ${this.registry.url} does not have: it was written against another registry, or the schema was deleted permanently`,
        { context: { schemaId: id, registryUrl: this.registry.url, ...flatContext(context) } },
      );
    }
    return this.add(id, text);
  }
}
