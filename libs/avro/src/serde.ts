/**
 * Avro serialization in the Confluent wire format with caches, so that the hot path never calls
 * the registry:
 *
 * - (subject, schema fingerprint) → schema id, after the first registration;
 * - schema id → parsed avsc Type (from a registration, or fetched once by id when decoding);
 * - (writer schema id, reader Type) → resolver, when a reader schema is given.
 *
 *   const serde = new AvroSerde({ registry: new RegistryClient({ url }) });
 *   const bytes = await serde.serialize('shop.public.orders-value', schema, value);
 *   const value = await serde.deserialize(bytes, { reader: newerSchema, context: { topic, partition, offset } });
 *
 * Values are plain JS values of the underlying Avro types (see `parse-schema.ts`).
 */
import { createHash } from 'node:crypto';
import { CdcError, isCdcError, type Logger, noopLogger } from '@cdc/core';
import type avro from 'avsc';
import { registerSchema } from './evolution.ts';
import { type AvroType, type ParseSchemaOptions, parseSchema } from './parse-schema.ts';
import type { RegistryClient } from './registry-client.ts';
import { SchemaCache } from './schema-cache.ts';
import type { AvroSchema } from './schema-types.ts';
import {
  describeRecord,
  flatContext,
  HEADER_SIZE,
  MAGIC_BYTE,
  type RecordContext,
  unframe,
} from './wire-format.ts';

export interface AvroSerdeOptions {
  registry: RegistryClient;
  logger?: Logger;
  /**
   * Register schemas that are not in the registry yet (default true). With false, a schema
   * must already be registered under the subject (for registries that producers may only read).
   */
  autoRegister?: boolean;
  /**
   * Wrap every union value (`{ "long": 5n }`), for topics whose converter produces wrapped
   * unions (MongoDB's inferred schemas). Applies to writers and to writer schemas fetched by id.
   */
  wrapUnions?: boolean;
}

/** A registered schema, ready to encode synchronously. */
export interface SchemaWriter {
  readonly subject: string;
  readonly schemaId: number;
  readonly type: AvroType;
  /** The value in the wire format. Throws `SERDE_FAILED` naming the invalid fields. */
  encode(value: unknown, context?: RecordContext): Buffer;
}

export interface DeserializeOptions {
  /** Decode into this schema (Avro schema resolution from the writer's schema): defaults filled, fields dropped. */
  reader?: AvroType | AvroSchema;
  /** Where the bytes came from, for error messages. */
  context?: RecordContext;
}

type Resolver = avro.Resolver;

const isType = (s: unknown): s is AvroType =>
  typeof s === 'object' && s !== null && typeof (s as { toBuffer?: unknown }).toBuffer === 'function';

const INITIAL_SCRATCH = 16 * 1024;

export class AvroSerde {
  readonly registry: RegistryClient;
  private readonly logger: Logger;
  private readonly autoRegister: boolean;
  private readonly parseOptions: ParseSchemaOptions;
  /** schema object → [fingerprint, text]; strings are their own text. */
  private readonly fingerprints = new WeakMap<object, string>();
  private readonly textFingerprints = new Map<string, string>();
  /** `${subject}\0${fingerprint}` → writer (a promise, so that concurrent first calls register once). */
  private readonly writers = new Map<string, Promise<SchemaWriter>>();
  private readonly writersReady = new Map<string, SchemaWriter>();
  /** schema id → Type. */
  private readonly types: SchemaCache<AvroType>;
  /** schema fingerprint → Type (one parse per distinct schema). */
  private readonly typesByFingerprint = new Map<string, AvroType>();
  /** reader schema object → Type. */
  private readonly readerTypes = new WeakMap<object, AvroType>();
  /** writer id → reader Type → resolver (`null`: the schemas are the same, read directly). */
  private readonly resolvers = new Map<number, WeakMap<AvroType, Resolver | null>>();
  private scratch = Buffer.allocUnsafe(INITIAL_SCRATCH);

