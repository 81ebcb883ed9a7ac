/**
 * A Kafka record → what the sink writes: a row of the topic's table (data columns from the
 * envelope's `after`, or `before` and the key for deletes, plus the sink's own columns), a
 * truncation, or nothing (a CDC tombstone). Writer schemas are fetched by id once and kept.
 *
 * Anything wrong with one record (not Avro, unknown schema, no usable position) throws a
 * non-retriable `CdcError`: the caller dead-letters that record. A registry that does not
 * answer throws a retriable one: the caller retries the batch.
 */
import {
  type AvroRecordSchema,
  type AvroType,
  avroNamespaceFor,
  mongoIdText,
  parseSchema,
  type RecordContext,
  type RegisteredSchema,
  type RegistryClient,
  SchemaCache,
  unframe,
} from '@cdc/avro';
// The schema entry only: this module runs in decode worker threads too (see decode-pool.ts).
import type { OutOfRangeNote } from '@cdc/clickhouse/schema';
import { deriveTableShape, isEnvelope, OUT_OF_RANGE_COLUMN, type TableShape } from '@cdc/clickhouse/schema';
import { CdcError } from '@cdc/core';
import { isConnectJson, parseConnectJson } from './connect-json.ts';
import type { EncodedRow, LineWriter } from './row-encoder.ts';
import { compileTranscoder, type Transcoder } from './transcoder.ts';
import { debeziumChangeId, debeziumPostgresVersion, offsetVersion, postgresVersion } from './version.ts';

export interface KafkaRecord {
  topic: string;
  partition: number;
  offset: string;
  key: Buffer | null;
  value: Buffer | null;
  timestamp: string;
  headers?: Record<string, unknown>;
}

/**
 * `source`: the exact source name of a CDC record (`postgresql "db"."schema"."table"`,
 * `mongodb "db"."collection"`), undefined for other topics. The sink checks that one table is
 * written from one source name (`TableManager.claim`).
 */
export type Decoded =
  | { kind: 'row'; shape: TableShape; shapeId: string; row: EncodedRow; source?: string }
  | { kind: 'truncate'; version: bigint; changeId: string; source?: string }
  | { kind: 'skip' };

/**
 * A record decoded ahead of its flush: what it writes, or why it could not be decoded; `encoded`:
 * a row a decode worker already encoded as its JSONEachRow line (`decode-pool.ts`).
 */
export type Decoding =
  | Decoded
  | { kind: 'error'; error: unknown }
  | {
      kind: 'encoded';
      shape: TableShape;
      shapeId: string;
      line: Buffer;
      columns: readonly string[];
      /** JSONCompactEachRow (the values of `columns`), else JSONEachRow: `RowItem`. */
      compact: boolean;
      /** The record it is a line of: with it, the decoding is the flush's `RowItem` as it is. */
      record: KafkaRecord;
      commitMs: number | undefined;
      source?: string;
    };

/** The exact source name of an envelope's `source` (names in JSON quotes, so any character reads unambiguously). */
export function sourceName(source: {
  connector?: unknown;
  db?: unknown;
  schema?: unknown;
  table?: unknown;
  collection?: unknown;
}): string | undefined {
  const q = (v: unknown) => JSON.stringify(String(v));
  if (typeof source.collection === 'string') return `mongodb ${q(source.db)}.${q(source.collection)}`;
  if (typeof source.table === 'string')
    return `postgresql ${q(source.db)}.${q(source.schema)}.${q(source.table)}`;
  return undefined;
}

interface WriterSchema {
  schema: AvroRecordSchema;
  type: AvroType;
  /** A MongoDB envelope (unions wrapped). */
  mongo: boolean;
}

/** A decoded key or value with the id and schema it was read with. */
interface Part {
  id: number;
  schema: AvroRecordSchema;
  value: Record<string, unknown>;
}

/** Whether the record has a key to decode (the wire format, or Kafka Connect's JSON with schemas). */
function hasKey(record: KafkaRecord): boolean {
  const k = record.key;
  return k !== null && ((k.length >= 5 && k[0] === 0) || isConnectJson(k));
}

/** A line `transcodeKnown` wrote, with the shape it is a row of: `line` is the caller's to set (the line's view once its buffer is complete). */
export type Transcoded = Extract<Decoding, { kind: 'encoded' }>;

