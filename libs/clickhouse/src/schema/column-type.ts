/**
 * An Avro field → its ClickHouse column type and the conversion of its decoded value (as
 * `parseSchema` decodes it: `long` a bigint, `bytes` a Buffer, logical types as their base
 * values) to what `JSONEachRow` reads. One mapping for every type the Avro library produces:
 *
 * | Avro (and `cdc.type`) | ClickHouse | value written |
 * |---|---|---|
 * | boolean | Bool | |
 * | int | Int32 | |
 * | int `date` | Date32 | `YYYY-MM-DD`; outside 1900–2299 the nearest bound, the exact text in `_out_of_range` (see `temporal-range.ts`) |
 * | int `time-millis` | Int32 | ms since midnight |
 * | long | Int64 | exact (quoted) |
 * | long `timestamp-millis` / `local-timestamp-millis` | DateTime64(3, 'UTC') | local timestamps keep their wall clock, read as UTC; out of range as for dates |
 * | long `timestamp-micros` / `local-timestamp-micros` | DateTime64(6, 'UTC') | same |
 * | long `time-micros` | Int64 | µs since midnight |
 * | float / double | Float32 / Float64 | NaN and ±Infinity kept |
 * | bytes, fixed | String | the raw bytes (lossless) |
 * | bytes `decimal(p,s)`, p ≤ 76 | Decimal(p, s) | exact |
 * | string | String | numeric without a typmod, json/jsonb, enums, timetz, money, inet, … keep their text |
 * | string `uuid` | UUID | |
 * | enum | LowCardinality(String) | the symbol |
 * | array<T> | Array(T) | a nullable array column is `Array`: NULL reads as `[]` |
 * | map<T> | Map(String, T) | a nullable map column: NULL reads as `{}` |
 * | record | Tuple(name T, …) | a nullable record: every element is Nullable, NULL is all-NULL elements |
 * | record `cdc.type: extendedJson` (MongoDB) | String | the canonical Extended JSON |
 * | [null, T] | Nullable(T) where ClickHouse allows it (see the three rows above) | |
 * | union of int and long | Int64 | |
 * | union of int/long/float/double | Float64 | longs past 2^53 round |
 * | any other union | String | the value as JSON text (bytes as base64) |
 * | any other union, MongoDB (wrapped) | String | scalars as their text (what `toString` gives for their own column), sub-documents and arrays as canonical Extended JSON (`mongoUnionText`) |
 */
import { type AvroField, type AvroSchema, mongoUnionText, parseSchema } from '@cdc/avro';
import { CdcError, clickHouseColumnName, quoteIdent, quoteString } from '@cdc/core';
import {
  date32Value,
  dateTime64Value,
  type OutOfRangeNote,
  type TimestampLogical,
} from './temporal-range.ts';

export type { OutOfRangeNote } from './temporal-range.ts';

/** Raw bytes for a String column: the row encoder writes them unescaped (see `row-encoder.ts`). */
export class RawBytes {
  readonly bytes: Uint8Array;
  constructor(bytes: Uint8Array) {
    this.bytes = bytes;
  }
}

export interface ColumnMapping {
  /** The ClickHouse type, as written in DDL. */
  readonly type: string;
  /**
   * Decoded Avro value → the JSONEachRow value (bigint, RawBytes and non-finite floats are
   * handled by the encoder). A value the type cannot hold (a date outside 1900–2299) becomes
   * the nearest one it can, and its exact text goes to `note` (see `temporal-range.ts`).
   */
  convert(value: unknown, note?: OutOfRangeNote): unknown;
}

interface Named {
  readonly types: Map<string, AvroSchema>;
  /** Wrapped unions (`{ "long": 5n }`), as the MongoDB converter writes them. */
  readonly wrapped: boolean;
  /** The whole schema (MongoDB: for the text of a value of several types). */
  readonly root?: AvroSchema;
}

type Obj = { type: string; [k: string]: unknown };

const PRIMITIVES = new Set(['null', 'boolean', 'int', 'long', 'float', 'double', 'bytes', 'string']);

function fullName(name: string, namespace: string | undefined): string {
  return name.includes('.') || !namespace ? name : `${namespace}.${name}`;
}

/** Registers named types of a schema (records, enums, fixed) so that references resolve. */
export function collectNamedTypes(schema: AvroSchema, into: Map<string, AvroSchema>, ns?: string): void {
  if (Array.isArray(schema)) {
    for (const s of schema) collectNamedTypes(s, into, ns);
    return;
  }
  if (typeof schema !== 'object' || schema === null) return;
  const s = schema as unknown as Obj;
  if (s.type === 'record' || s.type === 'enum' || s.type === 'fixed') {
    const namespace = (s.namespace as string | undefined) ?? ns;
    const name = fullName(s.name as string, namespace);
    into.set(name, schema);
    const inner = name.includes('.') ? name.slice(0, name.lastIndexOf('.')) : namespace;
    if (s.type === 'record')
      for (const f of s.fields as AvroField[]) collectNamedTypes(f.type as AvroSchema, into, inner);
  } else if (s.type === 'array') collectNamedTypes(s.items as AvroSchema, into, ns);
  else if (s.type === 'map') collectNamedTypes(s.values as AvroSchema, into, ns);
}

