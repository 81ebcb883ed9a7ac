/**
 * One PostgreSQL column type → its Avro schema, the `cdc.*` attributes its field carries, and
 * the conversion of PostgreSQL's text form (what pgoutput sends) to the value `avsc` encodes
 * for that schema, and back. Values are Avro's own representations, not logical-type objects:
 * `long` is a `bigint` (read as such by `parseSchema`), `bytes` a `Buffer`, `date` an int of days,
 * timestamps `bigint` microseconds, `decimal` the unscaled two's complement bytes.
 *
 * | PostgreSQL | Avro | notes |
 * |---|---|---|
 * | bool | boolean | |
 * | int2, int4 | int | |
 * | int8, oid | long | as `bigint`: every int64 survives |
 * | float4 / float8 | float / double | NaN, ±Infinity, -0 kept |
 * | numeric(p,s) | bytes, decimal(p,s) | see `numeric.ts` |
 * | numeric | string, `cdc.type: numeric` | exact text, see `numeric.ts` |
 * | text, varchar, bpchar, name, "char", xml, … | string | bpchar keeps its padding |
 * | uuid | string, uuid | |
 * | date | int, date | see `temporal.ts` for BC and infinity |
 * | time | long, time-micros | |
 * | timetz | string | `HH:MM:SS[.ffffff]±HH:MM[:SS]` |
 * | timestamp | long, local-timestamp-micros | |
 * | timestamptz | long, timestamp-micros | UTC |
 * | interval | record Interval { months: int, days: int, micros: long } | |
 * | json, jsonb | string, `cdc.type: json` / `jsonb` | the text as PostgreSQL prints it |
 * | bytea | bytes | needs `bytea_output = hex` (the default) |
 * | T[] | array<[null, T]>, nested per declared dimension | see `array-text.ts` |
 * | enum | string, labels in `cdc.labels` | not an Avro enum: `ALTER TYPE … ADD VALUE` must not break readers |
 * | domain | its base type, name in `cdc.domain` | |
 * | anything else (money, inet, geometry, hstore, ranges, composites, …) | string | the text as PostgreSQL prints it; the type in `cdc.type` |
 */
import type { AvroAttributes, AvroRecordSchema, AvroSchema } from '../schema-types.ts';
import { type ArrayText, formatArrayText, parseArrayText } from './array-text.ts';
import {
  bigintToTwosComplement,
  decimalFromText,
  decimalShape,
  decimalToText,
  numericTextFromText,
  twosComplementToBigint,
} from './numeric.ts';
import { type PgType, qualifiedTypeName } from './relation.ts';
import {
  badText,
  dateFromText,
  dateToText,
  INT64_MAX,
  INT64_MIN,
  intervalFromText,
  intervalToText,
  type PgInterval,
  timeFromText,
  timestampFromText,
  timestampToText,
  timestamptzFromText,
  timestamptzToText,
  timeToText,
  timetzFromText,
} from './temporal.ts';

export interface TypeMapping {
  /** The Avro type of a non-null value. */
  schema: AvroSchema;
  /** `cdc.type` and the other attributes the field records. */
  attributes: AvroAttributes;
  fromText(text: string): unknown;
  toText(value: unknown): string;
}

/** Named once per schema; later uses refer to it by name (see `row-schema.ts`). */
export const INTERVAL_SCHEMA: AvroRecordSchema = {
  type: 'record',
  name: 'Interval',
  namespace: 'io.cdc.postgresql',
  doc: 'A PostgreSQL interval. Months, days and microseconds stay apart: a month is 28 to 31 days and a day 23 to 25 hours.',
  fields: [
    { name: 'months', type: 'int' },
    { name: 'days', type: 'int' },
    { name: 'micros', type: 'long' },
  ],
};

type Scalar = Omit<TypeMapping, 'attributes'>;

const identity: Scalar = { schema: 'string', fromText: (t) => t, toText: (v) => v as string };