/** `line` of a `Transcoded` until the caller sets it. */
const NO_LINE = Buffer.alloc(0);

/** The transcoder of a topic's shape (null: the shape has what it does not cover, or no shape). */
interface ShapeTranscoder {
  topic: string;
  valueId: number;
  keyId: number;
  shapeId: string;
  shape: TableShape | undefined;
  transcoder: Transcoder | null;
}

interface Reader {
  id: number;
  writer: WriterSchema;
  /** Resolvers from each older writer id. */
  resolvers: Map<number, ReturnType<AvroType['createResolver']>>;
}

export class RecordDecoder {
  private readonly registry: RegistryClient;
  private readonly writers: SchemaCache<WriterSchema>;
  private readonly readers = new Map<string, Reader>();
  private readonly shapes = new Map<string, TableShape>();
  /** Last value schema id seen per topic, for tombstones of upsert topics. */
  private readonly lastShapeByTopic = new Map<string, string>();
  private readonly keyColumnsFor: (topic: string) => readonly string[] | undefined;
  private lastSource:
    | {
        connector: unknown;
        db: unknown;
        schema: unknown;
        table: unknown;
        collection: unknown;
        name: string | undefined;
      }
    | undefined;
  /** Kafka Connect JSON schemas (text) → their synthetic ids. */
  private readonly jsonSchemaIds = new Map<string, number>();
  /** Per topic and shape id (`transcodeKnown`), and the last one used. */
  private readonly transcoders = new Map<string, ShapeTranscoder>();
  private lastTranscoder: ShapeTranscoder | undefined;

  constructor(
    registry: RegistryClient,
    keyColumnsFor: (topic: string) => readonly string[] | undefined = () => undefined,
  ) {
    this.registry = registry;
    this.writers = new SchemaCache(registry, RecordDecoder.writerSchema);
    this.keyColumnsFor = keyColumnsFor;
  }

  private writer(id: number, context?: RecordContext): Promise<WriterSchema> {
    return this.writers.load(id, context);
  }

  private static writerSchema({ id, text }: RegisteredSchema): WriterSchema {
    const schema = JSON.parse(text) as AvroRecordSchema;
    if (typeof schema !== 'object' || schema.type !== 'record') {
      throw new CdcError(
        'SCHEMA_UNSUPPORTED_TYPE',
        `schema id ${id} is not a record: the sink writes records only`,
        {
          context: { schemaId: id },
        },
      );
    }
    const wrapped =
      isEnvelope(schema) &&
      JSON.stringify(schema.fields.find((f) => f.name === 'source')).includes('mongodb');
    return { schema, type: parseSchema(text, { wrapUnions: wrapped }), mongo: wrapped };
  }

  /**
   * MongoDB: the newest value schema of the topic (the registry's latest, or the newest writer
   * seen), which every record is read with. Inferred schemas only widen (each version reads all
   * earlier ones), so every row of a table gets the same column types, whichever version wrote
   * it: a rebuild creates the table in its widest form at once, and a batch mixing versions
   * never asks a column to narrow again.
   */
  private async readerFor(topic: string, id: number, writer: WriterSchema): Promise<Reader> {
    const known = this.readers.get(topic);
    if (known && known.id >= id) return known;
    let reader: Reader = { id, writer, resolvers: new Map() };
    const latest = await this.registry.version(`${topic}-value`, 'latest').catch(() => undefined);
    if (latest && latest.id > id) {
      const w = await this.writer(latest.id).catch(() => undefined);
      if (w?.mongo) reader = { id: latest.id, writer: w, resolvers: new Map() };
    }
    this.readers.set(topic, reader);
    return reader;
  }

  /** A key or value in Kafka Connect's JSON with schemas: a synthetic (negative) id per distinct schema. */
  private connectJsonPart(buf: Buffer, record: KafkaRecord, part: 'key' | 'value'): Part {
    const json = parseConnectJson(
      buf,
      `${avroNamespaceFor(record.topic)}.${part === 'key' ? 'Key' : 'Envelope'}`,
    );
    let id = this.jsonSchemaIds.get(json.schemaText);
    if (id === undefined) {
      id = -(this.jsonSchemaIds.size + 1);
      this.jsonSchemaIds.set(json.schemaText, id);
    }
    return { id, schema: json.schema, value: json.value };
  }

