import {
  type AvroSchema,
  type AvroType,
  type Projection,
  parseSchema,
  projectSchema,
  type RegistryClient,
  SchemaCache,
  unframe,
} from '@cdc/avro';
import { CdcError, type Logger } from '@cdc/core';
import type { Serde } from '@cdc/streams';
import { canonicalKey, keyTextReader, type PlainRow, plainConverter } from './plain-value.ts';

interface Reader {
  type: AvroType;
  toPlain: (v: unknown) => unknown;
  /** The writer's schema, and whether its unions are read wrapped. */
  schema: AvroSchema;
  wrap: boolean;
  /** A key record's canonical text straight from its bytes (`keyTextReader`), for the schemas it covers. */
  keyText: ((buf: Buffer, start: number) => string | undefined) | undefined;
}

/** A reader of some fields only (`projectSchema`), resolving the writer's schema. */
interface ProjectedReader {
  type: AvroType;
  resolver: ReturnType<AvroType['createResolver']>;
  toPlain: (v: unknown) => unknown;
}

/** Which fields of a CDC envelope a step reads: `op`, `source.tsMs` and these of `after` (all: undefined). */
export function envelopeProjection(afterFields: readonly string[] | undefined): Projection {
  return {
    op: true,
    source: { tsMs: true },
    after: afterFields === undefined ? true : Object.fromEntries(afterFields.map((f) => [f, true])),
  };
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
      return {
        type: parseSchema(json, { wrapUnions: wrap, plainLongs: true }),
        toPlain: plainConverter(json),
        schema: json,
        wrap,
        keyText: keyTextReader(json),
      };
    });
  }

  /** Projected readers by projection (its JSON text), then by writer schema id. */
  private readonly projected = new Map<string, Map<number, ProjectedReader>>();

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

  /**
   * A record's value, plain. With `projection` (and its key, `projectionKey`) only the fields it
   * keeps are decoded: the others are skipped over in the bytes (Avro schema resolution), which
   * is most of the work for a CDC envelope of which a step reads three fields.
   */
  decode(topic: string, bytes: Buffer, projection?: Projection, projectionKey?: string): unknown {
    const frame = unframe(bytes, { topic });
    const reader = this.readers.get(frame.schemaId);
    if (!reader) {
      throw new CdcError(
        'SERDE_FAILED',
        `topic ${topic} holds a record with schema id ${frame.schemaId}, registered after the processor started; restart it to read the new schema`,
        { retriable: true, context: { topic, schemaId: frame.schemaId } },
      );
    }
    if (projection === undefined) return reader.toPlain(reader.type.decode(frame.payload, 0).value);
    const key = projectionKey ?? JSON.stringify(projection);
    let byId = this.projected.get(key);
    if (byId === undefined) {
      byId = new Map();
      this.projected.set(key, byId);
    }
    let p = byId.get(frame.schemaId);
    if (p === undefined) {
      const schema = projectSchema(reader.schema, projection);
      const type = parseSchema(schema, { wrapUnions: reader.wrap, plainLongs: true });
      p = { type, resolver: type.createResolver(reader.type), toPlain: plainConverter(schema) };
      byId.set(frame.schemaId, p);
    }
    return p.toPlain(p.type.decode(frame.payload, 0, p.resolver).value);
  }

  /** A key record's canonical text read straight from its bytes, when its schema allows (`keyTextReader`). */
  private keyText(bytes: Buffer): string | undefined {
    // Wire format (magic byte 0, schema id, payload) read in place; anything else is the general
    // path's to read, and to report.
    if (bytes.length < 5 || bytes[0] !== 0) return undefined;
    return this.readers.get(bytes.readInt32BE(1))?.keyText?.(bytes, 5);
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
        return this.keyText(data) ?? canonicalRowKey(this.decode(topic, data) as PlainRow);
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

  /**
   * A CDC envelope, plain; store bytes are JSON. With `projection`, only the fields it keeps
   * (`envelopeProjection`: what the enrich steps read).
   */
  valueSerde<T>(projection?: Projection): Serde<T> {
    const key = projection === undefined ? undefined : JSON.stringify(projection);
    return {
      serialize: (_t, v) => (v === null ? null : Buffer.from(JSON.stringify(v), 'utf8')),
      deserialize: (topic, data) => {
        if (data === null) return null;
        if (data[0] !== 0) return JSON.parse(data.toString('utf8')) as T;
        return this.decode(topic, data, projection, key) as T;
      },
      prepare: (_t: string, data: Buffer | null) => this.prepare(data),
    } as Serde<T>;
  }
}

/** The canonical key of a key record: its field values in schema order. */
export function canonicalRowKey(row: PlainRow | null): string {
  return canonicalKey(Object.values(row ?? {}));
}
