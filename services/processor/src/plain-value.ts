import { CdcError } from '@cdc/core';
import { fromAvroBytes, toText } from './decimal.ts';

/**
 * Avro values as the processor works on them: JSON-safe plain values, so that state stores and
 * repartition topics hold them exactly. `long`s become numbers (decimal text past 2^53),
 * `decimal`s their canonical decimal text, `bytes`/`fixed` base64, wrapped unions
 * (`{ "string": "x" }`, MongoDB's) their value. Timestamps become milliseconds since the epoch
 * (`timestamp-micros` keeps its microseconds as a fraction); `date` stays days.
 */
export type PlainValue = null | boolean | number | string | PlainValue[] | { [k: string]: PlainValue };
export type PlainRow = { [field: string]: PlainValue };

type Schema = unknown;
type Convert = (value: unknown) => PlainValue;

const PRIMITIVES = new Set(['null', 'boolean', 'int', 'long', 'float', 'double', 'bytes', 'string']);

function longValue(v: unknown): PlainValue {
  if (typeof v === 'bigint') return Number.isSafeInteger(Number(v)) ? Number(v) : v.toString();
  return v as number;
}

/** A converter for values of `schema` (the writer's schema JSON, with named types resolved as it goes). */
export function plainConverter(schema: Schema): Convert {
  const named = new Map<string, Convert>();
  const build = (s: Schema, namespace: string | undefined): Convert => {
    if (typeof s === 'string') {
      if (PRIMITIVES.has(s)) return primitive(s);
      const full = s.includes('.') || !namespace ? s : `${namespace}.${s}`;
      return (v) => {
        const c = named.get(full) ?? named.get(s);
        if (!c) throw new CdcError('SERDE_FAILED', `schema refers to unknown type ${s}`);
        return c(v);
      };
    }
    if (Array.isArray(s)) return union(s, namespace);
    const o = s as {
      type: Schema;
      name?: string;
      namespace?: string;
      fields?: { name: string; type: Schema }[];
      items?: Schema;
      values?: Schema;
      logicalType?: string;
      scale?: number;
    };
    if (o.logicalType === 'timestamp-micros' || o.logicalType === 'local-timestamp-micros') {
      return (v) => Number(v) / 1_000;
    }
    if (o.logicalType === 'decimal' && (o.type === 'bytes' || o.type === 'fixed')) {
      const scale = o.scale ?? 0;
      return (v) => toText(fromAvroBytes(v as Buffer, scale));
    }
    switch (o.type) {
      case 'record':
      case 'error': {
        const ns = o.name?.includes('.')
          ? o.name.slice(0, o.name.lastIndexOf('.'))
          : (o.namespace ?? namespace);
        const full = o.name?.includes('.') ? o.name : ns ? `${ns}.${o.name}` : (o.name as string);
        // Named before its fields are built: a field may refer to the record itself.
        let c: Convert | undefined;
        named.set(full, (v) => (c as Convert)(v));
        const fields: [string, Convert][] = [];
        for (const f of o.fields ?? []) fields.push([f.name, build(f.type, ns)]);
        c = recordConverter(fields);
        return c;
      }
      case 'enum': {
        const full = o.name?.includes('.')
          ? o.name
          : (o.namespace ?? namespace)
            ? `${o.namespace ?? namespace}.${o.name}`
            : (o.name as string);
        const c: Convert = (v) => v as string;
        named.set(full, c);
        return c;
      }
      case 'fixed': {
        const full = o.name?.includes('.')
          ? o.name
          : (o.namespace ?? namespace)
            ? `${o.namespace ?? namespace}.${o.name}`
            : (o.name as string);
        const c: Convert = (v) => (v as Buffer).toString('base64');
        named.set(full, c);
        return c;
      }
      case 'array': {
        const item = build(o.items, namespace);
        return (v) => (v as unknown[]).map(item);
      }
      case 'map': {
        const val = build(o.values, namespace);
        return (v) =>
          Object.fromEntries(Object.entries(v as Record<string, unknown>).map(([k, x]) => [k, val(x)]));
      }
      default:
        return build(o.type, namespace);
    }
  };
  const union = (branches: Schema[], namespace: string | undefined): Convert => {
    const convs = branches.map((b) => build(b, namespace));
    // `["null", T]` where T's values are plain already (a string, an int, …): the value, or what a
    // wrapped union (`{ "string": "x" }`) holds; `recordConverter` writes it inline.
    const plain = branches.length === 2 && branches.includes('null') && convs.every((c) => PLAIN.has(c));
    const names = branches.map((b) => branchName(b, namespace));
    const nonNull = branches.map((b, i) => (b === 'null' ? -1 : i)).filter((i) => i >= 0);
    const convert: Convert = (v) => {
      if (v === null || v === undefined) return null;
      if (typeof v === 'object' && !Buffer.isBuffer(v) && !Array.isArray(v)) {
        const keys = Object.keys(v as object);
        if (keys.length === 1) {
          // Either side may carry the namespace: `after: ["null", "Value"]` is written as `{ "<ns>.Value": … }`.
          const k = keys[0] as string;
          const i = names.findIndex((n) => n === k || n.endsWith(`.${k}`) || k.endsWith(`.${n}`));
          if (i >= 0) return (convs[i] as Convert)((v as Record<string, unknown>)[keys[0] as string]);
        }
      }
      if (nonNull.length === 1) return (convs[nonNull[0] as number] as Convert)(v);
      // An unwrapped union of several branches: pick by the JS type.
      for (const i of nonNull) {
        const b = branches[i];
        const t = typeof b === 'string' ? b : (b as { type?: unknown }).type;
        if (t === 'long' && typeof v === 'bigint') return (convs[i] as Convert)(v);
        if ((t === 'string' || t === 'enum') && typeof v === 'string') return v;
        if (t === 'boolean' && typeof v === 'boolean') return v;
        if ((t === 'int' || t === 'double' || t === 'float') && typeof v === 'number') return v;
      }
      return (convs[nonNull[0] as number] as Convert)(v);
    };
    if (plain) NULLABLE_PLAIN.add(convert);
    return convert;
  };
  return build(schema, undefined);
}