function intMapping(type: string, min: number, max: number): Scalar {
  return {
    schema: 'int',
    fromText: (t) => {
      const n = /^[+-]?\d+$/.test(t) ? Number(t) : Number.NaN;
      if (!(n >= min && n <= max)) throw badText(type, t);
      return n;
    },
    toText: (v) => String(v),
  };
}

const FLOAT_RE = /^(?:[+-]?(?:\d+(?:\.\d*)?|\.\d+)(?:[eE][+-]?\d+)?|NaN|[+-]?Infinity)$/;

function floatToText(v: number, single: boolean): string {
  if (Number.isNaN(v)) return 'NaN';
  if (v === Number.POSITIVE_INFINITY) return 'Infinity';
  if (v === Number.NEGATIVE_INFINITY) return '-Infinity';
  if (Object.is(v, -0)) return '-0';
  if (!single) return String(v);
  for (let p = 1; p < 9; p++) {
    const s = v.toPrecision(p);
    if (Math.fround(Number(s)) === v) return s;
  }
  return v.toPrecision(9);
}

function floatMapping(type: string, single: boolean): Scalar {
  return {
    schema: single ? 'float' : 'double',
    fromText: (t) => {
      if (!FLOAT_RE.test(t)) throw badText(type, t);
      return single ? Math.fround(Number(t)) : Number(t);
    },
    toText: (v) => floatToText(v as number, single),
  };
}

const annotated = (type: 'int' | 'long' | 'string', logicalType: string): AvroSchema => ({
  type,
  logicalType,
});

const UUID_RE = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;

function builtin(name: string, typmod: number): Scalar | undefined {
  switch (name) {
    case 'bool':
      return {
        schema: 'boolean',
        fromText: (t) => {
          if (t === 't' || t === 'true') return true;
          if (t === 'f' || t === 'false') return false;
          throw badText('bool', t);
        },
        toText: (v) => (v ? 't' : 'f'),
      };
    case 'int2':
      return intMapping('int2', -32768, 32767);
    case 'int4':
      return intMapping('int4', -(2 ** 31), 2 ** 31 - 1);
    case 'int8':
    case 'oid':
      return {
        schema: 'long',
        fromText: (t) => {
          const n = /^[+-]?\d+$/.test(t) ? BigInt(t) : undefined;
          if (n === undefined || n < INT64_MIN || n > INT64_MAX) throw badText(name, t);
          return n;
        },
        toText: (v) => String(v),
      };
    case 'float4':
      return floatMapping('float4', true);
    case 'float8':
      return floatMapping('float8', false);
    case 'numeric': {
      const shape = decimalShape(typmod);
      if (!shape) return { schema: 'string', fromText: numericTextFromText, toText: (v) => v as string };
      return {
        schema: { type: 'bytes', logicalType: 'decimal', precision: shape.precision, scale: shape.scale },
        fromText: (t) => bigintToTwosComplement(decimalFromText(t, shape)),
        toText: (v) => decimalToText(twosComplementToBigint(v as Buffer), shape.scale),
      };
    }
    case 'uuid':
      return {
        schema: annotated('string', 'uuid'),
        fromText: (t) => {
          const u = t.toLowerCase();
          if (!UUID_RE.test(u)) throw badText('uuid', t);
          return u;
        },
        toText: (v) => v as string,
      };
    case 'date':
      return {
        schema: annotated('int', 'date'),
        fromText: dateFromText,
        toText: (v) => dateToText(v as number),
      };
    case 'time':
      return {
        schema: annotated('long', 'time-micros'),
        fromText: timeFromText,
        toText: (v) => timeToText(v as bigint),
      };
    case 'timetz':
      return { schema: 'string', fromText: timetzFromText, toText: (v) => v as string };
    case 'timestamp':
      return {
        schema: annotated('long', 'local-timestamp-micros'),
        fromText: timestampFromText,
        toText: (v) => timestampToText(v as bigint),
      };
    case 'timestamptz':
      return {
        schema: annotated('long', 'timestamp-micros'),
        fromText: timestamptzFromText,
        toText: (v) => timestamptzToText(v as bigint),
      };
    case 'interval':
      return {
        schema: INTERVAL_SCHEMA,
        fromText: intervalFromText,
        toText: (v) => intervalToText(v as PgInterval),
      };
    case 'bytea':
      return {
        schema: 'bytes',
        fromText: (t) => {
          if (!/^\\x(?:[0-9a-fA-F]{2})*$/.test(t)) {
            throw badText(
              'bytea',
              t.slice(0, 20),
              "expected the hex form: set bytea_output = 'hex' (the default)",
            );
          }
          return Buffer.from(t.slice(2), 'hex');
        },
        toText: (v) => `\\x${Buffer.from(v as Uint8Array).toString('hex')}`,
      };
    default:
      return undefined;
  }
}

