/**
 * The columns of a transcoded line (`transcoder.ts`): for each Avro field of a row, how its value
 * is read from the bytes and written as the row encoder writes the value the decoder makes of it,
 * and the ClickHouse type `column-type.ts` maps the field to (compared with the table shape's, so
 * that the two cannot disagree silently). A type not covered here leaves the shape to the decoder.
 */
import type { AvroSchema } from '@cdc/avro';
import { dateTime64Value, MAX_DAYS, MIN_DAYS, type TimestampLogical } from '@cdc/clickhouse/schema';
import {
  type Cursor,
  GIVE_UP,
  type Named,
  objectOf,
  readInt,
  readLength,
  readLong,
  resolve,
  type Skip,
} from './avro-cursor.ts';
import {
  type JsonOut,
  writeDate,
  writeDateTime,
  writeDecimal,
  writeFloat,
  writeInt,
  writeQuotedAscii,
  writeQuotedInteger,
  writeRawBytes,
  writeString,
} from './json-out.ts';

/** Reads a non-null value and writes its JSON. */
export type ValueStep = (c: Cursor, o: JsonOut) => void;

function writeDays(c: Cursor, o: JsonOut): void {
  const days = readInt(c);
  if (!(days >= MIN_DAYS && days <= MAX_DAYS)) throw GIVE_UP;
  writeDate(o, days);
}

/** A DateTime64 column's ticks: in plain numbers while exact, else through `dateTime64Value`. */
function timestampStep(logical: TimestampLogical): ValueStep {
  const digits = logical.endsWith('millis') ? 3 : 6;
  const perDay = 86_400_000 * (digits === 3 ? 1 : 1000);
  const min = MIN_DAYS * perDay;
  const max = (MAX_DAYS + 1) * perDay - 1;
  return (c, o) => {
    const ticks = readLong(c);
    if (typeof ticks === 'number' && ticks >= min && ticks <= max) {
      writeDateTime(o, ticks, digits);
      return;
    }
    let outside = false;
    const text = dateTime64Value(ticks, logical, () => {
      outside = true;
    });
    if (outside) throw GIVE_UP;
    writeQuotedAscii(o, text);
  };
}

const TIMESTAMPS = new Set([
  'timestamp-millis',
  'local-timestamp-millis',
  'timestamp-micros',
  'local-timestamp-micros',
]);

/**
 * How a non-null value is read and written, with the ClickHouse type `column-type.ts` maps it to
 * (compared with the shape's, so that the two cannot disagree silently); undefined: not covered.
 */
function valueStepOf(schema: AvroSchema, named: Named): { step: ValueStep; type: string } | undefined {
  const s = resolve(schema, named);
  if (s === undefined || Array.isArray(s)) return undefined;
  const o = objectOf(s);
  const logical = o.logicalType as string | undefined;
  switch (o.type) {
    case 'boolean':
      return {
        type: 'Bool',
        step: (c, out) => {
          out.ensure(5);
          out.ascii(c.buf[c.pos++] ? 'true' : 'false');
        },
      };
    case 'int':
      if (logical === 'date') return { type: 'Date32', step: writeDays };
      return { type: 'Int32', step: (c, out) => writeInt(out, readInt(c)) };
    case 'long':
      if (logical !== undefined && TIMESTAMPS.has(logical))
        return {
          type: logical.endsWith('millis') ? "DateTime64(3, 'UTC')" : "DateTime64(6, 'UTC')",
          step: timestampStep(logical as TimestampLogical),
        };
      return { type: 'Int64', step: (c, out) => writeQuotedInteger(out, readLong(c)) };
    case 'float':
    case 'double': {
      const size = o.type === 'float' ? 4 : 8;
      return {
        type: size === 4 ? 'Float32' : 'Float64',
        step: (c, out) => {
          if (c.pos + size > c.end) throw GIVE_UP;
          const n = size === 4 ? c.buf.readFloatLE(c.pos) : c.buf.readDoubleLE(c.pos);
          c.pos += size;
          writeFloat(out, n);
        },
      };
    }
    case 'bytes':
    case 'fixed': {
      const size = o.type === 'fixed' ? (o.size as number) : -1;
      /** Moves past the bytes; where they start. */
      const span = (c: Cursor): number => {
        const len = size >= 0 ? size : readLength(c);
        if (c.pos + len > c.end) throw GIVE_UP;
        c.pos += len;
        return c.pos - len;
      };
      if (logical === 'decimal') {
        const precision = o.precision as number;
        const scale = (o.scale as number | undefined) ?? 0;
        return {
          type: precision <= 76 ? `Decimal(${precision}, ${scale})` : 'String',
          step: (c, out) => writeDecimal(out, c.buf, span(c), c.pos, scale),
        };
      }
      return { type: 'String', step: (c, out) => writeRawBytes(out, c.buf, span(c), c.pos) };
    }
    case 'string':
      return {
        type: logical === 'uuid' ? 'UUID' : 'String',
        step: (c, out) => {
          const len = readLength(c);
          writeString(out, c.buf, c.pos, c.pos + len);
          c.pos += len;
        },
      };
    default:
      return undefined;
  }
}

