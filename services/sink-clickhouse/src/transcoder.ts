/**
 * A compiled Avro → JSONCompactEachRow transcoder: for one PostgreSQL change envelope's writer
 * schema, its key schema and the table shape derived from them, a function made once that reads a
 * record's Avro bytes and writes its row's JSONCompactEachRow line — the values of the data
 * columns, the key columns that are not row columns, `_version`, `_is_deleted`, `_change_id`,
 * `_op`, `_source_ts`, always those columns in that order (`TranscodedRow.columns`) — straight
 * into the output buffer, without building the envelope (`{before, after, source, …}`) and the
 * row as JavaScript objects first. Compact lines, not JSONEachRow: no column names to copy into
 * every line, and the engine parses them faster (`loadtests/sink-clickhouse`).
 *
 * The line is byte for byte the one `RecordDecoder` (`decode.ts`) and `LineWriter.writeCompact`
 * (`row-encoder.ts`) give for the record and those columns (`transcoder.test.ts` runs both on
 * the same records). A delete's column that its before image holds null (a column out of its
 * replica identity) is written null, which the insert reads as the column's default: the row the
 * decoder makes leaves it out, which the insert reads the same way.
 * Whatever this does not cover gives up, with nothing written, and the record takes that path:
 *
 * - at compile time (`compileTranscoder` returns undefined): MongoDB, Debezium and upsert shapes,
 *   columns of nested types (arrays, maps, records: PostgreSQL arrays and intervals), unions other
 *   than `[null, T]`, Avro enums, column names that JavaScript orders first (`"123"`) or that repeat;
 * - per record (the transcoder returns undefined): bytes that do not decode as avsc reads them
 *   (truncated, trailing, a bad union or enum index), a truncation, a delete without a before
 *   image, a change without an after image, a date or timestamp outside what ClickHouse holds
 *   (it goes to `_out_of_range`), a change without a usable position, a null key value.
 */
import type { AvroRecordSchema, AvroSchema } from '@cdc/avro';
import { collectNamedTypes, envelopeFormat, type TableShape } from '@cdc/clickhouse/schema';
import { isCdcError, postgresVersionOf } from '@cdc/core';
import {
  Cursor,
  GIVE_UP,
  type Named,
  objectOf,
  readInt,
  readLength,
  readLong,
  resolve,
  type Skip,
  skipperOf,
  utf8,
} from './avro-cursor.ts';
import {
  type ColumnStep,
  columnStepOf,
  columnsWriter,
  isIndexLike,
  NULL_GIVES_UP,
  NULL_WRITTEN,
} from './column-steps.ts';
import {
  JsonOut,
  writeQuotedAscii,
  writeQuotedInteger,
  writeQuotedMillis,
  writeQuotedVersion,
  writeString,
} from './json-out.ts';
import type { LineWriter } from './row-encoder.ts';

/** What a record's line holds besides its bytes. */
export interface TranscodedRow {
  /** The line's columns, in order: the same array for every line of the transcoder. */
  columns: readonly string[];
  /** The exact source name (`sourceName` of `decode.ts`). */
  source: string | undefined;
  /** The source commit time in ms (`sourceCommitMs` of `row-item.ts`). */
  commitMs: number | undefined;
}

/**
 * Writes the line of a record, from its value and key (undefined: none) in the wire format (the
 * schema ids are the caller's to check: those the transcoder was compiled for), at the end of
 * `out`; undefined, with nothing written, when it gives up. `record`: where the record was read.
 * The row it returns is the transcoder's own, overwritten by its next call (no object per record).
 */
export type Transcoder = (
  value: Buffer,
  key: Buffer | undefined,
  out: LineWriter,
  record: { topic: string; partition: number; offset: string },
) => TranscodedRow | undefined;

/** The `source` fields the line depends on. */
export interface SourceFields {
  connector?: string;
  db?: string;
  schema?: string;
  table?: string;
  collection?: string;
  lsn?: string;
  commitLsn?: string;
}

/** `decode.ts`'s own functions for what it derives from the source (one home for each). */
export interface SourceFunctions {
  sourceName(source: SourceFields): string | undefined;
  /** `_source_ts` of a source time in ms. */
  millisText(ms: number | bigint): string;
}

