/**
 * An Avro value of an inferred MongoDB schema → the MongoDB document, from the schema alone
 * (its `cdc.*` attributes), as a consumer holding the registered schema would do it. Values are
 * as {@link mongoAvroType} decodes them (wrapped unions, `bigint` longs; a `number` long is
 * accepted too).
 *
 * What comes back differs from what was captured only in these documented ways:
 * - numbers keep their value but take the BSON type of their branch: an Int32 in a field that
 *   widened to long comes back as a `Long`, to double as a `Double` (ints are `Int32`, longs
 *   `Long`, doubles `Double`, so serialising the result writes those BSON types);
 * - fields come in schema order (first-seen order), not the document's own order;
 * - a JS `RegExp` comes back as a `BSONRegExp`, a Symbol as `BSONSymbol`, a `Uint8Array` as a
 *   `Binary` of subtype 0 (what the driver would read back after writing them).
 */
import { Binary, BSON, Decimal128, Double, Int32, Long, ObjectId, Timestamp, UUID } from 'bson';
import type { AvroField, AvroRecordSchema, AvroSchema } from '../schema-types.ts';
import { NULL_FIELDS_FIELD } from './avro-schema.ts';
import { fromExtendedJson, setField } from './extended-json.ts';
import { doubleText } from './key.ts';

type Named = Map<string, AvroSchema>;

const PRIMITIVE = new Set(['null', 'boolean', 'int', 'long', 'float', 'double', 'bytes', 'string']);

interface Annotated {
  type: string;
  name?: string;
  namespace?: string;
  'cdc.type'?: string;
  'cdc.binarySubtype'?: number;
  fields?: AvroField[];
  items?: AvroSchema;
}

function fullName(schema: Annotated, enclosing: string | undefined): string {
  const name = schema.name ?? '';
  if (name.includes('.')) return name;
  const ns = schema.namespace ?? enclosing;
  return ns ? `${ns}.${name}` : name;
}

function lookup(name: string, named: Named, namespace: string | undefined): AvroSchema {
  const schema = named.get(name) ?? (namespace ? named.get(`${namespace}.${name}`) : undefined);
  if (schema === undefined) throw new Error(`schema references ${name} before defining it`);
  return schema;
}

/** The branch name avsc uses for a union member. */
function branchName(schema: AvroSchema, namespace: string | undefined): string {
  if (typeof schema === 'string') {
    return ['null', 'boolean', 'int', 'long', 'float', 'double', 'bytes', 'string'].includes(schema) ||
      schema.includes('.')
      ? schema
      : `${namespace}.${schema}`;
  }
  if (Array.isArray(schema)) throw new Error('a union cannot hold a union');
  const s = schema as Annotated;
  return s.type === 'record' || s.type === 'enum' || s.type === 'fixed' ? fullName(s, namespace) : s.type;
}

function asLong(v: unknown): bigint {
  return typeof v === 'bigint' ? v : BigInt(v as number);
}

class Decoder {
  readonly named: Named = new Map();

  /** Registers the named types of `schema` (depth-first, as Avro defines them) without decoding. */
  define(schema: AvroSchema, namespace: string | undefined): void {
    if (typeof schema === 'string') return;
    if (Array.isArray(schema)) {
      for (const s of schema) this.define(s, namespace);
      return;
    }
    const s = schema as Annotated;
    if (s.type === 'record') {
      const name = fullName(s, namespace);
      if (this.named.has(name)) return;
      this.named.set(name, schema);
      const ns = name.includes('.') ? name.slice(0, name.lastIndexOf('.')) : undefined;
      for (const f of s.fields ?? []) this.define(f.type, ns);
    } else if (s.type === 'array' && s.items !== undefined) this.define(s.items, namespace);
  }

  value(schema: AvroSchema, v: unknown, namespace: string | undefined): unknown {
    if (Array.isArray(schema)) {
      if (v === null) return null;
      const [key, inner] = Object.entries(v as object)[0] ?? [];
      const member = schema.find((m) => branchName(m, namespace) === key);
      if (member === undefined) throw new Error(`union value in unknown branch ${String(key)}`);
      return this.value(member, inner, namespace);
    }
    if (typeof schema === 'string') {
      switch (schema) {
        case 'null':
          return null;
        case 'boolean':
        case 'string':
        case 'float':
          return v;
        case 'int':
          return new Int32(v as number);
        case 'long':
          return Long.fromBigInt(asLong(v));
        case 'double':
          return new Double(v as number);
        case 'bytes':
          return new Binary(v as Uint8Array, 0);
        default:
          return this.value(lookup(schema, this.named, namespace), v, namespace);
      }
    }
    const s = schema as Annotated;
    switch (s['cdc.type']) {
      case 'objectId':
        return ObjectId.createFromHexString(v as string);
      case 'decimal128':
        return Decimal128.fromString(v as string);
      case 'uuid':
        return new UUID(v as string);
      case 'binary':
        return new Binary(v as Uint8Array, s['cdc.binarySubtype'] ?? 0);
      case 'date':
        return new Date(Number(asLong(v)));
      case 'timestamp': {
        const u = BigInt.asUintN(64, asLong(v));
        return new Timestamp({ t: Number(u >> 32n), i: Number(u & 0xffffffffn) });
      }
      case 'extendedJson':
        return fromExtendedJson((v as { json: string }).json);
    }
    if (s.type === 'record') {
      const name = fullName(s, namespace);
      return this.record(
        s,
        v as Record<string, unknown>,
        name.slice(0, Math.max(0, name.lastIndexOf('.'))) || undefined,
      );
    }
    if (s.type === 'array') {
      return (v as unknown[]).map((item) => this.value(s.items as AvroSchema, item, namespace));
    }
    return this.value(s.type as AvroSchema, v, namespace);
  }