/** `varchar(n)` / `char(n)`: the declared length, for the sink. */
function lengthAttribute(type: PgType, typmod: number): AvroAttributes {
  return (type.name === 'varchar' || type.name === 'bpchar') && type.schema === 'pg_catalog' && typmod >= 4
    ? { 'cdc.length': typmod - 4 }
    : {};
}

function elementAttributes(element: AvroAttributes): AvroAttributes {
  const out: AvroAttributes = {};
  for (const [key, value] of Object.entries(element)) {
    const rest = key.slice('cdc.'.length);
    out[`cdc.element${rest.charAt(0).toUpperCase()}${rest.slice(1)}`] = value;
  }
  return out;
}

function checkDepth(value: ArrayText, depth: number): void {
  for (const item of value) {
    if (depth === 1 ? Array.isArray(item) : !Array.isArray(item)) {
      throw badText(
        'array',
        formatArrayText(value).slice(0, 60),
        'its dimensions differ from the column declaration',
      );
    }
    if (depth > 1) checkDepth(item as ArrayText, depth - 1);
  }
}

function arrayMapping(type: PgType, element: PgType, typmod: number, dimensions: number): TypeMapping {
  const inner = mapPgType(element, typmod);
  const delimiter = type.delimiter ?? ',';
  let schema: AvroSchema = { type: 'array', items: ['null', inner.schema] };
  for (let d = 1; d < dimensions; d++) schema = { type: 'array', items: schema };
  const toAvro = (v: ArrayText): unknown[] =>
    v.map((item) => (item === null ? null : Array.isArray(item) ? toAvro(item) : inner.fromText(item)));
  const fromAvro = (v: unknown[]): ArrayText =>
    v.map((item) => (item === null ? null : Array.isArray(item) ? fromAvro(item) : inner.toText(item)));
  return {
    schema,
    attributes: {
      'cdc.type': qualifiedTypeName(type),
      ...(dimensions > 1 ? { 'cdc.dimensions': dimensions } : {}),
      ...elementAttributes(inner.attributes),
    },
    fromText: (t) => {
      const parsed = parseArrayText(t, delimiter);
      checkDepth(parsed, dimensions);
      return toAvro(parsed);
    },
    toText: (v) => formatArrayText(fromAvro(v as unknown[]), delimiter),
  };
}

/**
 * The mapping for a column of `type` with modifier `typmod` (for arrays, the element's) and,
 * for arrays, `dimensions` declared dimensions.
 */
export function mapPgType(type: PgType, typmod: number, dimensions = 1): TypeMapping {
  const name = qualifiedTypeName(type);
  if (type.kind === 'domain' && type.base) {
    const base = mapPgType(type.base, type.baseTypmod ?? -1, dimensions);
    return { ...base, attributes: { ...base.attributes, 'cdc.domain': name } };
  }
  if (type.kind === 'array' && type.element)
    return arrayMapping(type, type.element, typmod, Math.max(1, dimensions));
  if (type.kind === 'enum')
    return { ...identity, attributes: { 'cdc.type': name, 'cdc.labels': [...(type.labels ?? [])] } };
  const scalar = (type.schema === 'pg_catalog' && builtin(type.name, typmod)) || identity;
  return { ...scalar, attributes: { 'cdc.type': name, ...lengthAttribute(type, typmod) } };
}
