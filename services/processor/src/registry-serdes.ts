import {
  type AvroSchema,
  type AvroType,
  parseSchema,
  type RegistryClient,
  SchemaCache,
  unframe,
} from '@cdc/avro';
import { CdcError, type Logger } from '@cdc/core';
import type { Serde } from '@cdc/streams';
import { canonicalKey, type PlainRow, plainConverter } from './plain-value.ts';

interface Reader {
  type: AvroType;
  toPlain: (v: unknown) => unknown;
}

/**
 * Synchronous Avro readers for the CDC topics the processor consumes (`@cdc/streams` serdes are
 * synchronous). Every schema id the registry holds for the input subjects is fetched at start
 * (`preload`); an id met later (a schema registered after start) is fetched by `prepare`, which
 * the streams runtime awaits before `deserialize` when it supports it. Values come out as plain
 * JSON-safe rows (see `plain-value.ts`).
 */
export class RegistryReaders {
  private readonly registry: RegistryClient;
  private readonly logger: Logger;
  private readonly readers: SchemaCache<Reader>;

  constructor(registry: RegistryClient, logger: Logger, options: { wrapUnions?: boolean } = {}) {
    this.registry = registry;
    this.logger = logger;
    const wrapUnions = options.wrapUnions === true;
    this.readers = new SchemaCache(registry, ({ text }) => {
      const json = JSON.parse(text) as AvroSchema;
      const wrap = wrapUnions || text.includes('"io.cdc.mongodb"');
      return { type: parseSchema(json, { wrapUnions: wrap }), toPlain: plainConverter(json) };
    });
  }

  /** Fetches every version of `<topic>-key` and `<topic>-value` for each topic. */
  async preload(topics: readonly string[]): Promise<void> {
    for (const topic of topics) {
      for (const subject of [`${topic}-key`, `${topic}-value`]) {
        for (const v of await this.registry.versions(subject))
          this.readers.add(v.id, typeof v.schema === 'string' ? v.schema : JSON.stringify(v.schema));
      }
    }
    this.logger.info('input schemas loaded', { topics, schemas: this.readers.size });
  }

  /** Undefined when `bytes` can be read now; else a promise that fetches its schema. */
  prepare(bytes: Buffer | null): Promise<void> | undefined {
    // Store bytes (JSON or canonical key text) need nothing; only wire-format bytes name a schema.
    return this.readers.prepare(bytes)?.then(() => undefined);
  }

  decode(topic: string, bytes: Buffer): unknown {
    const frame = unframe(bytes, { topic });
    const reader = this.readers.get(frame.schemaId);
    if (!reader) {
      throw new CdcError(
        'SERDE_FAILED',
        `topic ${topic} holds a record with schema id ${frame.schemaId}, registered after the processor started; restart it to read the new schema`,
        { retriable: true, context: { topic, schemaId: frame.schemaId } },
      );
    }
    return reader.toPlain(reader.type.decode(frame.payload, 0).value);
  }

  /**
   * The key of a CDC topic as the canonical JSON array of its fields' values (see `canonicalKey`).
   * Store bytes (written by `serialize`) are that text in UTF-8, told apart by their first byte.
   */
  keySerde(): Serde<string> {
    return {
      serialize: (_t, v) => (v === null ? null : Buffer.from(v, 'utf8')),
      deserialize: (topic, data) => {
        if (data === null) return null;
        if (data[0] !== 0) return data.toString('utf8');
        return canonicalRowKey(this.decode(topic, data) as PlainRow);
      },
      prepare: (_t: string, data: Buffer | null) => this.prepare(data),
    } as Serde<string>;
  }

  /** A joined table's CDC value → its `after` row (null for a delete); store bytes are JSON rows. */
  tableRowSerde(): Serde<PlainRow> {
    return {
      serialize: (_t, v) => (v === null ? null : Buffer.from(JSON.stringify(v), 'utf8')),
      deserialize: (topic, data) => {
        if (data === null) return null;
        if (data[0] !== 0) return JSON.parse(data.toString('utf8')) as PlainRow;
        return ((this.decode(topic, data) as { after: PlainRow | null }).after ?? null) as PlainRow | null;
      },
      prepare: (_t: string, data: Buffer | null) => this.prepare(data),
    } as Serde<PlainRow>;
  }

  /** A CDC envelope, plain; store bytes are JSON. */
  valueSerde<T>(): Serde<T> {
    return {
      serialize: (_t, v) => (v === null ? null : Buffer.from(JSON.stringify(v), 'utf8')),
      deserialize: (topic, data) => {
        if (data === null) return null;
        if (data[0] !== 0) return JSON.parse(data.toString('utf8')) as T;
        return this.decode(topic, data) as T;
      },
      prepare: (_t: string, data: Buffer | null) => this.prepare(data),
    } as Serde<T>;
  }
}

/** The canonical key of a key record: its field values in schema order. */
export function canonicalRowKey(row: PlainRow | null): string {
  return canonicalKey(Object.values(row ?? {}));
}