const META_NAMES = ['_version', '_is_deleted', '_change_id', '_op', '_source_ts'];
/** `_is_deleted` between the commas around it, by whether the change is a delete. */
const META_DELETED = [Buffer.from(',0,'), Buffer.from(',1,')];

/** The `source` fields the line depends on, by their index in `Reading.spans`. */
const SOURCE_STRINGS = ['connector', 'db', 'schema', 'table', 'collection', 'lsn', 'commitLsn'] as const;
/** The fields `sourceName` reads (the first five). */
const NAME_FIELDS = 5;

/** What the envelope's fields leave for the rest of the line (one per transcoder, reset per record). */
class Reading {
  lineStart = 0;
  before = -1;
  after = -1;
  opStart = 0;
  opEnd = 0;
  changeIdStart = 0;
  changeIdEnd = 0;
  /** A streamed change's commit LSN and 2·index + 1 (`streamedVersion`). */
  versionLsn: number | bigint = 0;
  versionLow = 0;
  tsMs: number | bigint | undefined;
  ts_ms: number | bigint | undefined;
  /** Per `SOURCE_STRINGS` field: where its bytes start and end in the payload (-1: the schema has none). */
  readonly spans = new Int32Array(SOURCE_STRINGS.length * 2);

  reset(lineStart: number): void {
    this.lineStart = lineStart;
    this.before = -1;
    this.after = -1;
    this.tsMs = undefined;
    this.ts_ms = undefined;
    this.spans.fill(-1);
  }

  /** The source fields as `decode.ts` reads them. */
  source(payload: Buffer): SourceFields {
    const source: SourceFields = {};
    for (let i = 0; i < SOURCE_STRINGS.length; i++)
      if (this.spans[2 * i]! >= 0)
        source[SOURCE_STRINGS[i]!] = utf8(payload, this.spans[2 * i]!, this.spans[2 * i + 1]!);
    return source;
  }
}

/** `sourceName` of the last source seen, known again by its bytes (a batch mostly holds one table's changes). */
class SourceNames {
  private last = Buffer.alloc(0);
  private readonly lastSpans = new Int32Array(NAME_FIELDS * 2).fill(-2);
  private name: string | undefined;
  private readonly fns: SourceFunctions;

  constructor(fns: SourceFunctions) {
    this.fns = fns;
  }

  of(payload: Buffer, r: Reading): string | undefined {
    if (!this.same(payload, r.spans)) {
      this.name = this.fns.sourceName(r.source(payload));
      // The fields' bytes, one after the other, and where each lies in them.
      let size = 0;
      for (let i = 0; i < NAME_FIELDS; i++)
        if (r.spans[2 * i]! >= 0) size += r.spans[2 * i + 1]! - r.spans[2 * i]!;
      this.last = Buffer.alloc(size);
      let at = 0;
      for (let i = 0; i < NAME_FIELDS; i++) {
        const start = r.spans[2 * i]!;
        if (start < 0) {
          this.lastSpans[2 * i] = -1;
          continue;
        }
        const end = r.spans[2 * i + 1]!;
        payload.copy(this.last, at, start, end);
        this.lastSpans[2 * i] = at;
        at += end - start;
        this.lastSpans[2 * i + 1] = at;
      }
    }
    return this.name;
  }

  private same(payload: Buffer, spans: Int32Array): boolean {
    for (let i = 0; i < NAME_FIELDS; i++) {
      const start = spans[2 * i]!;
      const lastStart = this.lastSpans[2 * i]!;
      if (start < 0 || lastStart < 0) {
        if (start !== lastStart) return false;
        continue;
      }
      const lastEnd = this.lastSpans[2 * i + 1]!;
      if (spans[2 * i + 1]! - start !== lastEnd - lastStart) return false;
      // Byte by byte: these names are short, and a native compare per field costs more than them.
      const last = this.last;
      for (let a = start, b = lastStart; b < lastEnd; a++, b++) if (payload[a] !== last[b]) return false;
    }
    return true;
  }
}

type EnvelopeStep = (c: Cursor, r: Reading) => void;

/**
 * The steps called one after the other, as straight-line code (`columnsWriter` says why): each
 * step's call site has one target, which V8 inlines.
 */