/** A value that is plain as avsc reads it (a string, an int, a double, a boolean, null). */
const identity: Convert = (v) => v as PlainValue;
/** The converters that give their value back as it is. */
const PLAIN = new Set<Convert>([identity]);
/** Converters of `["null", T]` unions whose T is in `PLAIN`. */
const NULLABLE_PLAIN = new WeakSet<Convert>();

/**
 * A record's converter as straight-line code: one object literal, a field per property in field
 * order (the order the loop it replaces wrote them in), every row of the record with the same
 * shape. A field whose value is plain as read is copied as it is, a nullable one inline
 * (`recordConverter` of the union's own: null for a missing value, a wrapped value through the
 * union's converter); the others through their converter. The generated source holds field
 * names only as JSON string literals.
 */
function recordConverter(fields: readonly [string, Convert][]): Convert {
  const q = JSON.stringify;
  const props = fields.map(([name, conv], i) => {
    const x = `r[${q(name)}]`;
    if (PLAIN.has(conv)) return `${q(name)}: ${x}`;
    if (NULLABLE_PLAIN.has(conv))
      return `${q(name)}: ${x} === null || ${x} === undefined ? null : typeof ${x} === 'object' ? C[${i}](${x}) : ${x}`;
    return `${q(name)}: C[${i}](${x})`;
  });
  const make = new Function(
    'C',
    `return function plain(r) {\n  return {\n    ${props.join(',\n    ')}\n  };\n};`,
  ) as (c: readonly Convert[]) => Convert;
  return make(fields.map(([, conv]) => conv));
}

function branchName(s: Schema, namespace: string | undefined): string {
  if (typeof s === 'string') return s;
  const o = s as { type?: unknown; name?: string; namespace?: string };
  if (o.name)
    return o.name.includes('.') || !(o.namespace ?? namespace)
      ? o.name
      : `${o.namespace ?? namespace}.${o.name}`;
  return typeof o.type === 'string' ? o.type : 'unknown';
}