  private async decodePart(buf: Buffer, record: KafkaRecord, part: 'key' | 'value'): Promise<Part> {
    if (isConnectJson(buf)) return this.connectJsonPart(buf, record, part);
    const context = { topic: record.topic, partition: record.partition, offset: record.offset, part };
    const { schemaId, payload } = unframe(buf, context);
    const writer = this.writers.get(schemaId) ?? (await this.writer(schemaId, context));
    const reader =
      part === 'value' && writer.mongo ? await this.readerFor(record.topic, schemaId, writer) : undefined;
    return this.readPart(payload, schemaId, writer, reader, record, part);
  }

  /**
   * `decodePart` without waiting: undefined when it would have to wait (a schema not fetched yet,
   * a MongoDB topic whose reader is not chosen yet) or to throw (not the wire format).
   */
  private knownPart(buf: Buffer, record: KafkaRecord, part: 'key' | 'value'): Part | undefined {
    if (isConnectJson(buf)) return this.connectJsonPart(buf, record, part);
    if (buf.length < 5 || buf[0] !== 0) return undefined;
    const schemaId = buf.readInt32BE(1);
    const writer = schemaId < 0 ? undefined : this.writers.get(schemaId);
    if (writer === undefined) return undefined;
    let reader: Reader | undefined;
    if (part === 'value' && writer.mongo) {
      reader = this.readers.get(record.topic);
      if (reader === undefined || reader.id < schemaId) return undefined;
    }
    return this.readPart(buf.subarray(5), schemaId, writer, reader, record, part);
  }

  private readPart(
    payload: Buffer,
    schemaId: number,
    writer: WriterSchema,
    reader: Reader | undefined,
    record: KafkaRecord,
    part: 'key' | 'value',
  ): Part {
    try {
      if (reader !== undefined && reader.id !== schemaId) {
        let resolver = reader.resolvers.get(schemaId);
        if (!resolver) {
          try {
            resolver = reader.writer.type.createResolver(writer.type);
          } catch {
            resolver = undefined; // not readable by the newest: the record's own schema then
          }
          if (resolver) reader.resolvers.set(schemaId, resolver);
        }
        if (resolver)
          return {
            id: reader.id,
            schema: reader.writer.schema,
            value: reader.writer.type.fromBuffer(payload, resolver) as Record<string, unknown>,
          };
      }
      return {
        id: schemaId,
        schema: writer.schema,
        value: writer.type.fromBuffer(payload) as Record<string, unknown>,
      };
    } catch (err) {
      throw new CdcError(
        'SERDE_FAILED',
        `${part} at ${record.topic}/${record.partition}@${record.offset} does not decode with schema id ${schemaId}: ${(err as Error).message}`,
        {
          context: { topic: record.topic, partition: record.partition, offset: record.offset, schemaId },
          cause: err,
        },
      );
    }
  }

  private shapeFor(
    topic: string,
    value: { id: number; schema: AvroRecordSchema },
    key: { id: number; schema: AvroRecordSchema } | undefined,
  ): { shape: TableShape; shapeId: string } {
    const shapeId = `${value.id}/${key?.id ?? '-'}`;
    let shape = this.shapes.get(`${topic}\u0000${shapeId}`);
    if (!shape) {
      shape = deriveTableShape({
        value: value.schema,
        key: key?.schema,
        keyColumns: this.keyColumnsFor(topic),
      });
      this.shapes.set(`${topic}\u0000${shapeId}`, shape);
    }
    this.lastShapeByTopic.set(topic, shapeId);
    return { shape, shapeId };
  }

  /**
   * The table shape this decoder derived for `shapeId` of `topic`, undefined if it has not derived
   * it. Found, it counts as the topic's last shape (as decoding a record of it would): a decode
   * worker's rows take their shapes from here, in record order.
   */
  knownShape(topic: string, shapeId: string): TableShape | undefined {
    const shape = this.shapes.get(`${topic}\u0000${shapeId}`);
    if (shape !== undefined) this.lastShapeByTopic.set(topic, shapeId);
    return shape;
  }

