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
        const fields: [string, Convert][] = [];
        const c: Convert = (v) => {
          const r = v as Record<string, unknown>;
          const out: PlainRow = {};
          for (const [name, conv] of fields) out[name] = conv(r[name]);
          return out;
        };
        named.set(full, c);
        for (const f of o.fields ?? []) fields.push([f.name, build(f.type, ns)]);
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
    const names = branches.map((b) => branchName(b, namespace));
    const nonNull = branches.map((b, i) => (b === 'null' ? -1 : i)).filter((i) => i >= 0);
    return (v) => {
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
  };
  return build(schema, undefined);
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
      return (v) => v as PlainValue;
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