  record(
    schema: Annotated,
    v: Record<string, unknown>,
    namespace: string | undefined,
  ): Record<string, unknown> {
    const listed = v[NULL_FIELDS_FIELD] as { array: string[] } | string[] | null | undefined;
    const nulls = new Set(Array.isArray(listed) ? listed : (listed?.array ?? []));
    const doc: Record<string, unknown> = {};
    for (const field of schema.fields ?? []) {
      if (field['cdc.type'] === 'nullFields') continue;
      const name = (field['cdc.originalName'] as string | undefined) ?? field.name;
      const value = v[field.name];
      if (value === null || value === undefined) {
        if (nulls.has(field.name)) setField(doc, name, null);
        continue;
      }
      setField(doc, name, this.value(field.type, value, namespace));
    }
    return doc;
  }
}

/** Rebuilds the MongoDB document that `value` (of the inferred `schema`) was converted from. */
export function avroToDocument(
  schema: AvroRecordSchema,
  value: Record<string, unknown>,
): Record<string, unknown> {
  const decoder = new Decoder();
  decoder.define(schema, undefined);
  const name = fullName(schema as Annotated, undefined);
  return decoder.record(
    schema as Annotated,
    value,
    name.includes('.') ? name.slice(0, name.lastIndexOf('.')) : undefined,
  );
}

/**
 * A value of an inferred MongoDB union (wrapped: `{ "<branch>": v }`) as one text, whatever its
 * branch: what the sink stores in a column whose field held values of several types.
 *
 * | branch | text |
 * |---|---|
 * | boolean, int, long, Timestamp | `true`, `42`, `-7` (a Timestamp as its 64-bit number) |
 * | double | shortest round-trip decimal (`1.5`, `1e21`, `nan`, `inf`) |
 * | string, ObjectId, Decimal128, UUID | the text itself |
 * | Date | `YYYY-MM-DD hh:mm:ss.mmm` (UTC) |
 * | Binary | the bytes |
 * | sub-document, array, Extended JSON | canonical Extended JSON |
 *
 * Scalars read as ClickHouse's `toString` of their own column, so a typed column that widens
 * keeps its old rows' text. `root` is the whole schema (for named types).
 */
export function mongoUnionText(
  root: AvroSchema,
): (union: AvroSchema[], v: unknown) => string | Uint8Array | null {
  const decoder = new Decoder();
  decoder.define(root, undefined);
  return (union, v) => {
    if (v === null || v === undefined) return null;
    const [key, inner] = Object.entries(v as object)[0] ?? [];
    if (key === undefined) return null;
    // A registry may store records without their namespace (it is inherited), and refer to a
    // record defined earlier by its name: match a record branch by name, its namespace from the key.
    const dot = key.lastIndexOf('.');
    const namespace = dot > 0 ? key.slice(0, dot) : undefined;
    const short = dot > 0 ? key.slice(dot + 1) : key;
    let member: AvroSchema | undefined = union.find((m) => {
      if (m === 'null') return false;
      if (typeof m === 'string' && !PRIMITIVE.has(m))
        return m === key || m === short || m.endsWith(`.${short}`);
      if (typeof m === 'object' && !Array.isArray(m) && (m as Annotated).type === 'record')
        return (
          (m as Annotated).name === key ||
          (m as Annotated).name === short ||
          fullName(m as Annotated, namespace) === key
        );
      return branchName(m, namespace) === key;
    });
    if (typeof member === 'string' && !PRIMITIVE.has(member))
      member = decoder.named.get(key) ?? decoder.named.get(member) ?? member;
    if (member === undefined) throw new Error(`union value in unknown branch ${String(key)}`);
    const s: Annotated = typeof member === 'string' ? { type: member } : (member as Annotated);
    const cdcType = s['cdc.type'];
    if (cdcType === 'date') {
      const d = new Date(Number(asLong(inner)));
      return Number.isNaN(d.getTime())
        ? String(asLong(inner))
        : d.toISOString().replace('T', ' ').replace('Z', '');
    }
    if (cdcType === 'extendedJson') return (inner as { json: string }).json;
    switch (s.type) {
      case 'boolean':
      case 'int':
        return String(inner);
      case 'long':
        return asLong(inner).toString();
      case 'double':
      case 'float':
        return doubleText(inner as number);
      case 'string':
        return inner as string;
      case 'bytes':
        return inner as Uint8Array;
      default:
        return BSON.EJSON.stringify(decoder.value(member, inner, namespace) as BSON.Document, {
          relaxed: false,
        });
    }
  };
}