function inOrder(steps: readonly EnvelopeStep[]): EnvelopeStep {
  const body = steps.map((_, i) => `E[${i}](c, r);`).join('\n  ');
  const make = new Function('E', `return function steps(c, r) {\n  ${body}\n};`) as (
    e: readonly EnvelopeStep[],
  ) => EnvelopeStep;
  return make(steps);
}

/** The steps of the envelope's `source` record: where its strings are, its time; the rest skipped. */
function sourceSteps(schema: AvroSchema, named: Named): EnvelopeStep[] | undefined {
  const t = resolve(schema, named);
  if (t === undefined || Array.isArray(t) || objectOf(t).type !== 'record') return undefined;
  const steps: EnvelopeStep[] = [];
  for (const f of (objectOf(t).fields as { name: string; type: AvroSchema }[]) ?? []) {
    const name = f.name;
    const ft = resolve(f.type, named);
    const type = ft === undefined || Array.isArray(ft) ? undefined : objectOf(ft);
    const index = (SOURCE_STRINGS as readonly string[]).indexOf(name);
    if (index >= 0) {
      // Only a plain string: anything else is `decode.ts`'s to read.
      if (type?.type !== 'string') return undefined;
      steps.push((c, r) => {
        const len = readLength(c);
        r.spans[2 * index] = c.pos;
        c.pos += len;
        r.spans[2 * index + 1] = c.pos;
      });
    } else if (name === 'tsMs' || name === 'ts_ms') {
      if (type?.type !== 'long') return undefined;
      steps.push(
        name === 'tsMs'
          ? (c, r) => {
              r.tsMs = readLong(c);
            }
          : (c, r) => {
              r.ts_ms = readLong(c);
            },
      );
    } else {
      const skip = skipperOf(f.type, named);
      steps.push((c) => skip(c));
    }
  }
  return steps;
}

/** A lowercase hex digit's value, -1 for any other byte (`parseChangeId` reads lowercase only). */
function hexDigit(b: number): number {
  if (b >= 0x30 && b <= 0x39) return b - 0x30;
  if (b >= 0x61 && b <= 0x66) return b - 0x57;
  return -1;
}

/** Eight hex digits at `at` as a number, -1 if they are not. */
function hex8(buf: Buffer, at: number): number {
  let n = 0;
  for (let i = at; i < at + 8; i++) {
    const d = hexDigit(buf[i]!);
    if (d < 0) return -1;
    n = n * 16 + d;
  }
  return n;
}

/**
 * Whether the change id is a streamed change's, `<16 hex commit LSN>-<8 hex index>`, whose
 * `_version` `postgresVersionOf` computes as LSN·2^33 + 2·index + 1; if so the LSN and
 * 2·index + 1 are left in `r` (`versionLsn`: a number while the LSN is below 2^53, else the
 * bigint; `versionLow`), read without its regular expression and strings. False for any other (a
 * snapshot read, another form): `postgresVersionOf` then.
 */
function streamedVersion(payload: Buffer, r: Reading, op: number): boolean {
  const start = r.changeIdStart;
  if (r.changeIdEnd - start !== 25 || payload[start + 16] !== 0x2d || op === 0x72) return false;
  const hi = hex8(payload, start);
  const lo = hex8(payload, start + 8);
  const index = hex8(payload, start + 17);
  if (hi < 0 || lo < 0 || index < 0) return false;
  r.versionLsn = hi < 2 ** 21 ? hi * 2 ** 32 + lo : (BigInt(hi) << 32n) | BigInt(lo);
  r.versionLow = index * 2 + 1;
  return true;
}

/**
 * The transcoder of a PostgreSQL change envelope (`value`: its writer schema, `key`: the key's,
 * `shape`: what `deriveTableShape` made of them); undefined when the shape holds something it
 * does not cover (see the file comment).
 */
export function compileTranscoder(
  value: AvroRecordSchema,
  key: AvroRecordSchema | undefined,
  shape: TableShape,
  fns: SourceFunctions,
): Transcoder | undefined {
  try {
    return compile(value, key, shape, fns);
  } catch (err) {
    if (err === GIVE_UP) return undefined;
    throw err;
  }
}

