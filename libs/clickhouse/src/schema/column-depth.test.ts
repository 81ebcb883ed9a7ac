import type { AvroSchema } from '@cdc/avro';
import { describe, expect, it } from 'vitest';
import { MAX_COLUMN_NESTING, mapSchema, namedTypes } from './column-type.ts';

/** A record nested `levels` deep, as a capture before the depth limit registered it. */
function deep(levels: number): AvroSchema {
  let type: AvroSchema = 'string';
  for (let i = levels; i >= 1; i--)
    type = { type: 'record', name: `R${i}`, namespace: 'x', fields: [{ name: `l${i}`, type }] } as AvroSchema;
  return type;
}

describe('nested columns', () => {
  it(`stop at ${MAX_COLUMN_NESTING} levels: a schema 80 levels deep maps to a bounded type`, () => {
    const schema = deep(80);
    const m = mapSchema(schema, namedTypes(schema, false));
    expect(m.type.split('Tuple(').length - 1).toBe(MAX_COLUMN_NESTING);
    expect(m.type).toContain('Nullable(String)');
  });

  it('keeps the deeper part as JSON text', () => {
    const schema = deep(30);
    let value: unknown = 'leaf';
    for (let i = 30; i >= 1; i--) value = { [`l${i}`]: value };
    let out = mapSchema(schema, namedTypes(schema, false)).convert(value) as Record<string, unknown>;
    for (let i = 1; i < MAX_COLUMN_NESTING; i++) out = out[`l${i}`] as Record<string, unknown>;
    let rest: unknown = 'leaf';
    for (let i = 30; i > MAX_COLUMN_NESTING; i--) rest = { [`l${i}`]: rest };
    expect(out[`l${MAX_COLUMN_NESTING}`]).toBe(JSON.stringify(rest));
  });
});