function primitive(name: string): Convert {
  switch (name) {
    case 'long':
      return longValue;
    case 'bytes':
      return (v) => (v as Buffer).toString('base64');
    case 'null':
      return () => null;
    default:
      return identity;
  }
}

/** The canonical text of a value used as (part of) a key: numbers and numeric text alike (`5`, `5n`, `"5"` differ from each other only in type, not here). */
export function keyPart(v: unknown): PlainValue {
  if (typeof v === 'bigint') return v.toString();
  if (typeof v === 'number') return String(v);
  return (v ?? null) as PlainValue;
}

/**
 * The canonical key of a row by some of its fields: a JSON array of their values. Written part
 * by part (the text `JSON.stringify` gives the array) without building the array of parts: it
 * runs several times per record (the row's key, each join's lookup key, each aggregate's group).
 */
export function canonicalKey(values: readonly unknown[]): string {
  if (values.length === 1) return `[${JSON.stringify(keyPart(values[0]))}]`;
  let out = '[';
  for (let i = 0; i < values.length; i++) out += `${i === 0 ? '' : ','}${JSON.stringify(keyPart(values[i]))}`;
  return `${out}]`;
}

/** The types whose plain value a key's canonical text can be read straight from the bytes. */
const KEY_FIELD_TYPES = new Set(['int', 'long', 'string']);

/**
 * For a key record of `int`, `long` and `string` fields (what a table's primary key mostly is),
 * a function that reads its canonical key text (`canonicalKey` of its field values in schema
 * order) straight from the record's Avro bytes (from `start`), without the decoded record and its plain copy;
 * undefined for any other schema. The function gives undefined, for the general path, where the
 * bytes are cut short or a long is past 2^53.
 */
export function keyTextReader(
  schema: unknown,
): ((buf: Buffer, start: number) => string | undefined) | undefined {
  const o = schema as { type?: unknown; fields?: { type: unknown }[] } | null;
  if (o === null || typeof o !== 'object' || o.type !== 'record' || !Array.isArray(o.fields))
    return undefined;
  const kinds: string[] = [];
  for (const f of o.fields) {
    const t =
      typeof f.type === 'object' && f.type !== null && !Array.isArray(f.type) ? f.type : { type: f.type };
    const { type, logicalType } = t as { type?: unknown; logicalType?: unknown };
    if (typeof type !== 'string' || !KEY_FIELD_TYPES.has(type) || logicalType !== undefined) return undefined;
    kinds.push(type);
  }
  return (buf, start) => {
    let pos = start;
    let out = '[';
    for (let i = 0; i < kinds.length; i++) {
      // A zig-zag varint: a long or int, or a string's length.
      let n = 0;
      let f = 1;
      let b: number;
      do {
        if (pos >= buf.length) return undefined;
        b = buf[pos++] as number;
        n += (b & 0x7f) * f;
        f *= 128;
      } while (b & 0x80);
      if (n > Number.MAX_SAFE_INTEGER) return undefined;
      const v = n % 2 === 0 ? n / 2 : -(n + 1) / 2;
      if (i > 0) out += ',';
      if (kinds[i] === 'string') {
        if (v < 0 || pos + v > buf.length) return undefined;
        out += JSON.stringify(buf.toString('utf8', pos, pos + v));
        pos += v;
      } else out += `"${v}"`;
    }
    return `${out}]`;
  };
}

/** Whether two plain values are equal (objects by their fields, in any order; arrays in order). */
export function samePlain(a: PlainValue | undefined, b: PlainValue | undefined): boolean {
  if (a === b) return true;
  if (a === null || b === null || typeof a !== 'object' || typeof b !== 'object') return false;
  if (Array.isArray(a)) {
    if (!Array.isArray(b) || a.length !== b.length) return false;
    for (let i = 0; i < a.length; i++) if (!samePlain(a[i], b[i])) return false;
    return true;
  }
  if (Array.isArray(b)) return false;
  let n = 0;
  for (const k in a) {
    if (!Object.hasOwn(b, k) || !samePlain(a[k], b[k])) return false;
    n++;
  }
  for (const _ in b) n--;
  return n === 0;
}