/**
 * What a column step does with a null: writes it (a delete's image too: the insert reads a null
 * into a column that is not Nullable as the column's default, as if the column were left out),
 * or gives up (a key).
 */
export const NULL_WRITTEN = 0;
export const NULL_GIVES_UP = 2;

/** One column of the line: its name, and how its value is read and written. */
export interface ColumnStep {
  column: string;
  /** The union branch that is null and the one that holds the value (-1: not a union). */
  nullBranch: number;
  valueBranch: number;
  value: ValueStep;
}

export function columnStepOf(
  column: string,
  type: AvroSchema,
  mappedType: string,
  named: Named,
): ColumnStep | undefined {
  const s = resolve(type, named);
  if (Array.isArray(s)) {
    if (s.length !== 2 || !s.includes('null')) return undefined;
    const nullBranch = s.indexOf('null');
    const inner = valueStepOf(s[1 - nullBranch] as AvroSchema, named);
    if (inner === undefined || mappedType !== `Nullable(${inner.type})`) return undefined;
    return { column, nullBranch, valueBranch: 1 - nullBranch, value: inner.step };
  }
  const plain = valueStepOf(type, named);
  if (plain === undefined || mappedType !== plain.type) return undefined;
  return { column, nullBranch: -1, valueBranch: -1, value: plain.step };
}

/** A name JavaScript puts before the others in an object (an array index): the row would have it first. */
export const isIndexLike = (name: string) => /^(0|[1-9]\d*)$/.test(name) && Number(name) < 2 ** 32 - 1;

/** Writes the values of a list of columns at the cursor (`columnsWriter`). */
export type ColumnsWriter = (c: Cursor, o: JsonOut, lineStart: number) => void;

/**
 * A function that writes the values of the columns at the cursor, comma-separated, in step order
 * (a step that is a skip reads past a field without a column); the first one written at
 * `lineStart + 1` (past `[`) goes without a comma. `nulls`: what a null does (`NULL_WRITTEN`,
 * `NULL_GIVES_UP`).
 *
 * Made as straight-line code, one statement per column, not a loop over the steps: each call of a
 * column's reader then has one target, which V8 inlines; in a loop the one call site sees every
 * column's closure and calls each through a lookup. The generated source holds only indices and
 * union branch numbers (never a name from a schema).
 */
export function columnsWriter(steps: readonly (ColumnStep | Skip)[], nulls: number): ColumnsWriter {
  const body: string[] = [];
  const comma = 'if (o.pos > lineStart + 1) o.buf[o.pos++] = 0x2c;';
  for (const [i, step] of steps.entries()) {
    if (typeof step === 'function') {
      body.push(`S[${i}](c);`);
      continue;
    }
    if (step.nullBranch < 0) {
      body.push(`o.ensure(5); ${comma} V[${i}](c, o);`);
      continue;
    }
    const onNull = nulls === NULL_GIVES_UP ? 'throw GIVE_UP;' : `o.ensure(5); ${comma} o.ascii('null');`;
    body.push(
      `b = readInt(c);`,
      `if (b === ${step.nullBranch | 0}) { ${onNull} }`,
      `else if (b === ${step.valueBranch | 0}) { o.ensure(5); ${comma} V[${i}](c, o); }`,
      'else throw GIVE_UP;',
    );
  }
  const values = steps.map((step) => (typeof step === 'function' ? undefined : step.value));
  const make = new Function(
    'S',
    'V',
    'readInt',
    'GIVE_UP',
    `return function writeColumns(c, o, lineStart) {\n  let b = 0;\n  ${body.join('\n  ')}\n};`,
  ) as (s: unknown, v: unknown, r: typeof readInt, g: typeof GIVE_UP) => ColumnsWriter;
  return make(steps, values, readInt, GIVE_UP);
}