  /** Notes `shapeId` as the topic's last shape (a line `transcodeKnown` wrote, in record order: see `tombstone`). */
  shapeSeen(topic: string, shapeId: string): void {
    this.lastShapeByTopic.set(topic, shapeId);
  }

  /** What the record writes; waits only for a schema not fetched yet (see `decodeKnown`). */
  async decode(record: KafkaRecord): Promise<Decoded> {
    const key = hasKey(record) ? await this.decodePart(record.key!, record, 'key') : undefined;
    if (record.value === null || record.value.length === 0) return this.tombstone(record, key);
    return this.build(record, key, await this.decodePart(record.value, record, 'value'));
  }

  /**
   * `decode` without waiting, for the common case (every schema the record needs is already
   * known): undefined when `decode` has to be called instead. Saves a promise and a turn of the
   * event loop per record.
   */
  decodeKnown(record: KafkaRecord): Decoded | undefined {
    let key: Part | undefined;
    if (hasKey(record)) {
      key = this.knownPart(record.key!, record, 'key');
      if (key === undefined) return undefined;
    }
    if (record.value === null || record.value.length === 0) return this.tombstone(record, key);
    const value = this.knownPart(record.value, record, 'value');
    return value === undefined ? undefined : this.build(record, key, value);
  }

  /**
   * Fetches the writer schemas of `record`'s Avro key and value that are not known yet, so that
   * `transcodeKnown` can take it (and the records after it) on this thread; undefined (no
   * promise) when none is missing. A schema that cannot be fetched is left to `decode`, which
   * reports it; the promise resolves to whether any was fetched.
   */
  loadSchemas(record: KafkaRecord): Promise<boolean> | undefined {
    // Called for every record the transcoder leaves (all of a MongoDB topic's): nothing is
    // allocated unless a schema is missing.
    const keyId = this.missingWriterId(record.key);
    const valueId = this.missingWriterId(record.value);
    if (keyId === undefined && valueId === undefined) return undefined;
    const fetch = (id: number | undefined, part: 'key' | 'value') =>
      id === undefined
        ? false
        : this.writer(id, {
            topic: record.topic,
            partition: record.partition,
            offset: record.offset,
            part,
          }).then(
            () => true,
            () => false,
          );
    return Promise.all([fetch(keyId, 'key'), fetch(valueId, 'value')]).then(([k, v]) => k || v);
  }

  /** The schema id of an Avro key or value in the wire format whose writer schema is not fetched yet. */
  private missingWriterId(buf: Buffer | null): number | undefined {
    if (buf === null || buf.length < 5 || buf[0] !== 0) return undefined;
    const id = buf.readInt32BE(1);
    return id >= 0 && this.writers.get(id) === undefined ? id : undefined;
  }

  /**
   * The record's JSONCompactEachRow line written straight from its Avro bytes at the end of `out`
   * (`transcoder.ts`): the line `decodeKnown` and `LineWriter.writeCompact` give, without the objects.
   * Undefined, with nothing written, when `decodeKnown` has to be called instead: a schema not
   * fetched yet, a record in another format, a shape or a record the transcoder does not cover.
   * Unlike decoding, it leaves the topic's last shape as it was: the caller sets it in record
   * order (`shapeSeen`), for the tombstones among them.
   */
  transcodeKnown(record: KafkaRecord, out: LineWriter): Transcoded | undefined {
    const value = record.value;
    if (value === null || value.length < 5 || value[0] !== 0) return undefined;
    const key = record.key;
    if (key !== null && (key.length < 5 || key[0] !== 0)) return undefined;
    const valueId = value.readInt32BE(1);
    const keyId = key === null ? -1 : key.readInt32BE(1);
    // No schema has a negative id: the decoder's to report.
    if (valueId < 0 || (key !== null && keyId < 0)) return undefined;
    let entry = this.lastTranscoder;
    if (
      entry === undefined ||
      entry.topic !== record.topic ||
      entry.valueId !== valueId ||
      entry.keyId !== keyId
    ) {
      entry = this.shapeTranscoder(record.topic, valueId, keyId);
      if (entry === undefined) return undefined;
      this.lastTranscoder = entry;
    }
    if (entry.transcoder === null) return undefined;
    const t = entry.transcoder(value, key ?? undefined, out, record);
    if (t === undefined) return undefined;
    // The one object per record: the decoding the sink keeps for the flush.
    return {
      kind: 'encoded',
      shape: entry.shape!,
      shapeId: entry.shapeId,
      line: NO_LINE,
      columns: t.columns,
      compact: true,
      record,
      commitMs: t.commitMs,
      source: t.source,
    };
  }