  constructor(options: AvroSerdeOptions) {
    this.registry = options.registry;
    this.logger = options.logger ?? noopLogger;
    this.autoRegister = options.autoRegister ?? true;
    this.parseOptions = { wrapUnions: options.wrapUnions === true };
    this.types = new SchemaCache(this.registry, ({ id, text }) => {
      try {
        return parseSchema(text, this.parseOptions);
      } catch (err) {
        throw new CdcError(
          'SERDE_FAILED',
          `schema id ${id} from the registry is not a valid Avro schema: ${(err as Error).message}`,
          { context: { schemaId: id }, cause: err },
        );
      }
    });
  }

  private fingerprint(schema: AvroSchema | string): string {
    if (typeof schema === 'string') {
      let fp = this.textFingerprints.get(schema);
      if (fp === undefined) {
        fp = createHash('sha256').update(schema).digest('hex');
        this.textFingerprints.set(schema, fp);
      }
      return fp;
    }
    let fp = this.fingerprints.get(schema as object);
    if (fp === undefined) {
      fp = createHash('sha256').update(JSON.stringify(schema)).digest('hex');
      this.fingerprints.set(schema as object, fp);
    }
    return fp;
  }

  /**
   * The writer for `schema` under `subject`: registers it on the first call (or looks it up,
   * without auto-registration) and serves it from memory afterwards.
   */
  writerFor(subject: string, schema: AvroSchema | string): Promise<SchemaWriter> {
    const key = `${subject}\u0000${this.fingerprint(schema)}`;
    let pending = this.writers.get(key);
    if (pending === undefined) {
      pending = this.createWriter(subject, schema, key);
      this.writers.set(key, pending);
      pending.catch(() => this.writers.delete(key));
    }
    return pending;
  }

  private async createWriter(
    subject: string,
    schema: AvroSchema | string,
    key: string,
  ): Promise<SchemaWriter> {
    const fp = this.fingerprint(schema);
    let type = this.typesByFingerprint.get(fp);
    if (type === undefined) {
      try {
        type = parseSchema(schema, this.parseOptions);
      } catch (err) {
        throw new CdcError(
          'SERDE_FAILED',
          `the schema for subject ${subject} is not valid Avro: ${(err as Error).message}`,
          {
            context: { subject },
            cause: err,
          },
        );
      }
      this.typesByFingerprint.set(fp, type);
    }
    let schemaId: number;
    if (this.autoRegister) schemaId = await registerSchema(this.registry, subject, schema, this.logger);
    else {
      const found = await this.registry.lookup(subject, schema);
      if (!found) {
        throw new CdcError(
          'SCHEMA_INCOMPATIBLE',
          `the schema is not registered under subject ${subject} and auto-registration is off; register it first (npm run schemas -- register)`,
          { context: { subject } },
        );
      }
      schemaId = found.id;
    }
    this.types.set(schemaId, type);
    this.logger.info('schema ready', { subject, schemaId });
    const writer: SchemaWriter = {
      subject,
      schemaId,
      type,
      encode: (value, context) => this.encodeWith(writer, value, context),
    };
    this.writersReady.set(key, writer);
    return writer;
  }

  /** Serializes `value` with `schema` under `subject`; only the first call per (subject, schema) goes to the registry. */
  async serialize(
    subject: string,
    schema: AvroSchema | string,
    value: unknown,
    context?: RecordContext,
  ): Promise<Buffer> {
    const ready = this.writersReady.get(`${subject}\u0000${this.fingerprint(schema)}`);
    const writer = ready ?? (await this.writerFor(subject, schema));
    return writer.encode(value, context);
  }

  private encodeWith(writer: SchemaWriter, value: unknown, context: RecordContext | undefined): Buffer {
    let end: number;
    try {
      end = writer.type.encode(value, this.scratch, HEADER_SIZE);
      if (end < 0) {
        this.scratch = Buffer.allocUnsafe(
          Math.max(this.scratch.length * 2, HEADER_SIZE - end + this.scratch.length),
        );
        end = writer.type.encode(value, this.scratch, HEADER_SIZE);
      }
    } catch (err) {
      throw this.invalidValue(writer, value, context, err);
    }
    const out = Buffer.allocUnsafe(end);
    this.scratch.copy(out, 0, 0, end);
    out[0] = MAGIC_BYTE;
    out.writeInt32BE(writer.schemaId, 1);
    return out;
  }

