/**
 * Reader schemas that keep only some fields of a writer's schema, so that a consumer decodes
 * what it reads and skips the rest (Avro schema resolution: a field of the writer that the reader
 * lacks is skipped over, not decoded). The processor reads, of a CDC envelope, its `op`,
 * `source.tsMs` and a few columns of `after`: decoding `before`, the rest of `source` and every
 * other column was most of its Avro decoding time.
 *
 *   const reader = projectSchema(writerJson, { op: true, source: { tsMs: true }, after: { total: true } });
 *   const type = parseSchema(reader);
 *   const resolver = type.createResolver(parseSchema(writerJson));
 *   type.decode(payload, 0, resolver).value; // { op, source: { tsMs }, after: { total } }
 */
import type { AvroField, AvroSchema } from './schema-types.ts';

/**
 * Which fields to keep: `true` keeps a field whole; an object keeps, of a record (or of the
 * record branches of a union), the fields it names, each with its own projection.
 */
export type Projection = true | { readonly [field: string]: Projection };

const PRIMITIVES = new Set(['null', 'boolean', 'int', 'long', 'float', 'double', 'bytes', 'string']);

interface Named {
  readonly type: string;
  readonly name: string;
  readonly namespace?: string;
}

function fullName(name: string, namespace: string | undefined): string {
  return name.includes('.') || !namespace ? name : `${namespace}.${name}`;
}

function namespaceOf(full: string): string | undefined {
  const i = full.lastIndexOf('.');
  return i < 0 ? undefined : full.slice(0, i);
}

/**
 * The reader schema of `writer` projected on `keep`. Every named type keeps its full name (schema
 * resolution matches records by name), and is defined where it is first used in the result: a
 * type that the writer defines in a dropped field (the envelope's `Value`, defined in `before`)
 * moves to the first kept field that refers to it. A named type met twice keeps the projection of
 * its first use. A field `keep` names that the writer lacks is left out (an older writer schema).
 */
export function projectSchema(writer: AvroSchema, keep: Projection): AvroSchema {
  // Every named type of the writer, by full name (a reference may precede nothing in the result).
  const defined = new Map<string, AvroSchema>();
  const collect = (s: AvroSchema, ns: string | undefined): void => {
    if (typeof s === 'string') return;
    if (Array.isArray(s)) {
      for (const b of s) collect(b, ns);
      return;
    }
    const o = s as unknown as Named & { fields?: AvroField[]; items?: AvroSchema; values?: AvroSchema };
    if (o.type === 'record' || o.type === 'error' || o.type === 'enum' || o.type === 'fixed') {
      const full = fullName(o.name, o.namespace ?? ns);
      defined.set(full, s);
      for (const f of o.fields ?? []) collect(f.type, namespaceOf(full));
      return;
    }
    if (o.type === 'array' && o.items !== undefined) collect(o.items, ns);
    else if (o.type === 'map' && o.values !== undefined) collect(o.values, ns);
  };
  collect(writer, undefined);

  const emitted = new Set<string>();
  const project = (s: AvroSchema, p: Projection, ns: string | undefined): AvroSchema => {
    if (typeof s === 'string') {
      if (PRIMITIVES.has(s)) return s;
      const full = defined.has(s) ? s : fullName(s, ns);
      if (emitted.has(full)) return full;
      const def = defined.get(full);
      return def === undefined ? s : project(def, p, namespaceOf(full));
    }
    if (Array.isArray(s)) return s.map((b) => project(b, p, ns));
    const o = s as unknown as Named & { fields?: AvroField[]; items?: AvroSchema; values?: AvroSchema };
    switch (o.type) {
      case 'record':
      case 'error': {
        const full = fullName(o.name, o.namespace ?? ns);
        if (emitted.has(full)) return full;
        emitted.add(full);
        const inner = namespaceOf(full);
        const fields: AvroField[] = [];
        for (const f of o.fields ?? []) {
          const fp = p === true ? true : p[f.name];
          if (fp === undefined) continue;
          fields.push({ ...f, type: project(f.type, fp, inner) });
        }
        const { namespace: _ns, ...rest } = s as unknown as Record<string, unknown>;
        return { ...rest, name: full, fields } as AvroSchema;
      }
      case 'enum':
      case 'fixed': {
        const full = fullName(o.name, o.namespace ?? ns);
        if (emitted.has(full)) return full;
        emitted.add(full);
        const { namespace: _ns, ...rest } = s as unknown as Record<string, unknown>;
        return { ...rest, name: full } as AvroSchema;
      }
      case 'array':
        return { ...(s as object), items: project(o.items as AvroSchema, true, ns) } as AvroSchema;
      case 'map':
        return { ...(s as object), values: project(o.values as AvroSchema, true, ns) } as AvroSchema;
      default:
        return s;
    }
  };
  return project(writer, keep, undefined);
}