  /** The transcoder of a topic's shape, compiled once; undefined while a schema it needs is not fetched. */
  private shapeTranscoder(topic: string, valueId: number, keyId: number): ShapeTranscoder | undefined {
    const shapeId = `${valueId}/${keyId < 0 ? '-' : keyId}`;
    const id = `${topic}\u0000${shapeId}`;
    const known = this.transcoders.get(id);
    if (known !== undefined) return known;
    const value = this.writers.get(valueId);
    const key = keyId < 0 ? undefined : this.writers.get(keyId);
    if (value === undefined || (keyId >= 0 && key === undefined)) return undefined;
    const entry: ShapeTranscoder = { topic, valueId, keyId, shapeId, shape: undefined, transcoder: null };
    // MongoDB envelopes are read with the topic's newest schema: `decode`'s alone.
    if (!value.mongo) {
      let shape = this.shapes.get(id);
      try {
        shape ??= deriveTableShape({
          value: value.schema,
          key: key?.schema,
          keyColumns: this.keyColumnsFor(topic),
        });
      } catch {
        shape = undefined; // `decode` throws it for each record
      }
      if (shape !== undefined) {
        this.shapes.set(id, shape);
        entry.shape = shape;
        entry.transcoder =
          compileTranscoder(value.schema, key?.schema, shape, { sourceName, millisText }) ?? null;
      }
    }
    this.transcoders.set(id, entry);
    return entry;
  }

  /** A record without a value: an upsert topic's delete of the key, else nothing to write. */
  private tombstone(record: KafkaRecord, key: Part | undefined): Decoded {
    const shapeId = this.lastShapeByTopic.get(record.topic);
    const shape = shapeId ? this.shapes.get(`${record.topic}\u0000${shapeId}`) : undefined;
    // A tombstone after a CDC delete only serves compaction; on an upsert topic it deletes the key.
    if (shape?.kind !== 'upsert' || !key) return { kind: 'skip' };
    return {
      kind: 'row',
      shape,
      shapeId: shapeId!,
      row: this.upsertRow(shape, undefined, key.value, record, true),
    };
  }

  private build(record: KafkaRecord, key: Part | undefined, value: Part): Decoded {
    const { shape, shapeId } = this.shapeFor(record.topic, value, key);
    if (shape.kind === 'upsert')
      return {
        kind: 'row',
        shape,
        shapeId,
        row: this.upsertRow(shape, value.value, key?.value, record, false),
      };
    const event = value.value as {
      before: Record<string, unknown> | null;
      after: Record<string, unknown> | null;
      source: {
        commitLsn?: string;
        lsn?: string;
        snapshot?: string;
        tsMs?: bigint | number;
        /** Debezium's envelope. */
        ts_ms?: bigint | number;
        db?: string;
        schema?: string;
        table?: string;
        collection?: string;
      };
      op: string;
      changeId: string;
    };
    const version =
      shape.versioning === 'postgres-lsn'
        ? postgresVersion(event)
        : shape.versioning === 'debezium-lsn'
          ? debeziumPostgresVersion(event)
          : offsetVersion(record.offset);
    if (shape.versioning === 'debezium-lsn') event.changeId = debeziumChangeId(event, record);
    const source = this.sourceNameOf(event.source);
    if (event.op === 't') return { kind: 'truncate', version, changeId: event.changeId, source };
    const deleted = event.op === 'd';
    // MongoDB envelopes are read with wrapped unions: `before`/`after` come as `{ "<ns>.Document": {…} }`.
    const unwrap = (v: Record<string, unknown> | null) =>
      shape.wrappedUnions && v ? (Object.values(v)[0] as Record<string, unknown>) : v;
    const image = unwrap(deleted ? event.before : event.after);
    if (!deleted && !image) {
      throw new CdcError('POISON_RECORD', `change ${event.changeId} (op ${event.op}) has no after image`, {
        context: { changeId: event.changeId, op: event.op },
      });
    }
    const row = this.dataRow(shape, image, key?.value, deleted);
    row._version = version;
    row._is_deleted = deleted ? 1 : 0;
    row._change_id = event.changeId;
    row._op = event.op;
    row._source_ts = millisText(event.source.tsMs ?? event.source.ts_ms ?? 0);
    return { kind: 'row', shape, shapeId, row, source };
  }