function compile(
  value: AvroRecordSchema,
  key: AvroRecordSchema | undefined,
  shape: TableShape,
  fns: SourceFunctions,
): Transcoder | undefined {
  if (shape.kind !== 'postgres' || shape.versioning !== 'postgres-lsn' || envelopeFormat(value) !== 'cdc')
    return undefined;
  const named: Named = new Map();
  collectNamedTypes(value as unknown as AvroSchema, named);
  const before = value.fields.find((f) => f.name === 'before')!.type as AvroSchema[];
  const row = Array.isArray(before)
    ? (before.find((b) => typeof b === 'object' && !Array.isArray(b)) as AvroRecordSchema | undefined)
    : undefined;
  if (row === undefined || row.fields.length !== shape.columns.length) return undefined;

  // The image's columns in field order: the row's key order (`dataRow` sets them first).
  const names = new Set<string>();
  const imageSteps: ColumnStep[] = [];
  for (const [i, field] of row.fields.entries()) {
    const c = shape.columns[i]!;
    if (c.field !== field.name || names.has(c.column) || isIndexLike(c.column)) return undefined;
    names.add(c.column);
    const step = columnStepOf(c.column, field.type as AvroSchema, c.mapping.type, named);
    if (step === undefined) return undefined;
    imageSteps.push(step);
  }

  // A key column that is a row column is always in the row (it is not nullable); the others come
  // from the key, in its field order, after the data columns (as `dataRow` adds them).
  const keyOnly = new Map<string, string>();
  for (const k of shape.keyColumns) {
    if (k.rowField !== undefined) {
      if (k.mapping.type.startsWith('Nullable(') || !names.has(k.column)) return undefined;
    } else if (k.keyField === undefined || key === undefined || names.has(k.column) || isIndexLike(k.column))
      return undefined;
    else keyOnly.set(k.keyField, k.column);
  }
  let keySteps: (ColumnStep | Skip)[] | undefined;
  if (key !== undefined) {
    const keyNamed: Named = new Map();
    collectNamedTypes(key as unknown as AvroSchema, keyNamed);
    keySteps = [];
    for (const f of key.fields) {
      const column = keyOnly.get(f.name);
      if (column === undefined) {
        // Read past, as the decoder reads it (a key that does not decode is its error).
        keySteps.push(skipperOf(f.type as AvroSchema, keyNamed));
        continue;
      }
      const mapping = shape.keyColumns.find((x) => x.column === column)!.mapping;
      const step = columnStepOf(column, f.type as AvroSchema, mapping.type, keyNamed);
      if (step === undefined) return undefined;
      keySteps.push(step);
    }
  }
  const columns = [...names, ...keyOnly.values(), ...META_NAMES];
  const writeImage = columnsWriter(imageSteps, NULL_WRITTEN);
  const writeKey = keySteps === undefined ? undefined : columnsWriter(keySteps, NULL_GIVES_UP);

  const rowSkip = skipperOf(row as unknown as AvroSchema, named);
  const envelope: EnvelopeStep[] = [];
  const o = new JsonOut();
  for (const f of value.fields) {
    const t = resolve(f.type as AvroSchema, named);
    if (f.name === 'before' || f.name === 'after') {
      if (!Array.isArray(t) || t.length !== 2 || !t.includes('null')) return undefined;
      const nullBranch = t.indexOf('null');
      if (resolve(t[1 - nullBranch] as AvroSchema, named) !== row) return undefined;
      const isAfter = f.name === 'after';
      envelope.push((c, r) => {
        const branch = readInt(c);
        if (branch === nullBranch) return;
        if (branch !== 1 - nullBranch) throw GIVE_UP;
        if (isAfter) {
          // Written at once (the common case); a delete writes its before image over it.
          r.after = c.pos;
          writeImage(c, o, r.lineStart);
        } else {
          r.before = c.pos;
          rowSkip(c);
        }
      });
    } else if (f.name === 'source') {
      const steps = sourceSteps(f.type as AvroSchema, named);
      if (steps === undefined) return undefined;
      envelope.push(inOrder(steps));
    } else if (f.name === 'op' || f.name === 'changeId') {
      if (t === undefined || Array.isArray(t) || objectOf(t).type !== 'string') return undefined;
      const isOp = f.name === 'op';
      envelope.push((c, r) => {
        const len = readLength(c);
        if (isOp) {
          r.opStart = c.pos;
          r.opEnd = c.pos + len;
        } else {
          r.changeIdStart = c.pos;
          r.changeIdEnd = c.pos + len;
        }
        c.pos += len;
      });
    } else {
      const skip = skipperOf(f.type as AvroSchema, named);
      envelope.push((c) => skip(c));
    }
  }

  const readEnvelope = inOrder(envelope);
  const c = new Cursor();
  const k = new Cursor();
  const r = new Reading();
  const sourceNames = new SourceNames(fns);
  const result: TranscodedRow = { columns, source: undefined, commitMs: undefined };

  return (payload, keyPayload, out, record) => {
    if ((keyPayload === undefined) !== (keySteps === undefined)) return undefined;
    o.begin(out);
    r.reset(o.pos);
    try {
      o.buf[o.pos++] = 0x5b;
      c.at(payload, 5);
      readEnvelope(c, r);
      if (c.pos !== c.end) throw GIVE_UP;
      // The op's one byte (-1: an op of another length, which is none of these).
      const op = r.opEnd - r.opStart === 1 ? payload[r.opStart]! : -1;
      if (op === 0x74) throw GIVE_UP; // a truncation
      const deleted = op === 0x64;
      if (deleted) {
        if (r.before < 0) throw GIVE_UP;
        o.pos = r.lineStart + 1;
        writeImage(c.at(payload, r.before), o, r.lineStart);
      } else if (r.after < 0) throw GIVE_UP;
      if (keySteps !== undefined) {
        k.at(keyPayload!, 5);
        writeKey!(k, o, r.lineStart);
        if (k.pos !== k.end) throw GIVE_UP;
      }
      const streamed = streamedVersion(payload, r, op);
      // A change id of that form holds no `/`: never the record's own place (`sourceCommitMs`).
      let ownPlace = false;
      let version: bigint | undefined;
      if (!streamed) {
        const source = r.source(payload);
        const changeId = utf8(payload, r.changeIdStart, r.changeIdEnd);
        version = postgresVersionOf({
          changeId,
          op: utf8(payload, r.opStart, r.opEnd),
          source: { commitLsn: source.commitLsn, lsn: source.lsn },
        });
        ownPlace = changeId === `${record.topic}/${record.partition}/${record.offset}`;
      }
      // `_version` … `_source_ts`, as `build` sets them.
      o.ensure(1);
      if (o.pos > r.lineStart + 1) o.buf[o.pos++] = 0x2c;
      if (version === undefined) writeQuotedVersion(o, r.versionLsn, r.versionLow);
      else writeQuotedInteger(o, version);
      o.ensure(META_DELETED[0]!.length);
      o.bytes(META_DELETED[deleted ? 1 : 0]!);
      writeString(o, payload, r.changeIdStart, r.changeIdEnd);
      o.ensure(1);
      o.buf[o.pos++] = 0x2c;
      writeString(o, payload, r.opStart, r.opEnd);
      o.ensure(1);
      o.buf[o.pos++] = 0x2c;
      const ms = r.tsMs ?? r.ts_ms ?? 0;
      let seconds: number;
      if (typeof ms === 'number' && ms >= 1000) {
        // `millisText` of a number of 4 digits or more, and the number it reads back as.
        writeQuotedMillis(o, ms);
        seconds = ms / 1000;
      } else {
        const text = fns.millisText(ms);
        writeQuotedAscii(o, text);
        seconds = Number(text);
      }
      o.ensure(2);
      o.buf[o.pos++] = 0x5d;
      o.buf[o.pos++] = 0x0a;
      const source = sourceNames.of(payload, r);
      const commitMs =
        !ownPlace && Number.isFinite(seconds) && seconds > 0 ? Math.round(seconds * 1000) : undefined;
      o.end();
      result.source = source;
      result.commitMs = commitMs;
      return result;
    } catch (err) {
      // `postgresVersionOf`'s error for a change without a usable position is the decoder's to report.
      if (err === GIVE_UP || isCdcError(err, 'POISON_RECORD')) return undefined;
      throw err;
    }
  };
}