  private invalidValue(
    writer: SchemaWriter,
    value: unknown,
    context: RecordContext | undefined,
    cause: unknown,
  ): CdcError {
    const paths: string[] = [];
    writer.type.isValid(value, {
      errorHook: (path: string[], v: unknown, t: AvroType) => {
        if (paths.length < 5)
          paths.push(`${path.join('.') || '(value)'}: ${preview(v)} is not a valid ${String(t)}`);
      },
    });
    return new CdcError(
      'SERDE_FAILED',
      `cannot encode ${describeRecord(context ?? {})} with schema id ${writer.schemaId} (subject ${writer.subject}): ${paths.length ? paths.join('; ') : (cause as Error).message}`,
      {
        context: {
          subject: writer.subject,
          schemaId: writer.schemaId,
          invalidPaths: paths,
          ...flatContext(context),
        },
        cause,
      },
    );
  }

  /** The writer's Type for a schema id, fetched from the registry once. */
  typeForId(schemaId: number, context?: RecordContext): Promise<AvroType> {
    return this.types.load(schemaId, context);
  }

  private readerType(reader: AvroType | AvroSchema): AvroType {
    if (isType(reader)) return reader;
    if (typeof reader === 'string') return parseSchema(reader, this.parseOptions);
    let type = this.readerTypes.get(reader as object);
    if (type === undefined) {
      type = parseSchema(reader, this.parseOptions);
      this.readerTypes.set(reader as object, type);
    }
    return type;
  }

  private resolverFor(
    schemaId: number,
    writer: AvroType,
    reader: AvroType,
    context: RecordContext | undefined,
  ): Resolver | null {
    let byReader = this.resolvers.get(schemaId);
    if (byReader === undefined) {
      byReader = new WeakMap();
      this.resolvers.set(schemaId, byReader);
    }
    let resolver = byReader.get(reader);
    if (resolver === undefined) {
      try {
        resolver = reader.equals(writer) ? null : reader.createResolver(writer);
      } catch (err) {
        throw new CdcError(
          'SCHEMA_INCOMPATIBLE',
          `${describeRecord(context ?? {})} was written with schema id ${schemaId}, which the reader schema cannot read: ${(err as Error).message}`,
          { context: { schemaId, ...flatContext(context) }, cause: err },
        );
      }
      byReader.set(reader, resolver);
    }
    return resolver;
  }

  /**
   * Decodes a wire-format buffer with its writer schema, resolved to `options.reader` when
   * given. `SERDE_FAILED` for bytes that are not in the wire format or do not decode;
   * `SCHEMA_REGISTRY_UNAVAILABLE` (retriable) when an unknown schema id cannot be fetched.
   */
  async deserialize(
    buffer: Uint8Array | null | undefined,
    options: DeserializeOptions = {},
  ): Promise<unknown> {
    const { schemaId, payload } = unframe(buffer, options.context);
    const writer = this.types.get(schemaId) ?? (await this.typeForId(schemaId, options.context));
    try {
      if (options.reader === undefined) return writer.fromBuffer(payload);
      const reader = this.readerType(options.reader);
      const resolver = this.resolverFor(schemaId, writer, reader, options.context);
      return resolver === null ? reader.fromBuffer(payload) : reader.fromBuffer(payload, resolver);
    } catch (err) {
      if (isCdcError(err)) throw err;
      throw new CdcError(
        'SERDE_FAILED',
        `${describeRecord(options.context ?? {})} does not decode with its writer schema id ${schemaId} (${(err as Error).message}): the bytes are corrupt or were framed with the wrong id`,
        { context: { schemaId, ...flatContext(options.context) }, cause: err },
      );
    }
  }
}

function preview(v: unknown): string {
  const s = typeof v === 'bigint' ? `${v}n` : typeof v === 'string' ? JSON.stringify(v) : String(v);
  return s.length > 40 ? `${s.slice(0, 40)}…` : s;
}
