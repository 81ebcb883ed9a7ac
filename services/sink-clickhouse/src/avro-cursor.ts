/**
 * Reading Avro binary in place for the transcoder (`transcoder.ts`): a cursor over a payload, the
 * primitive reads exactly as avsc (and `@cdc/avro`'s `long`) read them, and a skipper for any
 * schema. Where avsc's read would throw (a truncated buffer, a negative length, a bad union or
 * enum index), these throw `GIVE_UP`: the record then goes the decoder's way and gets avsc's error.
 */
import type { AvroField, AvroSchema } from '@cdc/avro';

/** Thrown to give up on a record (one object: no stack captured per record). */
export const GIVE_UP = new Error('not transcoded');

/** A position in Avro bytes; `end`: past the payload. */
export class Cursor {
  buf: Buffer = Buffer.alloc(0);
  pos = 0;
  end = 0;

  at(buf: Buffer, pos: number): this {
    this.buf = buf;
    this.pos = pos;
    this.end = buf.length;
    return this;
  }
}

/** avsc's `Tap.readLong`: what it reads an `int`, a length, a union or an enum index with. */
export function readInt(c: Cursor): number {
  const buf = c.buf;
  let pos = c.pos;
  let n = 0;
  let k = 0;
  let b = 0;
  let h = 0;
  do {
    b = buf[pos++]!;
    h = b & 0x80;
    n |= (b & 0x7f) << k;
    k += 7;
  } while (h && k < 28);
  if (h) {
    // Past 28 bits in doubles, as avsc.
    let f = n;
    let fk = 268435456;
    do {
      b = buf[pos++]!;
      f += (b & 0x7f) * fk;
      fk *= 128;
    } while (b & 0x80);
    c.pos = pos;
    return (f % 2 ? -(f + 1) : f) / 2;
  }
  c.pos = pos;
  return (n >> 1) ^ -(n & 1);
}

/**
 * `LONG_TYPE` of `@cdc/avro` (a `long`, read as a bigint there): the same value, as a number
 * while it is a safe integer (its decimal text is the bigint's), else the bigint.
 */
export function readLong(c: Cursor): number | bigint {
  const buf = c.buf;
  const start = c.pos;
  let pos = start;
  let n = 0;
  let f = 1;
  let b = 0;
  do {
    b = buf[pos++]!;
    n += (b & 0x7f) * f;
    f *= 128;
  } while (b & 0x80);
  c.pos = pos;
  // The zigzag sign is the first byte's low bit (`n % 2` of a double would call fmod).
  if (n <= Number.MAX_SAFE_INTEGER) return (buf[start]! & 1) === 0 ? n / 2 : -(n + 1) / 2;
  let z = 0n;
  let shift = 0n;
  for (let i = start; i < pos; i++) {
    z |= BigInt(buf[i]! & 0x7f) << shift;
    shift += 7n;
  }
  return (z >> 1n) ^ -(z & 1n);
}

/** A string's or bytes' length, refused where avsc refuses it; the cursor is left at the data. */
export function readLength(c: Cursor): number {
  const len = readInt(c);
  if (len < 0 || c.pos + len > c.end) throw GIVE_UP;
  return len;
}

/** `buf[start, end)` decoded as avsc decodes a string (Node's `utf8Slice`, which `Buffer`'s types leave out). */
export function utf8(buf: Buffer, start: number, end: number): string {
  return (buf as unknown as { utf8Slice(start: number, end: number): string }).utf8Slice(start, end);
}

/** Named types by full name (`collectNamedTypes` of `@cdc/clickhouse/schema`). */
export type Named = Map<string, AvroSchema>;

const PRIMITIVES = new Set(['null', 'boolean', 'int', 'long', 'float', 'double', 'bytes', 'string']);

/** A schema with a reference resolved as `column-type.ts` resolves it; undefined: a name never defined. */
export function resolve(schema: AvroSchema, named: Named): AvroSchema | undefined {
  if (typeof schema !== 'string' || PRIMITIVES.has(schema)) return schema;
  const found = named.get(schema);
  if (found !== undefined) return found;
  for (const [name, s] of named) if (name.endsWith(`.${schema}`)) return s;
  return undefined;
}

export type SchemaObject = { type: string; [k: string]: unknown };

export const objectOf = (s: AvroSchema): SchemaObject =>
  typeof s === 'string' ? { type: s } : (s as unknown as SchemaObject);

export type Skip = (c: Cursor) => void;

/** Reads past a value of `schema`, giving up where avsc's read would throw; `GIVE_UP` for a schema it cannot read. */
export function skipperOf(schema: AvroSchema, named: Named, seen = new Map<AvroSchema, Skip>()): Skip {
  const s = resolve(schema, named);
  if (s === undefined) throw GIVE_UP;
  const known = seen.get(s);
  if (known) return known;
  if (Array.isArray(s)) {
    const branches: Skip[] = [];
    const skip: Skip = (c) => {
      const i = readInt(c);
      if (i < 0 || i >= branches.length) throw GIVE_UP;
      branches[i]!(c);
    };
    seen.set(s, skip);
    for (const b of s as AvroSchema[]) branches.push(skipperOf(b, named, seen));
    return skip;
  }
  const o = objectOf(s);
  switch (o.type) {
    case 'null':
      return () => undefined;
    case 'boolean':
      return (c) => {
        c.pos += 1;
      };
    case 'int':
    case 'long':
      return (c) => {
        readInt(c);
      };
    case 'float':
      return (c) => {
        c.pos += 4;
      };
    case 'double':
      return (c) => {
        c.pos += 8;
      };
    case 'bytes':
    case 'string':
      return (c) => {
        const len = readLength(c); // (not `c.pos += readLength(c)`: that adds to the position before the length)
        c.pos += len;
      };
    case 'fixed': {
      const size = o.size as number;
      return (c) => {
        c.pos += size;
      };
    }
    case 'enum': {
      const count = (o.symbols as string[]).length;
      return (c) => {
        const i = readInt(c);
        if (i < 0 || i >= count) throw GIVE_UP;
      };
    }
    case 'array':
    case 'map': {
      const isMap = o.type === 'map';
      let item: Skip = () => undefined;
      // Blocks of items until a count of 0; a negative count is followed by the block's size.
      const skip: Skip = (c) => {
        for (let n = readInt(c); n !== 0; n = readInt(c)) {
          if (n < 0) {
            n = -n;
            readInt(c);
          }
          while (n-- > 0) {
            if (isMap) {
              const len = readLength(c);
              c.pos += len;
            }
            item(c);
            if (c.pos > c.end) throw GIVE_UP;
          }
        }
      };
      seen.set(s, skip);
      item = skipperOf((isMap ? o.values : o.items) as AvroSchema, named, seen);
      return skip;
    }
    case 'record':
    case 'error': {
      const fields: Skip[] = [];
      const skip: Skip = (c) => {
        for (const f of fields) f(c);
      };
      seen.set(s, skip);
      for (const f of o.fields as AvroField[]) fields.push(skipperOf(f.type as AvroSchema, named, seen));
      return skip;
    }
    default:
      throw GIVE_UP;
  }
}