function resolve(schema: AvroSchema, named: Named): AvroSchema {
  if (typeof schema === 'string' && !PRIMITIVES.has(schema)) {
    const found = named.types.get(schema);
    if (!found) {
      for (const [name, s] of named.types) if (name.endsWith(`.${schema}`)) return s;
      throw new CdcError(
        'SCHEMA_UNSUPPORTED_TYPE',
        `the schema refers to ${schema}, which it never defines`,
        {
          context: { type: schema },
        },
      );
    }
    return found;
  }
  return schema;
}

const canBeNullable = (type: string) => !/^(Array|Map|Tuple|Nullable|LowCardinality)\(/.test(type);

/** A mapping that also takes NULL: `Nullable(T)`, or the documented stand-in where ClickHouse forbids it. */
export function nullableOf(m: ColumnMapping, tuple?: TupleShape): ColumnMapping {
  if (canBeNullable(m.type))
    return {
      type: `Nullable(${m.type})`,
      convert: (v, note) => (v === null || v === undefined ? null : m.convert(v, note)),
    };
  if (m.type.startsWith('Array('))
    return { type: m.type, convert: (v, note) => (v == null ? [] : m.convert(v, note)) };
  if (m.type.startsWith('Map('))
    return { type: m.type, convert: (v, note) => (v == null ? {} : m.convert(v, note)) };
  if (tuple) {
    const elements = tuple.elements.map((e) => nullableOf(e));
    const { fields, names } = tuple;
    return {
      type: `Tuple(${names.map((n, i) => `${quoteIdent(n)} ${elements[i]!.type}`).join(', ')})`,
      convert: (v, note) => {
        const rec = (v ?? {}) as Record<string, unknown>;
        const out: Record<string, unknown> = Object.create(null);
        names.forEach((n, i) => {
          out[n] = elements[i]!.convert(v == null ? null : rec[fields[i]!], below(note, `.${n}`));
        });
        return out;
      },
    };
  }
  return m;
}

function unscaledToText(buf: Uint8Array, scale: number): string {
  let n = 0n;
  for (const b of buf) n = (n << 8n) | BigInt(b);
  if (buf.length > 0 && (buf[0]! & 0x80) !== 0) n -= 1n << BigInt(buf.length * 8);
  const neg = n < 0n;
  const digits = (neg ? -n : n).toString().padStart(scale + 1, '0');
  const text = scale === 0 ? digits : `${digits.slice(0, -scale)}.${digits.slice(-scale)}`;
  return neg ? `-${text}` : text;
}

/** The note of an element: its path below the enclosing value's. */
function below(note: OutOfRangeNote | undefined, step: string): OutOfRangeNote | undefined {
  return note && ((path, exact) => note(`${step}${path}`, exact));
}

const identity = (v: unknown) => v;

function toJsonText(value: unknown): string {
  return JSON.stringify(value, (_k, v: unknown) => {
    if (typeof v === 'bigint') return v.toString();
    if (
      v &&
      typeof v === 'object' &&
      (v as { type?: unknown }).type === 'Buffer' &&
      Array.isArray((v as { data?: unknown }).data)
    )
      return Buffer.from((v as { data: number[] }).data).toString('base64');
    return v;
  });
}

const NUMERIC = new Set(['int', 'long', 'float', 'double']);

/**
 * Nested columns (Tuple, Array, Map) go this deep at most: a deeper part is one JSON text
 * (`Nullable(String)`), so a schema nested 80 levels (written before the capture kept depth
 * past 16 levels as Extended JSON) cannot make the engine's types, and its memory, explode.
 */
export const MAX_COLUMN_NESTING = 24;
const JSON_TEXT: ColumnMapping = {
  type: 'Nullable(String)',
  convert: (v) => (v === null || v === undefined ? null : toJsonText(v)),
};
const isJsonText = (m: ColumnMapping) => m === JSON_TEXT;

function unionMapping(branches: AvroSchema[], named: Named, depth = 0): ColumnMapping {
  const nonNull = branches.filter((b) => b !== 'null');
  const nullable = nonNull.length < branches.length;
  const unwrap = named.wrapped
    ? (v: unknown) => (v === null || v === undefined ? null : Object.values(v as object)[0])
    : identity;
  if (nonNull.length === 0) return { type: 'Nullable(String)', convert: () => null };
  if (nonNull.length === 1) {
    const inner = mapSchema(nonNull[0]!, named, depth);
    const m =
      nullable && !isJsonText(inner) ? nullableOf(inner, tupleShape(nonNull[0]!, named, depth)) : inner;
    return { type: m.type, convert: (v, note) => m.convert(unwrap(v), note) };
  }
  const plain = nonNull.map((b) =>
    typeof b === 'string' ? b : (b as unknown as Obj).logicalType ? '' : (b as unknown as Obj).type,
  );
  let base: ColumnMapping;
  if (named.wrapped && named.root !== undefined && !plain.every((t) => NUMERIC.has(t))) {
    // MongoDB: a field that held values of several types is their text (see `mongoUnionText`).
    const text = mongoUnionText(named.root);
    const m: ColumnMapping = {
      type: nullable ? 'Nullable(String)' : 'String',
      convert: (v) => {
        const t = text(branches, v);
        return t instanceof Uint8Array ? new RawBytes(t) : t;
      },
    };
    return m;
  }
  if (plain.every((t) => t === 'int' || t === 'long'))
    base = { type: 'Int64', convert: (v) => (typeof v === 'bigint' ? v : BigInt(v as number)) };
  else if (plain.every((t) => t === 'int' || t === 'long' || t === 'float' || t === 'double'))
    base = { type: 'Float64', convert: (v) => Number(v) };
  else base = { type: 'String', convert: (v) => toJsonText(v) };
  const m = nullable ? nullableOf(base) : base;
  return { type: m.type, convert: (v) => m.convert(unwrap(v)) };
}

/** A record's Tuple: the Avro field names (keys of decoded values), the element names (the source's, see `clickHouseColumnName`), their mappings. */
interface TupleShape {
  fields: string[];
  names: string[];
  elements: ColumnMapping[];
}

function tupleShape(schema: AvroSchema, named: Named, depth = 0): TupleShape | undefined {
  const s = resolve(schema, named);
  if (typeof s !== 'object' || Array.isArray(s) || (s as unknown as Obj).type !== 'record') return undefined;
  if ((s as unknown as Obj)['cdc.type'] === 'extendedJson') return undefined;
  const fields = (s as unknown as { fields: AvroField[] }).fields;
  return {
    fields: fields.map((f) => f.name),
    names: fields.map(columnNameOf),
    elements: fields.map((f) => mapSchema(f.type as AvroSchema, named, depth + 1)),
  };
}

/** The column for an Avro schema (not a field: see `mapField`). */
export function mapSchema(schema: AvroSchema, named: Named, depth = 0): ColumnMapping {
  const s = resolve(schema, named);
  if (Array.isArray(s)) return unionMapping(s as AvroSchema[], named, depth);
  const o: Obj = typeof s === 'string' ? { type: s } : (s as unknown as Obj);
  if ((o.type === 'record' || o.type === 'array' || o.type === 'map') && depth >= MAX_COLUMN_NESTING)
    return JSON_TEXT;
  const logical = o.logicalType as string | undefined;
  switch (o.type) {
    case 'null':
      return { type: 'Nullable(String)', convert: () => null };
    case 'boolean':
      return { type: 'Bool', convert: identity };
    case 'int':
      if (logical === 'date') return { type: 'Date32', convert: date32Value };
      return { type: 'Int32', convert: identity };
    case 'long':
      if (logical === 'timestamp-millis' || logical === 'local-timestamp-millis')
        return { type: "DateTime64(3, 'UTC')", convert: (v, note) => dateTime64Value(v, logical, note) };
      if (logical === 'timestamp-micros' || logical === 'local-timestamp-micros')
        return {
          type: "DateTime64(6, 'UTC')",
          convert: (v, note) => dateTime64Value(v, logical as TimestampLogical, note),
        };
      return { type: 'Int64', convert: identity };
    case 'float':
      return { type: 'Float32', convert: identity };
    case 'double':
      return { type: 'Float64', convert: identity };
    case 'bytes':
    case 'fixed':
      if (logical === 'decimal') {
        const precision = o.precision as number;
        const scale = (o.scale as number | undefined) ?? 0;
        const convert = (v: unknown) => unscaledToText(v as Uint8Array, scale);
        return precision <= 76
          ? { type: `Decimal(${precision}, ${scale})`, convert }
          : { type: 'String', convert };
      }
      return { type: 'String', convert: (v) => new RawBytes(v as Uint8Array) };
    case 'string':
      if (logical === 'uuid') return { type: 'UUID', convert: identity };
      return { type: 'String', convert: identity };
    case 'enum':
      return { type: 'LowCardinality(String)', convert: identity };
    case 'array': {
      const items = mapSchema(o.items as AvroSchema, named, depth + 1);
      return {
        type: `Array(${items.type})`,
        convert: (v, note) => (v as unknown[]).map((x, i) => items.convert(x, below(note, `[${i + 1}]`))),
      };
    }
    case 'map': {
      const values = mapSchema(o.values as AvroSchema, named, depth + 1);
      return {
        type: `Map(String, ${values.type})`,
        convert: (v, note) =>
          Object.fromEntries(
            Object.entries(v as Record<string, unknown>).map(([k, x]) => [
              k,
              values.convert(x, below(note, `.${k}`)),
            ]),
          ),
      };
    }
    case 'record': {
      if (o['cdc.type'] === 'extendedJson')
        return { type: 'String', convert: (v) => (v as { json: string }).json };
      const shape = tupleShape(s, named, depth)!;
      if (shape.names.length === 0) return { type: 'String', convert: () => '' };
      return {
        type: `Tuple(${shape.names.map((n, i) => `${quoteIdent(n)} ${shape.elements[i]!.type}`).join(', ')})`,
        convert: (v, note) => {
          const rec = v as Record<string, unknown>;
          const out: Record<string, unknown> = Object.create(null);
          shape.names.forEach((n, i) => {
            out[n] = shape.elements[i]!.convert(rec[shape.fields[i]!], below(note, `.${n}`));
          });
          return out;
        },
      };
    }
    default:
      throw new CdcError(
        'SCHEMA_UNSUPPORTED_TYPE',
        `Avro type ${JSON.stringify(o.type)} has no ClickHouse mapping`,
        {
          context: { type: String(o.type) },
        },
      );
  }
}

export interface FieldColumn {
  /** The Avro field name (the key in decoded values). */
  readonly field: string;
  /** The column name: the source's own name (`cdc.column`, `cdc.originalName` where the Avro name had to differ), through `clickHouseColumnName`. */
  readonly column: string;
  readonly mapping: ColumnMapping;
  /**
   * The column's ClickHouse `DEFAULT` expression: the source column's constant default (the
   * Avro field's `default`, or `cdc.default` on a nullable field), so that rows written before
   * the column was added read it, as they do at the source. Undefined: no default.
   */
  readonly default?: string;
  /**
   * The column's previous name when the source renamed it (`cdc.renamedFrom`, recognised by the
   * capture from the column's identity): the table's column of that name is renamed to `column`.
   */
  readonly renamedFrom?: string;
}

/** The ClickHouse name of a field: its source name (`cdc.column` from PostgreSQL, `cdc.originalName` from MongoDB, else the Avro name) made a column name. */
function columnNameOf(field: AvroField): string {
  const f = field as AvroField & { 'cdc.column'?: unknown; 'cdc.originalName'?: unknown };
  const source =
    typeof f['cdc.column'] === 'string'
      ? f['cdc.column']
      : typeof f['cdc.originalName'] === 'string'
        ? f['cdc.originalName']
        : field.name;
  return clickHouseColumnName(source);
}

export function mapField(field: AvroField, named: Named): FieldColumn {
  const mapping = mapSchema(field.type as AvroSchema, named);
  const def = defaultExpression(field, mapping);
  const from = (field as AvroField & { 'cdc.renamedFrom'?: unknown })['cdc.renamedFrom'];
  return {
    field: field.name,
    column: columnNameOf(field),
    mapping,
    ...(def === undefined ? {} : { default: def }),
    ...(typeof from === 'string' ? { renamedFrom: clickHouseColumnName(from) } : {}),
  };
}

/**
 * `CAST('<value>' AS <type>)` for a field's constant default (see `FieldColumn.default`): the
 * Avro JSON default decoded as the field's type, converted as a value of the column is. Only a
 * scalar (number, text, boolean) becomes a default; a default whose type refers to a named type
 * defined elsewhere in the schema, or a structured one, is left out (the column has none).
 */
function defaultExpression(field: AvroField, mapping: ColumnMapping): string | undefined {
  const f = field as AvroField & { 'cdc.default'?: unknown };
  let schema = field.type as AvroSchema;
  let json: unknown = field.default;
  if (Array.isArray(schema)) {
    const branches = schema.filter((b) => b !== 'null');
    if (branches.length !== 1 || !schema.includes('null')) return undefined;
    schema = branches[0] as AvroSchema;
    json = f['cdc.default'];
  }
  if (json === undefined || json === null) return undefined;
  try {
    const value = mapping.convert(parseSchema(schema).fromString(JSON.stringify(json)));
    if (!['string', 'number', 'bigint', 'boolean'].includes(typeof value)) return undefined;
    return `CAST(${quoteString(String(value))} AS ${mapping.type})`;
  } catch {
    return undefined;
  }
}

export function namedTypes(schema: AvroSchema, wrapped: boolean): Named {
  const types = new Map<string, AvroSchema>();
  collectNamedTypes(schema, types);
  return { types, wrapped, root: schema };
}
