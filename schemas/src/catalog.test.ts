import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { MONGO_SOURCE_SCHEMA, POSTGRES_SOURCE_SCHEMA, parseSchema } from '@cdc/avro';
import { describe, expect, it } from 'vitest';
import { loadCatalog, SCHEMAS_DIR } from './catalog.ts';

const avsc = (file: string) => JSON.parse(readFileSync(join(SCHEMAS_DIR, file), 'utf8'));

describe('the checked-in schemas', () => {
  it('source-postgresql.avsc and source-mongodb.avsc are the envelope source records of @cdc/avro', () => {
    expect(avsc('source-postgresql.avsc')).toEqual(POSTGRES_SOURCE_SCHEMA);
    expect(avsc('source-mongodb.avsc')).toEqual(MONGO_SOURCE_SCHEMA);
  });

  it('subjects.json maps every .avsc file, each to one subject', () => {
    const files = readdirSync(SCHEMAS_DIR).filter((f) => f.endsWith('.avsc'));
    const catalog = loadCatalog();
    expect(catalog.map((e) => e.file).sort()).toEqual(files.sort());
    expect(new Set(catalog.map((e) => e.subject)).size).toBe(catalog.length);
  });

  it('every aggregate has its window bounds as timestamp-millis, its group key, its aggregates and emittedAtMs', () => {
    const millis = { type: 'long', logicalType: 'timestamp-millis' };
    const keys: Record<string, string[]> = {
      'revenue-by-region-1m.avsc': ['region', 'revenue', 'orderCount'],
      'top-products-15m.avsc': ['products', 'orderCount'],
      'cart-sessions.avsc': ['userId', 'eventCount', 'cartValue'],
    };
    for (const [file, fields] of Object.entries(keys)) {
      const schema = avsc(file);
      const byName = new Map(schema.fields.map((f: { name: string; type: unknown }) => [f.name, f.type]));
      for (const bound of ['windowStartMs', 'windowEndMs', 'emittedAtMs'])
        expect(byName.get(bound), `${file} ${bound}`).toEqual(millis);
      for (const f of fields) expect(byName.has(f), `${file} ${f}`).toBe(true);
    }
  });

  it('an aggregate record round-trips through its schema', () => {
    const type = parseSchema(avsc('top-products-15m.avsc'));
    const value = {
      windowStartMs: 1_700_000_100_000n,
      windowEndMs: 1_700_001_000_000n,
      products: [{ rank: 1, key: 'p-1', value: Buffer.from([0x01, 0x00]), count: 3n }],
      orderCount: 3n,
      emittedAtMs: 1_700_001_005_000n,
    };
    expect(type.fromBuffer(type.toBuffer(value))).toEqual(value);
  });

  it('applies a subject prefix to subjects and topics', () => {
    const entry = loadCatalog(SCHEMAS_DIR, 'it.x.').find((e) => e.file === 'cart-sessions.avsc');
    expect(entry).toMatchObject({
      subject: 'it.x.aggregates.cart_sessions-value',
      topic: 'it.x.aggregates.cart_sessions',
    });
  });
});