  /** `sourceName`, remembered for the last source seen (a batch mostly holds one table's changes). */
  private sourceNameOf(source: Parameters<typeof sourceName>[0]): string | undefined {
    const last = this.lastSource;
    if (
      last !== undefined &&
      last.connector === source.connector &&
      last.db === source.db &&
      last.schema === source.schema &&
      last.table === source.table &&
      last.collection === source.collection
    )
      return last.name;
    const name = sourceName(source);
    const { connector, db, schema, table, collection } = source;
    this.lastSource = { connector, db, schema, table, collection, name };
    return name;
  }

  private dataRow(
    shape: TableShape,
    image: Record<string, unknown> | null,
    key: Record<string, unknown> | undefined,
    deleted: boolean,
  ): EncodedRow {
    // No prototype: a column named `__proto__` is an ordinary key.
    const row: EncodedRow = Object.create(null);
    // One note per row (not a closure per column): values out of ClickHouse's range, by column.
    let outOfRange: Record<string, string> | undefined;
    let column = '';
    const note: OutOfRangeNote = (path, exact) => {
      outOfRange ??= {};
      outOfRange[`${column}${path}`] = exact;
    };
    const noteFor = (c: string): OutOfRangeNote => {
      column = c;
      return note;
    };
    if (image) {
      for (const c of shape.columns) {
        const v = image[c.field];
        // A delete's before image may hold only the key (replica identity default): the rest takes defaults.
        if (deleted && (v === null || v === undefined)) continue;
        row[c.column] = c.mapping.convert(v === undefined ? null : v, noteFor(c.column));
      }
    }
    if (shape.mongoIdColumn !== undefined && typeof key?.id === 'string')
      row[shape.mongoIdColumn] = mongoIdText(key.id);
    for (const k of shape.keyColumns) {
      if (k.rowField !== undefined && image && image[k.rowField] !== null && image[k.rowField] !== undefined)
        continue;
      if (k.keyField !== undefined && key && key[k.keyField] !== undefined && key[k.keyField] !== null) {
        row[k.column] = k.mapping.convert(key[k.keyField], noteFor(k.column));
      } else if (k.rowField === undefined || !(k.column in row)) {
        throw new CdcError('POISON_RECORD', `the record has no value for key column ${k.column}`, {
          context: { column: k.column },
        });
      }
    }
    if (outOfRange !== undefined) row[OUT_OF_RANGE_COLUMN] = outOfRange;
    return row;
  }

  private upsertRow(
    shape: TableShape,
    value: Record<string, unknown> | undefined,
    key: Record<string, unknown> | undefined,
    record: KafkaRecord,
    tombstone: boolean,
  ): EncodedRow {
    const row = this.dataRow(shape, value ?? null, key, tombstone);
    row._version = offsetVersion(record.offset);
    row._is_deleted = tombstone ? 1 : 0;
    row._change_id = `${record.topic}/${record.partition}/${record.offset}`;
    row._op = tombstone ? 'd' : 'u';
    row._source_ts = millisText(record.timestamp);
    return row;
  }
}

/** Milliseconds since the epoch as seconds with three decimals (`1735689600123` → `1735689600.123`), as DateTime64(3) reads it. */
export function millisText(ms: unknown): string {
  const t = `${ms}`;
  const n = t.length;
  if (n >= 4 && isDigit(t.charCodeAt(n - 1)) && isDigit(t.charCodeAt(n - 2)) && isDigit(t.charCodeAt(n - 3)))
    return `${t.slice(0, n - 3)}.${t.slice(n - 3)}`;
  return t.padStart(4, '0').replace(/(\d{3})$/, '.$1');
}

function isDigit(c: number): boolean {
  return c >= 0x30 && c <= 0x39;
}
