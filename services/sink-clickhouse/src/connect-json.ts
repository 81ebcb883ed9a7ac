/**
 * Kafka Connect's JSON with schemas (`JsonConverter`, `schemas.enable=true`): each key and value
 * is `{"schema": {...}, "payload": {...}}`, as Debezium writes them without a registry. The
 * Connect schema becomes the Avro schema the sink derives its tables from, and the payload the
 * values avsc would have decoded (decimals and bytes from base64 into Buffers), so that both
 * formats take one path. Caveat: JSON numbers hold integers exactly up to 2^53 only.
 */
import type { AvroField, AvroRecordSchema, AvroSchema } from '@cdc/avro';
import { CdcError } from '@cdc/core';

interface ConnectSchema {
  type: string;
  optional?: boolean;
  name?: string;
  field?: string;
  fields?: ConnectSchema[];
  items?: ConnectSchema;
  keys?: ConnectSchema;
  values?: ConnectSchema;
  parameters?: Record<string, string>;
  default?: unknown;
}

const DECIMAL = 'org.apache.kafka.connect.data.Decimal';

const PRIMITIVES: Record<string, string> = {
  int8: 'int',
  int16: 'int',
  int32: 'int',
  int64: 'long',
  float32: 'float',
  float64: 'double',
  boolean: 'boolean',
  string: 'string',
  bytes: 'bytes',
};

/** Whether a record value is JSON with a schema (starts with `{`), not Avro in the wire format. */
export function isConnectJson(buf: Buffer): boolean {
  return buf.length > 1 && buf[0] === 0x7b;
}

function fail(message: string): never {
  throw new CdcError('SERDE_FAILED', `Kafka Connect JSON: ${message}`, {});
}

/** A Connect schema as an Avro schema; record names from the Connect names (made unique). */
export function avroFromConnect(schema: ConnectSchema, fallbackName: string): AvroSchema {
  const defined = new Map<string, string>();
  const nameOf = (s: ConnectSchema, fallback: string) =>
    (s.name ?? fallback).replace(/[^A-Za-z0-9_.]/g, '_').replace(/(^|\.)(\d)/g, '$1_$2');
  const convert = (s: ConnectSchema, path: string): AvroSchema => {
    let t: AvroSchema;
    if (s.type === 'struct') {
      const full = nameOf(s, path);
      const text = JSON.stringify(s);
      if (defined.get(full) === text) t = full;
      else {
        const name = defined.has(full) ? `${full}_${defined.size}` : full;
        defined.set(name, text);
        const fields: AvroField[] = (s.fields ?? []).map((f) => {
          if (!f.field) fail(`a field of ${full} has no name`);
          const type = convert(f, `${full}.${f.field}`);
          return f.optional ? { name: f.field, type, default: null } : { name: f.field, type };
        });
        const dot = name.lastIndexOf('.');
        t = {
          type: 'record',
          name: dot < 0 ? name : name.slice(dot + 1),
          ...(dot < 0 ? {} : { namespace: name.slice(0, dot) }),
          fields,
        } as AvroRecordSchema;
      }
    } else if (s.type === 'array') {
      t = {
        type: 'array',
        items: convert(s.items ?? fail(`array ${path} has no items`), `${path}.item`),
      } as AvroSchema;
    } else if (s.type === 'map') {
      t = {
        type: 'map',
        values: convert(s.values ?? fail(`map ${path} has no values`), `${path}.value`),
      } as AvroSchema;
    } else if (s.name === DECIMAL && s.type === 'bytes') {
      const scale = Number(s.parameters?.scale ?? 0);
      const precision = Number(s.parameters?.['connect.decimal.precision'] ?? 38);
      t = { type: 'bytes', logicalType: 'decimal', precision, scale } as AvroSchema;
    } else {
      const p = PRIMITIVES[s.type];
      if (!p) fail(`type ${s.type} of ${path} is not supported`);
      t = (s.name ? { type: p, 'connect.name': s.name } : p) as AvroSchema;
    }
    if (!s.optional) return t;
    // A nullable struct or other named type: the null branch first, as Debezium's Avro does.
    return ['null', t] as AvroSchema;
  };
  const out = convert(schema, fallbackName);
  return Array.isArray(out) ? (out[1] as AvroSchema) : out;
}

/** A payload as avsc would give it for the converted schema (decimals and bytes as Buffers). */
export function connectValue(schema: ConnectSchema, value: unknown): unknown {
  if (value === null || value === undefined) return null;
  switch (schema.type) {
    case 'struct': {
      const out: Record<string, unknown> = Object.create(null);
      const v = value as Record<string, unknown>;
      for (const f of schema.fields ?? []) out[f.field!] = connectValue(f, v[f.field!]);
      return out;
    }
    case 'array':
      return (value as unknown[]).map((x) => connectValue(schema.items!, x));
    case 'map':
      return Object.fromEntries(
        Object.entries(value as object).map(([k, x]) => [k, connectValue(schema.values!, x)]),
      );
    case 'bytes':
      return typeof value === 'string' ? Buffer.from(value, 'base64') : value;
    default:
      return value;
  }
}

/** `{schema, payload}` → the record's Avro schema, a stable id for it, and its value. */
export function parseConnectJson(
  buf: Buffer,
  fallbackName: string,
): { schemaText: string; schema: AvroRecordSchema; value: Record<string, unknown> } {
  let doc: { schema?: ConnectSchema; payload?: unknown };
  try {
    doc = JSON.parse(buf.toString('utf8')) as typeof doc;
  } catch (err) {
    fail(`not JSON: ${(err as Error).message}`);
  }
  if (!doc || typeof doc !== 'object' || !doc.schema || doc.schema.type !== 'struct')
    fail(
      'the record has no struct schema: configure the JsonConverter with schemas.enable=true (the sink derives the table from it)',
    );
  const schema = avroFromConnect(doc.schema, fallbackName) as AvroRecordSchema;
  return {
    schemaText: JSON.stringify(doc.schema),
    schema,
    value: connectValue(doc.schema, doc.payload) as Record<string, unknown>,
  };
}
